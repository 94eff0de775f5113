--[[
The plan step's commit: record the job's total, move it to syncing and
enqueue every sync job, all at once (a crash leaves either nothing or all).
Repos are counted by lower-cased name (GitHub names are case-insensitive): a
listing that names one repo twice enqueues and counts it once, so the total
is what the fan-in (mark-repos-done) can reach.
KEYS[1] job key  KEYS[2] sync queue jobs  KEYS[3] sync queue waiting
KEYS[4] lock  KEYS[5] in-flight index
ARGV[1] json {job_id, now, events, all_events, notify, syncs: [{id, repos: [name, …], data}]}
(a sync job of one repo, or a batch of several: the total counts repos; a job
whose repos were all named before is not enqueued)
Returns the published job json, or false when the job is no longer planning.
]]
--- @include "includes/job"

local a = cjson.decode(ARGV[1])
local json = redis.call("HGET", KEYS[1], "json")
if not json then return false end
local job = cjson.decode(json)
if job.state ~= "planning" then return false end
local seen, total = {}, 0
for _, s in ipairs(a.syncs) do
  local new = false
  for _, repo in ipairs(s.repos) do
    local name = string.lower(repo)
    if not seen[name] then
      seen[name] = true
      total = total + 1
      new = true
    end
  end
  if new then enqueueOnce(KEYS[2], KEYS[3], s.id, s.data) end
end
redis.call("HSET", KEYS[1], "total", total)
return moveJob(KEYS[1], KEYS[4], KEYS[5], job, "syncing", nil, a)

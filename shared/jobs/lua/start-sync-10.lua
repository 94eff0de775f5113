--[[
The plan step's commit: record the job's total, count the repos plan synced
itself (their records are stored; includes/fan-in), move the job to syncing
and enqueue a sync job for every other repo, all at once (a crash leaves
either nothing or all). When plan synced every repo, the job goes on to
merging in the same step and exactly one merge is enqueued (both state changes
are published). Repos are counted by lower-cased name (GitHub names are
case-insensitive): a listing that names one repo twice enqueues and counts it
once, so the total is what the fan-in (mark-repos-done) can reach.
KEYS[1] job key  KEYS[2] sync queue jobs  KEYS[3] sync queue waiting
KEYS[4] lock  KEYS[5] in-flight index  KEYS[6] job's done set
KEYS[7] merge queue jobs  KEYS[8] merge queue waiting
KEYS[9] user's fingerprints hash  KEYS[10] user's ETag / file-id hash
ARGV[1] json {job_id, now, events, all_events, notify, job_ttl_s, merge_id, merge_data,
  syncs: [{id, repos: [name, …], data}],
  done: [[repo, "completed" | "failed", fingerprint?, [field, value, …]?, [field, …]?], …]}
(a sync job of one repo, or a batch of several: the total counts repos; a job
whose repos were all named before is not enqueued; `done` names repos that are
in no sync job)
Returns the published job json, or false when the job is no longer planning.
]]
--- @include "includes/job"
--- @include "includes/fan-in"

local a = cjson.decode(ARGV[1])
local json = redis.call("HGET", KEYS[1], "json")
if not json then return false end
local job = cjson.decode(json)
if job.state ~= "planning" then return false end
local seen, total = {}, 0
-- Counts a repo into the total the first time its name is seen; true then.
local function counted(repo)
  local name = string.lower(repo)
  if seen[name] then return false end
  seen[name] = true
  total = total + 1
  return true
end
for _, d in ipairs(a.done) do counted(d[1]) end
for _, s in ipairs(a.syncs) do
  local new = false
  for _, repo in ipairs(s.repos) do
    if counted(repo) then new = true end
  end
  if new then enqueueOnce(KEYS[2], KEYS[3], s.id, s.data) end
end
redis.call("HSET", KEYS[1], "total", total)
local addC, addF = 0, 0
if #a.done > 0 then
  addC, addF = countReposDone(KEYS[1], KEYS[6], KEYS[9], KEYS[10], a.done, true)
  redis.call("EXPIRE", KEYS[6], a.job_ttl_s)
end
local out = moveJob(KEYS[1], KEYS[4], KEYS[5], job, "syncing", nil, a)
if total > 0 and addC + addF >= total then
  enqueueOnce(KEYS[7], KEYS[8], a.merge_id, a.merge_data)
  out = moveJob(KEYS[1], KEYS[4], KEYS[5], job, "merging", nil, a)
end
return out

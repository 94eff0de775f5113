--[[
Count repos of a job as done (completed or failed), each exactly once by
lower-cased name (includes/fan-in), and when the job's total is reached, move
it to merging and enqueue exactly one merge. Duplicate deliveries and retries
of a sync job land here as no-ops. The workers batch the repos finished in one
event-loop turn into one call. Each call that counts a repo is a sign of life
for the watchdog.
KEYS[1] job key  KEYS[2] job's done set  KEYS[3] merge queue jobs
KEYS[4] merge queue waiting  KEYS[5] lock  KEYS[6] in-flight index
KEYS[7] user's fingerprints hash  KEYS[8] user's ETag / file-id hash
ARGV[1] json {job_id, now, merge_id, merge_data, events, all_events, notify, job_ttl_s,
  done: [[repo, "completed" | "failed", fingerprint?, [field, value, …]?, [field, …]?], …]}
Returns {last (0|1), published job json or "", counted flag per entry (0|1)…}
]]
--- @include "includes/job"
--- @include "includes/fan-in"

local a = cjson.decode(ARGV[1])
local json = redis.call("HGET", KEYS[1], "json")
local addC, addF, flags = countReposDone(KEYS[1], KEYS[2], KEYS[7], KEYS[8], a.done, json ~= false)
if addC + addF == 0 then return {0, "", unpack(flags)} end
local p = progressOf(KEYS[1])
local n = p.completed + p.failed
local before = n - addC - addF
local job = cjson.decode(json)
local last = 0
if job.state == "syncing" and p.total > 0 and n >= p.total then
  last = 1
  enqueueOnce(KEYS[3], KEYS[4], a.merge_id, a.merge_data)
  local out = moveJob(KEYS[1], KEYS[5], KEYS[6], job, "merging", nil, a)
  redis.call("EXPIRE", KEYS[2], a.job_ttl_s)
  return {last, out, unpack(flags)}
end
touchJob(KEYS[1], KEYS[6], a.job_id, job.state)
if before == 0 then redis.call("EXPIRE", KEYS[2], a.job_ttl_s) end
-- Progress is published when the whole percent changes (a bar cannot show
-- finer steps): a 48-repo job publishes on every call, a 10,000-repo job about
-- 100 times. The all-jobs channel carries state changes only.
if p.total > 0 and before > 0 and math.floor((n / p.total) * 100) == math.floor((before / p.total) * 100) then
  return {0, "", unpack(flags)}
end
return {0, publishJob(KEYS[1], job, a, false), unpack(flags)}

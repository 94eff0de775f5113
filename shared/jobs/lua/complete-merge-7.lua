--[[
The merge's last step, in one atomic operation: the job moves from merging to
completed (publish, deliveries, lock released: includes/job), the merge is
counted, and the training it owes is queued. A merge killed after this step
has nothing left undone; one killed before it is redelivered and runs it.
KEYS[1] job key  KEYS[2] user's lock  KEYS[3] in-flight index
KEYS[4] this job's merge counter
KEYS[5] the user's pending-training marker  KEYS[6] train queue's jobs hash  KEYS[7] its waiting list
ARGV[1] json {job_id, patch, now, events, all_events, notify, counter_ttl_s,
              train?: {id, data, pending}}
Returns the published job json, or false when the job is missing or no longer
merging (another delivery completed it, or the watchdog failed it).
]]
--- @include "includes/job"

local a = cjson.decode(ARGV[1])
local json = redis.call("HGET", KEYS[1], "json")
if not json then return false end
local job = cjson.decode(json)
if job.state ~= "merging" then return false end
local out = moveJob(KEYS[1], KEYS[2], KEYS[3], job, "completed", a.patch, a)
redis.call("INCR", KEYS[4])
redis.call("EXPIRE", KEYS[4], a.counter_ttl_s)
if type(a.train) == "table" then
  -- Single flight per user: the newest content wins; a queued training for older content skips.
  redis.call("SET", KEYS[5], a.train.pending)
  enqueueOnce(KEYS[6], KEYS[7], a.train.id, a.train.data)
end
return out

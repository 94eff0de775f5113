--[[
Move a job to a new state, merging a patch into it; publish the result and
queue it for the job's status-webhook receivers (includes/deliveries).
KEYS[1] job key  KEYS[2] user's lock  KEYS[3] in-flight index
ARGV[1] json {job_id, state, patch, now, from, events, all_events, notify}
`from` lists the allowed previous states; empty: any non-terminal state.
Releases the lock when the refresh is over (completed, fresh, failed).
Returns the published job json, or false when the job is missing or the
move is not allowed (a duplicate or late delivery).
]]
--- @include "includes/job"

local a = cjson.decode(ARGV[1])
local json = redis.call("HGET", KEYS[1], "json")
if not json then return false end
local job = cjson.decode(json)
local allowed = false
if #a.from == 0 then
  allowed = not TERMINAL[job.state]
else
  for _, s in ipairs(a.from) do
    if s == job.state then allowed = true end
  end
end
if not allowed then return false end
return moveJob(KEYS[1], KEYS[2], KEYS[3], job, a.state, a.patch, a)

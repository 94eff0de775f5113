--[[
A worker's heartbeat on a job it holds: a sign of life for the watchdog while
the job is in a watched state (a long listing, a wait behind GitHub's limits).
KEYS[1] job key  KEYS[2] user's lock  KEYS[3] in-flight index
ARGV[1] job id.  Returns 1 when the job is watched and was touched.
]]
--- @include "includes/job"

local json = redis.call("HGET", KEYS[1], "json")
if not json then return 0 end
local job = cjson.decode(json)
if not watched(job.state) then return 0 end
touchJob(KEYS[1], KEYS[3], ARGV[1], job.state)
return 1

--[[
The watchdog: fail every watched job with no sign of life for `stuck_ms`
(refresh states → failed, training → training_failed; error_code "stuck"),
with the reason, the lock released and the change published and queued for
its receivers like any other.
KEYS[1] in-flight index
ARGV[1] json {stuck_ms, job_key_prefix, lock_key_prefix, now, events, all_events, notify, limit}
Returns the published json of every job it failed.
]]
--- @include "includes/job"

local a = cjson.decode(ARGV[1])
local t = nowMs()
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", t - a.stuck_ms, "LIMIT", 0, a.limit)
local out = {}
for _, id in ipairs(ids) do
  local key = a.job_key_prefix .. id
  local json = redis.call("HGET", key, "json")
  if not json then
    redis.call("ZREM", KEYS[1], id)
  else
    local job = cjson.decode(json)
    if not watched(job.state) then
      redis.call("ZREM", KEYS[1], id)
    else
      local idle = t - tonumber(redis.call("HGET", key, "touched") or "0")
      local lockKey = a.lock_key_prefix .. string.lower(job.username)
      out[#out + 1] = failStuckJob(key, lockKey, KEYS[1], job, idle, a)
    end
  end
end
return out

--[[
Take the user's refresh lock, create the job and enqueue its plan job, or —
when a refresh for the user is already in flight — return that job instead.
KEYS[1] lock key            KEYS[2] new job key
KEYS[3] plan queue jobs     KEYS[4] plan queue waiting
KEYS[5] the client's rate-limit window counter
ARGV[1] new job id   ARGV[2] job json (state queued)   ARGV[3] bee-queue job data
ARGV[4] lock ttl ms  ARGV[5] job ttl s   ARGV[6] job key prefix ("fs:job:")
ARGV[7] events channel prefix ("fs:events:")  ARGV[8] all-events channel
ARGV[9] rate limit per window (0 = none)  ARGV[10] window ms
ARGV[11] the new job as published (ARGV[2] with empty progress)
Returns {1, new job id} when it created the job, {0, job id, job json, total,
completed, failed} when a job of the user is in flight, or
{-1, retry-after ms} when the client is over its rate (checked first, in the
same round trip, so every gateway instance agrees).
]]
local limit = tonumber(ARGV[9])
if limit > 0 then
  local n = redis.call("INCR", KEYS[5])
  if n == 1 then redis.call("PEXPIRE", KEYS[5], tonumber(ARGV[10])) end
  if n > limit then
    local ttl = redis.call("PTTL", KEYS[5])
    if ttl < 0 then ttl = tonumber(ARGV[10]) end
    return {-1, ttl}
  end
end
local existing = redis.call("GET", KEYS[1])
if existing then
  local key = ARGV[6] .. existing
  local json = redis.call("HGET", key, "json")
  if json then
    local job = cjson.decode(json)
    local s = job.state
    if s ~= "completed" and s ~= "fresh" and s ~= "failed" and s ~= "trained"
      and s ~= "training_skipped" and s ~= "training_failed" and s ~= "training" then
      local c = redis.call("HMGET", key, "total", "completed", "failed")
      return {0, existing, json, c[1] or "0", c[2] or "0", c[3] or "0"}
    end
  end
end
redis.call("SET", KEYS[1], ARGV[1], "PX", tonumber(ARGV[4]))
redis.call("HSET", KEYS[2], "json", ARGV[2], "total", 0, "completed", 0, "failed", 0)
redis.call("EXPIRE", KEYS[2], tonumber(ARGV[5]))
if redis.call("HEXISTS", KEYS[3], ARGV[1]) == 0 then
  redis.call("HSET", KEYS[3], ARGV[1], ARGV[3])
  redis.call("LPUSH", KEYS[4], ARGV[1])
end
redis.call("PUBLISH", ARGV[7] .. ARGV[1], ARGV[11])
redis.call("PUBLISH", ARGV[8], ARGV[11])
return {1, ARGV[1]}

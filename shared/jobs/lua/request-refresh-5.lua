--[[
Take the user's refresh lock, create the job and enqueue its plan job, or —
when a refresh for the user is already in flight — return that job instead.
Called in two steps by JobStore.requestRefresh: first as a *peek*, with
ARGV[1..3] only (the new job is not sent), which counts the request against
the client's rate and returns the job in flight, if any — the common case of
a client or a webhook burst asking again while a refresh runs, answered in one
small round trip; then, only when there is none, with the new job and the
rate already counted (ARGV[1] = 0): the lock is checked again atomically, so a
job another instance created in between is joined, not duplicated.
KEYS[1] lock key            KEYS[2] new job key
KEYS[3] plan queue jobs     KEYS[4] plan queue waiting
KEYS[5] the client's rate-limit window counter
ARGV[1] rate limit per window (0 = none)  ARGV[2] window ms
ARGV[3] job key prefix ("fs:job:")
ARGV[4] new job id (absent: peek)   ARGV[5] job json (state queued)
ARGV[6] bee-queue job data   ARGV[7] lock ttl ms  ARGV[8] job ttl s
ARGV[9] events channel prefix ("fs:events:")  ARGV[10] all-events channel
ARGV[11] the new job as published (ARGV[5] with empty progress)
Returns {1, new job id} when it created the job, {0, job id, job json, total,
completed, failed} when a job of the user is in flight, {2} from a peek that
found none, or {-1, retry-after ms} when the client is over its rate
(checked first, in the same round trip, so every gateway instance agrees).
]]
local limit = tonumber(ARGV[1])
if limit > 0 then
  local n = redis.call("INCR", KEYS[5])
  if n == 1 then redis.call("PEXPIRE", KEYS[5], tonumber(ARGV[2])) end
  if n > limit then
    local ttl = redis.call("PTTL", KEYS[5])
    if ttl < 0 then ttl = tonumber(ARGV[2]) end
    return {-1, ttl}
  end
end
local existing = redis.call("GET", KEYS[1])
if existing then
  local key = ARGV[3] .. existing
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
if ARGV[4] == nil then return {2} end
local id = ARGV[4]
redis.call("SET", KEYS[1], id, "PX", tonumber(ARGV[7]))
redis.call("HSET", KEYS[2], "json", ARGV[5], "total", 0, "completed", 0, "failed", 0)
redis.call("EXPIRE", KEYS[2], tonumber(ARGV[8]))
if redis.call("HEXISTS", KEYS[3], id) == 0 then
  redis.call("HSET", KEYS[3], id, ARGV[6])
  redis.call("LPUSH", KEYS[4], id)
end
redis.call("PUBLISH", ARGV[9] .. id, ARGV[11])
redis.call("PUBLISH", ARGV[10], ARGV[11])
return {1, id}

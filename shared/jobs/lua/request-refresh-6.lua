--[[
Take the user's refresh lock, create the job and enqueue its plan job, or —
when a refresh of the user is in flight — return that job instead. "In
flight" is the holder's state (queued, planning, syncing, merging), not the
age of a key: the lock lives as long as the job record and is released when
the refresh ends. A holder with no sign of life for `stuck_ms` is failed here
with a reason (the watchdog's rule, applied at once) and a new job starts.
Called in two steps by JobStore.requestRefresh: first as a peek (no `new`),
which counts the request against the client's rate and returns the job in
flight, if any; then, only when there is none, with the new job and the rate
already counted (limit 0): the lock is checked again atomically, so a job
another instance created in between is joined, not duplicated.
KEYS[1] lock  KEYS[2] new job key  KEYS[3] plan queue jobs  KEYS[4] plan queue waiting
KEYS[5] the client's rate-limit window counter  KEYS[6] in-flight index
ARGV[1] json {limit, window_ms, job_key_prefix, stuck_ms, now, events, all_events, notify,
  new?: {job, plan_data, job_ttl_s}}
Returns {-1, retry-after ms} over the rate; {0, job id, job json} joined;
{1, new job id, failed json} created; {2, failed json} a peek that found none.
`failed json` is the holder just failed as stuck, or "".
]]
--- @include "includes/job"

local a = cjson.decode(ARGV[1])
if a.limit > 0 then
  local n = redis.call("INCR", KEYS[5])
  if n == 1 then redis.call("PEXPIRE", KEYS[5], a.window_ms) end
  if n > a.limit then
    local ttl = redis.call("PTTL", KEYS[5])
    if ttl < 0 then ttl = a.window_ms end
    return {-1, ttl}
  end
end
local failedJson = ""
local holder = redis.call("GET", KEYS[1])
if holder then
  local key = a.job_key_prefix .. holder
  local json = redis.call("HGET", key, "json")
  if json then
    local job = cjson.decode(json)
    if refreshInFlight(job.state) then
      local touched = tonumber(redis.call("HGET", key, "touched") or "0")
      local idle = nowMs() - touched
      if idle <= a.stuck_ms then
        return {0, holder, jobJson(key, job)}
      end
      failedJson = failStuckJob(key, KEYS[1], KEYS[6], job, idle, a)
    end
  end
end
if a.new == nil then return {2, failedJson} end
local job = a.new.job
local id = job.job_id
redis.call("SET", KEYS[1], id, "EX", a.new.job_ttl_s)
redis.call("HSET", KEYS[2], "json", cjson.encode(job), "total", 0, "completed", 0, "failed", 0)
redis.call("EXPIRE", KEYS[2], a.new.job_ttl_s)
touchJob(KEYS[2], KEYS[6], id, job.state)
enqueueOnce(KEYS[3], KEYS[4], id, a.new.plan_data)
publishJob(KEYS[2], job, a, true)
return {1, id, failedJson}

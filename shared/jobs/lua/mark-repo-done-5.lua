--[[
Count one repo of a job as done (completed or failed) exactly once, and when
it is the last one, move the job to merging and enqueue exactly one merge.
Duplicate deliveries and retries of a sync job land here as no-ops.
KEYS[1] job key  KEYS[2] job's done set  KEYS[3] merge queue jobs
KEYS[4] merge queue waiting  KEYS[5] lock
ARGV[1] job id  ARGV[2] repo  ARGV[3] "completed" | "failed"  ARGV[4] now
ARGV[5] merge bee-queue job id  ARGV[6] merge job data
ARGV[7] events prefix  ARGV[8] all-events  ARGV[9] lock ttl ms  ARGV[10] job ttl s
Returns {counted (0|1), last (0|1), job json or ""}
]]
local json = redis.call("HGET", KEYS[1], "json")
if not json then return {0, 0, ""} end
if redis.call("SADD", KEYS[2], ARGV[2]) == 0 then return {0, 0, ""} end
local c = redis.call("HMGET", KEYS[1], "total", "completed", "failed")
if ARGV[3] == "failed" then c[3] = redis.call("HINCRBY", KEYS[1], "failed", 1)
else c[2] = redis.call("HINCRBY", KEYS[1], "completed", 1) end
local total, done, failed = tonumber(c[1] or "0"), tonumber(c[2] or "0"), tonumber(c[3] or "0")
local pct = 0
if total > 0 then pct = math.floor(((done + failed) / total) * 1000 + 0.5) / 10 end
local progress = string.format('"progress":{"total":%d,"completed":%d,"failed":%d,"pending":%d,"percentage":%s}',
  total, done, failed, math.max(0, total - done - failed), tostring(pct))
local last = 0
-- The stored json is compact (JSON.stringify / cjson), so the state test needs no decode:
-- a progress tick stays a string splice, the hot path of every sync job.
if string.find(json, '"state":"syncing"', 1, true) and total > 0 and done + failed >= total then
  last = 1
  local job = cjson.decode(json)
  job.state = "merging"
  job.updated_at = ARGV[4]
  json = cjson.encode(job)
  redis.call("HSET", KEYS[1], "json", json)
  if redis.call("HEXISTS", KEYS[3], ARGV[5]) == 0 then
    redis.call("HSET", KEYS[3], ARGV[5], ARGV[6])
    redis.call("LPUSH", KEYS[4], ARGV[5])
  end
end
local n = done + failed
-- Housekeeping on the first tick and every 50th, not on each: the hot path stays short.
if n == 1 or n % 50 == 0 or last == 1 then
  redis.call("EXPIRE", KEYS[2], tonumber(ARGV[10]))
  if redis.call("GET", KEYS[5]) == ARGV[1] then redis.call("PEXPIRE", KEYS[5], tonumber(ARGV[9])) end
end
-- Progress is published when the whole percentage changes (a bar cannot show
-- finer steps), and always for the last repo: a 48-repo job publishes every
-- tick, a 10,000-repo job about 100 times.
local prev = 0
if total > 0 then prev = math.floor(((n - 1) / total) * 100) end
if last == 0 and total > 0 and math.floor((n / total) * 100) == prev and n > 1 then
  return {1, 0, ""}
end
-- The stored json never holds progress (it is derived from the counters): append it.
local out = string.sub(json, 1, -2) .. "," .. progress .. "}"
redis.call("PUBLISH", ARGV[7] .. ARGV[1], out)
-- The all-jobs channel carries state changes only (metrics); progress ticks stay on the job's channel.
if last == 1 then redis.call("PUBLISH", ARGV[8], out) end
return {1, last, out}

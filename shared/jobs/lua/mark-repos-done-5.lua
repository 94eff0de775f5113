--[[
Count repos of a job as done (completed or failed), each exactly once, and
when the job's total is reached, move it to merging and enqueue exactly one
merge. Duplicate deliveries and retries of a sync job land here as no-ops.
The workers batch the repos finished in one event-loop turn into one call.
KEYS[1] job key  KEYS[2] job's done set  KEYS[3] merge queue jobs
KEYS[4] merge queue waiting  KEYS[5] lock
ARGV[1] job id  ARGV[2] now  ARGV[3] merge bee-queue job id  ARGV[4] merge job data
ARGV[5] events prefix  ARGV[6] all-events  ARGV[7] lock ttl ms  ARGV[8] job ttl s
ARGV[9..] pairs: repo, "completed" | "failed"
Returns {last (0|1), job json or "", counted flag per pair (0|1)…}
]]
local json = redis.call("HGET", KEYS[1], "json")
local flags = {}
local addC, addF = 0, 0
if json then
  for i = 9, #ARGV, 2 do
    if redis.call("SADD", KEYS[2], ARGV[i]) == 1 then
      flags[#flags + 1] = 1
      if ARGV[i + 1] == "failed" then addF = addF + 1 else addC = addC + 1 end
    else
      flags[#flags + 1] = 0
    end
  end
end
if addC + addF == 0 then
  for i = #flags + 1, (#ARGV - 8) / 2 do flags[i] = 0 end
  return {0, "", unpack(flags)}
end
local c = redis.call("HMGET", KEYS[1], "total", "completed", "failed")
if addC > 0 then c[2] = redis.call("HINCRBY", KEYS[1], "completed", addC) end
if addF > 0 then c[3] = redis.call("HINCRBY", KEYS[1], "failed", addF) end
local total, done, failed = tonumber(c[1] or "0"), tonumber(c[2] or "0"), tonumber(c[3] or "0")
local n = done + failed
local before = n - addC - addF
local last = 0
-- The stored json is compact (JSON.stringify / cjson), so the state test needs no decode:
-- a progress tick stays a string splice, the hot path of every sync job.
if string.find(json, '"state":"syncing"', 1, true) and total > 0 and n >= total then
  last = 1
  local job = cjson.decode(json)
  job.state = "merging"
  job.updated_at = ARGV[2]
  json = cjson.encode(job)
  redis.call("HSET", KEYS[1], "json", json)
  if redis.call("HEXISTS", KEYS[3], ARGV[3]) == 0 then
    redis.call("HSET", KEYS[3], ARGV[3], ARGV[4])
    redis.call("LPUSH", KEYS[4], ARGV[3])
  end
end
-- Housekeeping on the first call, every 50 repos and at the end, not on each.
if before == 0 or math.floor(n / 50) ~= math.floor(before / 50) or last == 1 then
  redis.call("EXPIRE", KEYS[2], tonumber(ARGV[8]))
  if redis.call("GET", KEYS[5]) == ARGV[1] then redis.call("PEXPIRE", KEYS[5], tonumber(ARGV[7])) end
end
-- Progress is published when the whole percentage changes (a bar cannot show
-- finer steps) and always at the end: a 48-repo job publishes on every call,
-- a 10,000-repo job about 100 times.
if last == 0 and total > 0 and before > 0 and math.floor((n / total) * 100) == math.floor((before / total) * 100) then
  return {0, "", unpack(flags)}
end
local pct = 0
if total > 0 then pct = math.floor((n / total) * 1000 + 0.5) / 10 end
local progress = string.format('"progress":{"total":%d,"completed":%d,"failed":%d,"pending":%d,"percentage":%s}',
  total, done, failed, math.max(0, total - n), tostring(pct))
-- The stored json never holds progress (it is derived from the counters): append it.
local out = string.sub(json, 1, -2) .. "," .. progress .. "}"
redis.call("PUBLISH", ARGV[5] .. ARGV[1], out)
-- The all-jobs channel carries state changes only (metrics); progress ticks stay on the job's channel.
if last == 1 then redis.call("PUBLISH", ARGV[6], out) end
return {last, out, unpack(flags)}

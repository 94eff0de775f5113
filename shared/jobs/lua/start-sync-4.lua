--[[
The plan step's commit: record the job's total, move it to syncing and
enqueue every sync job, all at once (a crash leaves either nothing or all).
KEYS[1] job key  KEYS[2] sync queue jobs  KEYS[3] sync queue waiting  KEYS[4] lock
ARGV[1] job id  ARGV[2] total  ARGV[3] now  ARGV[4] events prefix  ARGV[5] all-events
ARGV[6] lock ttl ms  ARGV[7..] pairs: bee-queue job id, job data
Returns the job json, or false when the job is no longer planning.
]]
local json = redis.call("HGET", KEYS[1], "json")
if not json then return false end
local job = cjson.decode(json)
if job.state ~= "planning" then return false end
job.state = "syncing"
job.updated_at = ARGV[3]
redis.call("HSET", KEYS[1], "json", cjson.encode(job), "total", tonumber(ARGV[2]))
for i = 7, #ARGV, 2 do
  if redis.call("HEXISTS", KEYS[2], ARGV[i]) == 0 then
    redis.call("HSET", KEYS[2], ARGV[i], ARGV[i + 1])
    redis.call("LPUSH", KEYS[3], ARGV[i])
  end
end
if redis.call("GET", KEYS[4]) == ARGV[1] then redis.call("PEXPIRE", KEYS[4], tonumber(ARGV[6])) end
local c = redis.call("HMGET", KEYS[1], "total", "completed", "failed")
local total, done, failed = tonumber(c[1]), tonumber(c[2] or "0"), tonumber(c[3] or "0")
local pct = 0
if total > 0 then pct = math.floor(((done + failed) / total) * 1000 + 0.5) / 10 end
job.progress = {total = total, completed = done, failed = failed, pending = math.max(0, total - done - failed), percentage = pct}
local out = cjson.encode(job)
redis.call("PUBLISH", ARGV[4] .. ARGV[1], out)
redis.call("PUBLISH", ARGV[5], out)
return out

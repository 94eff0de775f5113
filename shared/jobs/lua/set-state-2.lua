--[[
Move a job to a new state and merge a patch into it; publish the result.
KEYS[1] job key   KEYS[2] user's lock key
ARGV[1] job id  ARGV[2] new state  ARGV[3] patch json (object)  ARGV[4] now (ISO)
ARGV[5] events channel prefix  ARGV[6] all-events channel
ARGV[7] allowed previous states, comma-separated ("" = any non-terminal)
ARGV[8] lock ttl ms
Releases the lock when the refresh is over (completed, fresh, failed).
Returns the job json with progress, or false when the job is missing or the
transition is not allowed (a duplicate or late delivery).
]]
local json = redis.call("HGET", KEYS[1], "json")
if not json then return false end
local job = cjson.decode(json)
local from = job.state
local terminal = {fresh = true, failed = true, trained = true, training_skipped = true, training_failed = true}
if ARGV[7] == "" then
  if terminal[from] then return false end
else
  local ok = false
  for s in string.gmatch(ARGV[7], "[^,]+") do
    if s == from then ok = true end
  end
  if not ok then return false end
end
local patch = cjson.decode(ARGV[3])
for k, v in pairs(patch) do job[k] = v end
job.state = ARGV[2]
job.updated_at = ARGV[4]
local stored = cjson.encode(job)
redis.call("HSET", KEYS[1], "json", stored)
local to = ARGV[2]
if to == "completed" or to == "fresh" or to == "failed" then
  if redis.call("GET", KEYS[2]) == ARGV[1] then redis.call("DEL", KEYS[2]) end
elseif not terminal[to] and to ~= "training" then
  if redis.call("GET", KEYS[2]) == ARGV[1] then redis.call("PEXPIRE", KEYS[2], tonumber(ARGV[8])) end
end
local c = redis.call("HMGET", KEYS[1], "total", "completed", "failed")
local total, done, failed = tonumber(c[1] or "0"), tonumber(c[2] or "0"), tonumber(c[3] or "0")
local pct = 0
if total > 0 then pct = math.floor(((done + failed) / total) * 1000 + 0.5) / 10 end
job.progress = {total = total, completed = done, failed = failed, pending = math.max(0, total - done - failed), percentage = pct}
local out = cjson.encode(job)
redis.call("PUBLISH", ARGV[5] .. ARGV[1], out)
redis.call("PUBLISH", ARGV[6], out)
return out

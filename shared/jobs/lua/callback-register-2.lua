--[[
Register (or replace) one client's status-webhook receiver on a job.
KEYS[1] the job's receivers hash (receiver id -> callback URL)
KEYS[2] the job key
ARGV[1] receiver id   ARGV[2] callback URL   ARGV[3] most receivers per job
ARGV[4] the receiver's meta key   ARGV[5] its notify message (bee-queue job data)
ARGV[6] ttl s (the job's)
Returns 1 when registered, 0 when the job already has the most receivers
(a client re-registering its own receiver always succeeds), -1 when the job
does not exist.
]]
if redis.call("EXISTS", KEYS[2]) == 0 then return -1 end
if redis.call("HEXISTS", KEYS[1], ARGV[1]) == 0 and redis.call("HLEN", KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("HSET", ARGV[4], "data", ARGV[5])
redis.call("EXPIRE", KEYS[1], tonumber(ARGV[6]))
redis.call("EXPIRE", ARGV[4], tonumber(ARGV[6]))
return 1

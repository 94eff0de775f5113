--[[
Register (or replace) one client's status-webhook receiver on a job.
KEYS[1] the job's receivers hash (receiver id -> callback URL)   KEYS[2] the job key
ARGV[1] json {receiver, url, max_receivers, meta, notify_data, ttl_s}:
  meta = the receiver's meta key, notify_data = its notify message (bee-queue job data)
Returns 1 when registered, 0 when the job already has max_receivers (a client
re-registering its own receiver always succeeds), -1 when the job does not exist.
]]
local a = cjson.decode(ARGV[1])
if redis.call("EXISTS", KEYS[2]) == 0 then return -1 end
if redis.call("HEXISTS", KEYS[1], a.receiver) == 0 and redis.call("HLEN", KEYS[1]) >= a.max_receivers then
  return 0
end
redis.call("HSET", KEYS[1], a.receiver, a.url)
redis.call("HSET", a.meta, "data", a.notify_data)
redis.call("EXPIRE", KEYS[1], a.ttl_s)
redis.call("EXPIRE", a.meta, a.ttl_s)
return 1

--[[
Register (or replace) one client's status-webhook receiver on a job and queue
its first deliveries in the same step: `as_of` (the job as its creator created
it, so the creator's receiver hears `queued` even when a worker has moved the
job on already; "" = none), then the job's current state.
KEYS[1] the job's receivers hash (receiver id -> callback URL; the job key .. ":cb")   KEYS[2] the job key
ARGV[1] json {receiver, url, max_receivers, notify_data, as_of, notify}:
  notify_data = its notify message (bee-queue job data); notify as in includes/deliveries
Returns 1 when registered, 0 when the job already has max_receivers (a client
re-registering its own receiver always succeeds), -1 when the job does not exist.
]]
--- @include "includes/job"

local a = cjson.decode(ARGV[1])
local json = redis.call("HGET", KEYS[2], "json")
if not json then return -1 end
if redis.call("HEXISTS", KEYS[1], a.receiver) == 0 and redis.call("HLEN", KEYS[1]) >= a.max_receivers then
  return 0
end
local meta = KEYS[1] .. ":" .. a.receiver
redis.call("HSET", KEYS[1], a.receiver, a.url)
redis.call("HSET", meta, "data", a.notify_data)
redis.call("EXPIRE", KEYS[1], a.notify.ttl_s)
redis.call("EXPIRE", meta, a.notify.ttl_s)
local jobId = cjson.decode(json).job_id
if a.as_of ~= "" then
  queueDeliveries(KEYS[2], jobId, a.as_of, {total = 0, completed = 0, failed = 0}, a.notify, a.receiver)
end
queueDeliveries(KEYS[2], jobId, json, progressOf(KEYS[2]), a.notify, a.receiver)
return 1

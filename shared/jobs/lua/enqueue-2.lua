--[[
Enqueue one bee-queue job with a chosen id unless it already exists
(bee-queue 2.0's addJob.lua semantics, callable from processes without
bee-queue, e.g. the Deno gateway).
KEYS[1] queue jobs hash  KEYS[2] queue waiting list
ARGV[1] job id  ARGV[2] job data
Returns 1 when enqueued, 0 when the id was already queued.
]]
if redis.call("HEXISTS", KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("LPUSH", KEYS[2], ARGV[1])
return 1

--[[
Fixed-window counter for per-client rate limits, shared by every gateway.
KEYS[1] counter key for this window   ARGV[1] window ms
Returns {count, ttl ms}
]]
local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[1])) end
return {n, redis.call("PTTL", KEYS[1])}

--[[
Compare-and-delete: remove a lock (or a pending marker) only while it still
holds the caller's value, so a late finisher never releases someone else's.
KEYS[1] key  ARGV[1] expected value.  Returns 1 when deleted.
]]
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0

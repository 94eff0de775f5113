--[[
Extend the user's refresh lock while its job is still the holder.
KEYS[1] lock  ARGV[1] job id  ARGV[2] ttl ms.  Returns 1 if extended.
]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[2]))
end
return 0

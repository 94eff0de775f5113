--[[
A receiver's head delivery is over (delivered, or dead-lettered): drop it and
hand the next one, if any, its notify job. Only the head that was attempted
is dropped (ARGV[1]), so a duplicate or late call changes nothing.
KEYS[1] the receiver's delivery list   KEYS[2] notify queue jobs hash
KEYS[3] notify queue waiting list
ARGV[1] seq of the delivery that is over   ARGV[2] notify job id prefix ("<job id>:<receiver id>:")
ARGV[3] the receiver's meta key (holds its notify message)
Returns 1 when the head was dropped, 0 otherwise.
]]
local head = redis.call("LINDEX", KEYS[1], 0)
if not head then return 0 end
if tonumber(cjson.decode(head).seq) ~= tonumber(ARGV[1]) then return 0 end
redis.call("LPOP", KEYS[1])
local nxt = redis.call("LINDEX", KEYS[1], 0)
if nxt then
  local id = ARGV[2] .. cjson.decode(nxt).seq
  local data = redis.call("HGET", ARGV[3], "data")
  if data and redis.call("HEXISTS", KEYS[2], id) == 0 then
    redis.call("HSET", KEYS[2], id, data)
    redis.call("LPUSH", KEYS[3], id)
  end
end
return 1

--[[
A receiver's head delivery is over (delivered, or dead-lettered): drop it and
hand the next one, if any, its notify job. Only the head that was attempted
is dropped (seq), so a duplicate or late call changes nothing.
KEYS[1] the receiver's delivery list   KEYS[2] notify queue jobs hash
KEYS[3] notify queue waiting list
ARGV[1] json {seq, notify_id_prefix ("<job id>:<receiver id>:"), meta (the receiver's meta key)}
Returns 1 when the head was dropped, 0 otherwise.
]]
--- @include "includes/job"

local a = cjson.decode(ARGV[1])
local head = redis.call("LINDEX", KEYS[1], 0)
if not head then return 0 end
if tonumber(cjson.decode(head).seq) ~= tonumber(a.seq) then return 0 end
redis.call("LPOP", KEYS[1])
local nxt = redis.call("LINDEX", KEYS[1], 0)
if nxt then
  local data = redis.call("HGET", a.meta, "data")
  if data then enqueueOnce(KEYS[2], KEYS[3], a.notify_id_prefix .. cjson.decode(nxt).seq, data) end
end
return 1

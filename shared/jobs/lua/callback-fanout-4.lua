--[[
Queue the job's current state for its status-webhook receivers (all, or one).
Each receiver has its own ordered list of pending deliveries; the head of a
non-empty list always has exactly one notify job (enqueued here when the list
was empty, or by callback-advance when the head moves), so deliveries reach
each receiver one at a time, in order, and a failing receiver delays only
itself. A state older than the last one queued for a receiver (a late
caller) is dropped; a progress tick within progress_interval_ms of the last
one queued is merged into a tick still waiting in the list, or dropped.
KEYS[1] the job's receivers hash   KEYS[2] the job key
KEYS[3] notify queue jobs hash     KEYS[4] notify queue waiting list
ARGV[1] json {job_id, receiver_prefix, now_ms, progress_interval_ms, ttl_s, only, as_of}:
  a receiver's meta key is receiver_prefix .. id, its list meta .. ":q";
  only = one receiver ("" = every one);
  as_of = queue this job json (counters 0) instead of the stored job: the state
  a job was created in, for the receiver its creator registers right after
  creating it (a worker may have moved the job on already)
Returns the number of deliveries queued or merged.
]]
--- @include "includes/job"

local a = cjson.decode(ARGV[1])
-- The order of states: a receiver never gets an older one after a newer one.
local rank = {queued = 0, planning = 1, syncing = 2, merging = 3, completed = 4, training = 5,
  trained = 6, training_skipped = 6, training_failed = 6, fresh = 6, failed = 6}
local rids
if a.only ~= "" then
  if redis.call("HEXISTS", KEYS[1], a.only) == 0 then return 0 end
  rids = {a.only}
else
  rids = redis.call("HKEYS", KEYS[1])
end
if #rids == 0 then return 0 end
local json = redis.call("HGET", KEYS[2], "json")
if not json then return 0 end
local total, done, failed = 0, 0, 0
if a.as_of ~= "" then
  json = a.as_of
else
  local p = progressOf(KEYS[2])
  total, done, failed = p.total, p.completed, p.failed
end
local state = cjson.decode(json).state
local r = rank[state] or 0
local queued = 0
for _, rid in ipairs(rids) do
  local meta = a.receiver_prefix .. rid
  local q = meta .. ":q"
  local m = redis.call("HMGET", meta, "rank", "done", "total", "at")
  local lrank, ldone, ltotal, lat = tonumber(m[1] or "-1"), tonumber(m[2] or "-1"), tonumber(m[3] or "-1"),
    tonumber(m[4] or "0")
  local newer = r > lrank or (r == lrank and (done + failed > ldone or total > ltotal))
  if newer then
    local tick = r == lrank
    local item = {state = state, json = json, total = total, completed = done, failed = failed}
    local merged = false
    local skip = false
    if tick then
      if redis.call("LLEN", q) >= 2 then
        local tail = cjson.decode(redis.call("LINDEX", q, -1))
        if tail.state == state then
          item.seq = tail.seq
          redis.call("LSET", q, -1, cjson.encode(item))
          merged = true
        end
      end
      if not merged and a.now_ms - lat < a.progress_interval_ms then skip = true end
    end
    if merged then
      redis.call("HSET", meta, "rank", r, "done", done + failed, "total", total)
      queued = queued + 1
    elseif not skip then
      item.seq = redis.call("HINCRBY", meta, "seq", 1)
      redis.call("RPUSH", q, cjson.encode(item))
      redis.call("HSET", meta, "rank", r, "done", done + failed, "total", total, "at", a.now_ms)
      redis.call("EXPIRE", q, a.ttl_s)
      redis.call("EXPIRE", meta, a.ttl_s)
      queued = queued + 1
      if redis.call("LLEN", q) == 1 then
        local data = redis.call("HGET", meta, "data")
        if data then enqueueOnce(KEYS[3], KEYS[4], a.job_id .. ":" .. rid .. ":" .. item.seq, data) end
      end
    end
  end
end
return queued

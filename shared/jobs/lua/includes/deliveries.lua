--[[
Status-webhook deliveries (shared/webhooks/callbacks.ts), queued by the same
script that stores the state they carry. Keys beside the job key:
  {job}:cb          hash receiver id -> callback URL
  {job}:cb:{rid}    hash: its notify message (data), last state queued (rank, done, total, at), seq
  {job}:cb:{rid}:q  list: its pending deliveries, head first
Each receiver has its own ordered list; the head of a non-empty list always has
exactly one notify job (enqueued here when the list was empty, or by
callback-advance when the head moves), so deliveries reach each receiver one at
a time, in order, and a failing receiver delays only itself. A state older
than the last one queued for a receiver is dropped; a progress tick within
`interval_ms` of the last one queued is merged into a tick still waiting in the
list, or dropped. `notify` = {jobs, waiting (the notify queue's keys),
interval_ms, ttl_s}. Needs nowMs and enqueueOnce (includes/job).
]]

-- The order of states: a receiver never gets an older one after a newer one.
local DELIVERY_RANK = {queued = 0, planning = 1, syncing = 2, merging = 3, completed = 4, training = 5,
  trained = 6, training_skipped = 6, training_failed = 6, fresh = 6, failed = 6}

-- Queues `json` (a job's stored json, without progress) and its counters `p`
-- for the job's receivers (all, or `only`). Returns the deliveries queued or merged.
local function queueDeliveries(jobKey, jobId, json, p, notify, only)
  local receivers = jobKey .. ":cb"
  local rids
  if only ~= "" then
    if redis.call("HEXISTS", receivers, only) == 0 then return 0 end
    rids = {only}
  else
    rids = redis.call("HKEYS", receivers)
  end
  if #rids == 0 then return 0 end
  local total, done, failed = p.total, p.completed, p.failed
  local state = cjson.decode(json).state
  local r = DELIVERY_RANK[state] or 0
  local now = nowMs()
  local queued = 0
  for _, rid in ipairs(rids) do
    local meta = receivers .. ":" .. rid
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
        -- The tail may be merged only while it is not the head (the head may be in delivery).
        if redis.call("LLEN", q) >= 2 then
          local tail = cjson.decode(redis.call("LINDEX", q, -1))
          if tail.state == state then
            item.seq = tail.seq
            redis.call("LSET", q, -1, cjson.encode(item))
            merged = true
          end
        end
        if not merged and now - lat < notify.interval_ms then skip = true end
      end
      if merged then
        redis.call("HSET", meta, "rank", r, "done", done + failed, "total", total)
        queued = queued + 1
      elseif not skip then
        item.seq = redis.call("HINCRBY", meta, "seq", 1)
        redis.call("RPUSH", q, cjson.encode(item))
        redis.call("HSET", meta, "rank", r, "done", done + failed, "total", total, "at", now)
        redis.call("EXPIRE", q, notify.ttl_s)
        redis.call("EXPIRE", meta, notify.ttl_s)
        queued = queued + 1
        if redis.call("LLEN", q) == 1 then
          local data = redis.call("HGET", meta, "data")
          if data then enqueueOnce(notify.jobs, notify.waiting, jobId .. ":" .. rid .. ":" .. item.seq, data) end
        end
      end
    end
  end
  return queued
end

--[[
The job record's rules, shared by every job script (included by the loader).
A job is a hash: `json` (the JobRecord without progress, always written by
cjson or JSON.stringify), `total`, `completed`, `failed` (progress is derived
from them) and `touched` (Redis time in ms of the job's last sign of life).
The in-flight index (a sorted set, score = touched) holds every job a
watchdog must see move: refresh states and `training`.
]]

-- States after which the refresh itself is over (training may follow `completed`).
local FINAL = {completed = true, fresh = true, failed = true, trained = true,
  training_skipped = true, training_failed = true}
-- States after which nothing is ever published for the job again.
local TERMINAL = {fresh = true, failed = true, trained = true, training_skipped = true, training_failed = true}

-- A refresh of the user runs: a second request joins it instead of starting another.
local function refreshInFlight(state)
  return state == "queued" or state == "planning" or state == "syncing" or state == "merging"
end

-- A state the watchdog watches: the job must show progress or be failed.
local function watched(state)
  return refreshInFlight(state) or state == "training"
end

-- Redis's own clock, so every process agrees on how old a sign of life is.
local function nowMs()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The progress object from the hash's counters.
local function progressOf(jobKey)
  local c = redis.call("HMGET", jobKey, "total", "completed", "failed")
  local total, done, failed = tonumber(c[1] or "0"), tonumber(c[2] or "0"), tonumber(c[3] or "0")
  local pct = 0
  if total > 0 then pct = math.floor(((done + failed) / total) * 1000 + 0.5) / 10 end
  return {total = total, completed = done, failed = failed,
    pending = math.max(0, total - done - failed), percentage = pct}
end

-- Records a sign of life: `touched` on the hash, the score in the in-flight index
-- (or removal from it once the state is no longer watched).
local function touchJob(jobKey, inflightKey, jobId, state)
  if watched(state) then
    local t = nowMs()
    redis.call("HSET", jobKey, "touched", t)
    redis.call("ZADD", inflightKey, t, jobId)
  else
    redis.call("ZREM", inflightKey, jobId)
  end
end

-- bee-queue 2.0's addJob semantics: HSET + LPUSH unless the id already exists.
local function enqueueOnce(jobsKey, waitingKey, id, data)
  if redis.call("HEXISTS", jobsKey, id) == 1 then return 0 end
  redis.call("HSET", jobsKey, id, data)
  redis.call("LPUSH", waitingKey, id)
  return 1
end

-- The job as readers see it: its json with progress.
local function jobJson(jobKey, job)
  job.progress = progressOf(jobKey)
  local out = cjson.encode(job)
  job.progress = nil
  return out
end

--- @include "includes/deliveries"

-- Publishes the job (with progress) on its channel, and on the all-jobs channel
-- when its state changed, and queues it for the job's status-webhook receivers
-- in the same step (`pub.notify`), so no state is stored without its
-- deliveries and no delivery names a state that was not stored.
-- `pub` = {events, all_events, notify}. Returns the published json.
local function publishJob(jobKey, job, pub, stateChanged)
  local p = progressOf(jobKey)
  local stored = cjson.encode(job)
  job.progress = p
  local out = cjson.encode(job)
  job.progress = nil
  redis.call("PUBLISH", pub.events .. job.job_id, out)
  if stateChanged then redis.call("PUBLISH", pub.all_events, out) end
  if pub.notify then queueDeliveries(jobKey, job.job_id, stored, p, pub.notify, "") end
  return out
end

-- Moves a decoded job to `state`, merging `patch`; stores, touches, releases the
-- user's lock when the refresh is over, and publishes (see publishJob).
-- `pub` = {now, events, all_events, notify}. Returns the published json.
local function moveJob(jobKey, lockKey, inflightKey, job, state, patch, pub)
  if patch then
    for k, v in pairs(patch) do job[k] = v end
  end
  job.state = state
  job.updated_at = pub.now
  job.progress = nil
  redis.call("HSET", jobKey, "json", cjson.encode(job))
  touchJob(jobKey, inflightKey, job.job_id, state)
  if FINAL[state] and redis.call("GET", lockKey) == job.job_id then redis.call("DEL", lockKey) end
  return publishJob(jobKey, job, pub, true)
end

-- The watchdog's rule: a watched job idle for `idleMs` fails (refresh states →
-- failed, training → training_failed) with error_code "stuck" and the reason.
local function failStuckJob(jobKey, lockKey, inflightKey, job, idleMs, pub)
  local reason = string.format("no progress for %d s while %s: failed by the watchdog", math.floor(idleMs / 1000),
    job.state)
  local to = "failed"
  if job.state == "training" then to = "training_failed" end
  return moveJob(jobKey, lockKey, inflightKey, job, to, {error = reason, error_code = "stuck"}, pub)
end

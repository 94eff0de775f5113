--[[
The fan-in's counting rule, shared by start-sync (repos plan synced itself) and
mark-repos-done (repos the sync workers finished). Each entry is
[repo, "completed" | "failed", fingerprint?, [field, value, …]?, [field, …]?]:
what the user's hashes remember about the repo once its record is stored (its
GitHub fingerprint; ETag / file-id fields to set and to delete) is written
first, on every call (a re-sync rewrote the record), so no repo is ever counted
before they are there for the merge to read. Then each repo is counted once,
by lower-cased name, in the job's done set (duplicate deliveries and retries
count nothing).
]]

-- Writes each entry's remembered fields; counts the new ones when `counting`.
-- Returns the number of completed and failed repos added, and a 0/1 flag per entry.
local function countReposDone(jobKey, doneKey, fingerprintsKey, etagsKey, entries, counting)
  for _, d in ipairs(entries) do
    if type(d[3]) == "string" then redis.call("HSET", fingerprintsKey, d[1], d[3]) end
    if type(d[4]) == "table" and #d[4] > 0 then redis.call("HSET", etagsKey, unpack(d[4])) end
    if type(d[5]) == "table" and #d[5] > 0 then redis.call("HDEL", etagsKey, unpack(d[5])) end
  end
  local flags = {}
  local addC, addF = 0, 0
  for i, d in ipairs(entries) do
    flags[i] = 0
    if counting and redis.call("SADD", doneKey, string.lower(d[1])) == 1 then
      flags[i] = 1
      if d[2] == "failed" then addF = addF + 1 else addC = addC + 1 end
    end
  end
  if addC > 0 then redis.call("HINCRBY", jobKey, "completed", addC) end
  if addF > 0 then redis.call("HINCRBY", jobKey, "failed", addF) end
  return addC, addF, flags
end

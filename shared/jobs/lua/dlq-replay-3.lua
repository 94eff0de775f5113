--[[
Take one entry out of the dead-letter list and put its job back on its queue.
KEYS[1] dlq list  KEYS[2] queue jobs hash  KEYS[3] queue waiting list
ARGV[1] the exact entry json  ARGV[2] new bee-queue job id  ARGV[3] job data
Returns 1 when replayed, 0 when the entry was not (any longer) in the DLQ.
]]
--- @include "includes/job"

if redis.call("LREM", KEYS[1], 1, ARGV[1]) == 0 then return 0 end
return enqueueOnce(KEYS[2], KEYS[3], ARGV[2], ARGV[3])

--[[
Enqueue one bee-queue job with a chosen id unless it already exists
(callable from processes without bee-queue, e.g. the Deno gateway).
KEYS[1] queue jobs hash  KEYS[2] queue waiting list
ARGV[1] job id  ARGV[2] job data
Returns 1 when enqueued, 0 when the id was already queued.
]]
--- @include "includes/job"

return enqueueOnce(KEYS[1], KEYS[2], ARGV[1], ARGV[2])

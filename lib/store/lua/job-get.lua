#!lua flags=allow-key-locking
local jobKey = KEYS[1]
local jobDeliveredKey = KEYS[2]
local jobInProgressKey = KEYS[3]
local jobRetryKey = KEYS[4]
local now = ARGV[1]
local retentionMs = ARGV[2]
--- @include include/jobAt
--- @include include/jobAnswer
--- @include rules/jobGoneAt
-- The job at `now` (lib/store/scripts.ts JOB_GET), abortAt written first: { 'ok', hash, timed-out
-- tally } or { 'not_found' } (none, or past jobGoneAt). Mirrors abortAt and countsAt
-- (lib/jobs/rules.ts): the read of jobSnapshot.
local at = tonumber(now)
local expiry = redis.call('HGET', jobKey, 'expiresAt')
if not expiry or jobGoneAt({ expiresAt = tonumber(expiry) }, tonumber(retentionMs)) <= at then return { 'not_found' } end
local jk = { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey, retry = jobRetryKey }
local _, timedOut = jobAt(jk, at)
return { 'ok', jobAnswer(jk, timedOut) }

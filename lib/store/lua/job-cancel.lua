#!lua flags=allow-key-locking
local jobKey = KEYS[1]
local jobDeliveredKey = KEYS[2]
local jobInProgressKey = KEYS[3]
local jobRetryKey = KEYS[4]
local hasReason = ARGV[1]
local reason = ARGV[2]
local force = ARGV[3]
local at = ARGV[4]
local retentionMs = ARGV[5]
--- @include include/jobMet
--- @include include/jobAnswer
--- @include include/writeEnded
--- @include rules/cancelJob
-- An operator's cancel of a job at `at` (lib/store/scripts.ts JOB_CANCEL), after abortAt. Mirrors
-- endInstant, cancelJob, abortAt and jobStatusAt (lib/jobs/rules.ts): the job is met, read and
-- ended at endInstant (`at`, or its last change when a faster clock made it later, so its end is
-- never stamped before a delivery or report Redis ordered first); refused once the job has ended;
-- otherwise every undelivered target is canceled (the end's `undelivered`), and with `force`
-- ('1') the counts are frozen as cancelJob says (executions settle when met). Returns
-- { 'accepted' | 'refused', the job's answer } or { 'not_found' }.
local met = jobMet(jobKey, jobDeliveredKey, jobInProgressKey, jobRetryKey, tonumber(at), tonumber(retentionMs))
if not met then return { 'not_found' } end
local jk, when, state, timedOut, counts = met.jk, met.when, met.state, met.timedOut, met.counts
local cancellation = { at = when, force = force == '1' }
if hasReason == '1' then cancellation.reason = reason end
local decided = cancelJob(state, counts, cancellation)
if decided.outcome == 'refused' then return { 'refused', jobAnswer(jk, timedOut) } end
writeEnded(jobKey, state, decided.state)
return { 'accepted', jobAnswer(jk, timedOut) }

#!lua flags=allow-key-locking
local jobKey = KEYS[1]
local jobDeliveredKey = KEYS[2]
local jobInProgressKey = KEYS[3]
local jobRetryKey = KEYS[4]
local paused = ARGV[1]
local hasReason = ARGV[2]
local reason = ARGV[3]
local at = ARGV[4]
local retentionMs = ARGV[5]
--- @include include/ms
--- @include include/jobMet
--- @include include/jobAnswer
--- @include rules/pauseJob
-- An operator's pause (`paused` '1') or resume ('0') of a job at `at` (lib/store/scripts.ts
-- JOB_PAUSE), after abortAt. Mirrors endInstant, pauseJob, abortAt and jobStatusAt
-- (lib/jobs/rules.ts): the job is met, read and changed at endInstant; refused once it has ended;
-- unchanged (nothing written) when it is so already; otherwise its pause fields and updatedAt
-- written: one hash, whatever the job's size (the targets' deliveries are decided at each poll
-- from the job's status). Returns { 'accepted' | 'unchanged' | 'refused', the job's answer } or
-- { 'not_found' }.
local met = jobMet(jobKey, jobDeliveredKey, jobInProgressKey, jobRetryKey, tonumber(at), tonumber(retentionMs))
if not met then return { 'not_found' } end
local jk, when, state, timedOut, counts = met.jk, met.when, met.state, met.timedOut, met.counts
local change = { at = when, paused = paused == '1' }
if hasReason == '1' then change.reason = reason end
local decided = pauseJob(state, counts, change)
if decided.outcome ~= 'accepted' then return { decided.outcome, jobAnswer(jk, timedOut) } end
local pause = decided.state.pause
redis.call('HSET', jobKey, 'pauseState', pause.paused and '1' or '0', 'pauseAt', ms(pause.at))
if pause.reason then redis.call('HSET', jobKey, 'pauseReason', pause.reason) else redis.call('HDEL', jobKey, 'pauseReason') end
if decided.state.tally.updatedAt ~= state.tally.updatedAt then redis.call('HSET', jobKey, 'updatedAt', ms(decided.state.tally.updatedAt)) end
return { 'accepted', jobAnswer(jk, timedOut) }

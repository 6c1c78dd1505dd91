#!lua flags=allow-key-locking
local jobKey = KEYS[1]
local targetsKey = KEYS[2]
local execsKey = KEYS[3]
local jobDeliveredKey = KEYS[4]
local jobInProgressKey = KEYS[5]
local commandKey = KEYS[6]
local queueKey = KEYS[7]
local historyKey = KEYS[8]
local jobRetryKey = KEYS[9]
local jobId = ARGV[1]
local agentId = ARGV[2]
local now = ARGV[3]
local retentionMs = ARGV[4]
--- @include include/ruleFields
--- @include include/jobAt
--- @include include/jobAnswer
--- @include include/writeSettled
--- @include include/retryMet
--- @include include/timedOutAt
--- @include include/listedCommand
--- @include rules/isGone
--- @include rules/statusOf
--- @include rules/jobGoneAt
--- @include rules/undeliveredStatus
-- One target of a job with its history (lib/store/scripts.ts JOB_EXECUTION), as JOB_EXECUTIONS
-- shows each target. Mirrors abortAt, settledExecution and undeliveredStatus (lib/jobs/rules.ts);
-- statusOf and isGone (lib/commands/lifecycle.ts).
--
-- The job met at `now` first (abortAt). The agent's execution (its command `commandKey`, settled:
-- settledExecution, its queue entry dropped) with its status at `now` and its history (LRANGE,
-- oldest first), as a listing carries it (include/listedCommand); a target without one by
-- undeliveredStatus, with no history. Answers { 'ok', the job's answer, status, flat hash without
-- the result or {}, history or {}, the result's start or '' }; { 'not_found' } for no job (or one past
-- retention), { 'no_target' } for an agent that is not a target, { 'gone' } for an execution past
-- retention.
local at, retention = tonumber(now), tonumber(retentionMs)
local expiry = redis.call('HGET', jobKey, 'expiresAt')
if not expiry or jobGoneAt({ expiresAt = tonumber(expiry) }, retention) <= at then return { 'not_found' } end
if not redis.call('ZSCORE', targetsKey, agentId) then return { 'no_target' } end
local jk = { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey, retry = jobRetryKey }
local state, timedOut = jobAt(jk, at)
if redis.call('SISMEMBER', execsKey, agentId) == 0 then
  return { 'ok', jobAnswer(jk, timedOut), undeliveredStatus(state, at).status, {}, {}, '' }
end
local r = ruleFields(commandKey)
if not r.expiresAt then return { 'gone' } end
local settled, moved
r, moved = retryMet(commandKey, historyKey, agentId, r, jk, at, retention)
if moved then state, timedOut = jobAt(jk, at) end
r, settled = writeSettled(commandKey, r, state['end'], retention)
if settled then redis.call('ZREM', queueKey, jobId) end
if isGone(r, at, retention) then return { 'gone' } end
local status = statusOf(r, at)
local flat, excerpt = listedCommand(commandKey, status)
return { 'ok', jobAnswer(jk, timedOut), status, flat, redis.call('LRANGE', historyKey, 0, -1), excerpt }

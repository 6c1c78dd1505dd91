#!lua flags=allow-key-locking
local commandKey = KEYS[1]
local queueKey = KEYS[2]
local jobKey = KEYS[3]
local jobDeliveredKey = KEYS[4]
local jobInProgressKey = KEYS[5]
local historyKey = KEYS[6]
local jobRetryKey = KEYS[7]
local commandId = ARGV[1]
local agentId = ARGV[2]
local hasReason = ARGV[3]
local reason = ARGV[4]
local at = ARGV[5]
local retentionMs = ARGV[6]
--- @include include/ms
--- @include include/metExecution
--- @include include/counted
--- @include include/writeTerminal
--- @include include/history
--- @include rules/cancel
-- Cancel (lib/store/scripts.ts CANCEL): from any state not terminal, as cancel decides
-- (lib/commands/lifecycle.ts: isGone, then statusOf and isTerminal); abortAt, settledExecution and
-- retally (lib/jobs/rules.ts) for a job's execution, as COMPLETE: the job met first, a forced
-- cancel settled, an accepted cancel counted and the abort threshold checked at its stamp.
-- Returns { outcome, status, the hash after } (not_found: { outcome }).
local now, retention = tonumber(at), tonumber(retentionMs)
local jk = { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey, retry = jobRetryKey }
local r, job, state = metExecution(commandKey, queueKey, historyKey, commandId, agentId, jk, now, retention)
if not r then return { 'not_found' } end
local cancellation = { at = now }
if hasReason == '1' then cancellation.reason = reason end
local transition = cancel(r, cancellation, retention)
local outcome = transition.outcome
if outcome.outcome ~= 'accepted' then return { outcome.outcome, outcome.status, redis.call('HGETALL', commandKey) } end
-- Written as the rule stamped it (changeAt: `at`, or the record's last change when later).
writeTerminal(commandKey, transition.record, retention)
redis.call('ZREM', queueKey, commandId)
appendHistory(historyKey, commandKey, 'canceled', ms(transition.record.updatedAt), transition.record, nil, transition.record.cancelReason)
counted(job, state, agentId, r, transition.record, transition.record.updatedAt, retention)
return { 'accepted', 'canceled', redis.call('HGETALL', commandKey) }

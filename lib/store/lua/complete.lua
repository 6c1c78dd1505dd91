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
local status = ARGV[3]
local hasResult = ARGV[4]
local resultJson = ARGV[5]
local hasDetails = ARGV[6]
local statusDetailsJson = ARGV[7]
local stepTimeoutMs = ARGV[8]
local at = ARGV[9]
local retentionMs = ARGV[10]
local attempt = ARGV[11]
--- @include include/ms
--- @include include/metExecution
--- @include include/counted
--- @include rules/goneAt
--- @include include/writeTerminal
--- @include include/history
--- @include rules/applyReport
--- @include rules/failureRetried
--- @include include/writeRetried
-- Complete (lib/store/scripts.ts COMPLETE): a progress update (`status` in_progress) or a final
-- result, as applyReport decides (lib/commands/lifecycle.ts: isGone, then progress or finish);
-- abortAt, settledExecution and retally (lib/jobs/rules.ts) for a job's execution.
--
-- For a job's execution, the job is met at `at` first (abortAt written), a forced cancel settles
-- the execution (so the report is refused with `canceled`), and an accepted report is counted
-- (retally, at the instant the change was stamped) and may abort the job then (abortAt: the
-- execution that crosses the threshold).
-- A failure with a retry left (failureRetried) is not written as the execution's end: its next
-- attempt is (writeRetried), pending again, and kept in the queue.
-- Inputs: `hasResult`/`hasDetails` are '1' or '0' (a result without a body is its own value);
-- `stepTimeoutMs` and `attempt` are '' when none. Returns { outcome, status } ({ 'stale_attempt',
-- the current attempt } for a report on another attempt).
local now, retention = tonumber(at), tonumber(retentionMs)
local jk = { job = jobKey, delivered = jobDeliveredKey, inProgress = jobInProgressKey, retry = jobRetryKey }
local r, job, state = metExecution(commandKey, queueKey, historyKey, commandId, agentId, jk, now, retention)
if not r then return { 'not_found' } end
local report = { status = status, attempt = tonumber(attempt) }
if status == 'in_progress' then
  report.at = now
  if hasDetails == '1' then report.statusDetailsJson = statusDetailsJson end
  if stepTimeoutMs ~= '' then report.timeoutMs = tonumber(stepTimeoutMs) end
else
  report.completedAt = now
  if hasResult == '1' then report.resultJson = resultJson end
  if hasDetails == '1' then report.statusDetailsJson = statusDetailsJson end
  -- finish compares a repeated result with the stored one.
  if r.resultStatus then r.resultJson = redis.call('HGET', commandKey, 'resultJson') or nil end
end
local transition = applyReport(r, report, retention)
local outcome, changed = transition.outcome, transition.record
if outcome.outcome == 'stale_attempt' then return { 'stale_attempt', outcome.attempt } end
if outcome.outcome ~= 'accepted' then return { outcome.outcome, outcome.status } end
-- Written as the rule stamped it (changeAt: `at`, or the record's last change when a faster
-- clock made that later).
local stamped = ms(changed.updatedAt)
if status == 'in_progress' then
  redis.call('HSET', commandKey, 'updatedAt', stamped)
  if not r.startedAt then redis.call('HSET', commandKey, 'startedAt', stamped) end
  if hasDetails == '1' then redis.call('HSET', commandKey, 'statusDetailsJson', statusDetailsJson) end
  if changed.deadlineAt ~= r.deadlineAt then
    redis.call('HSET', commandKey, 'deadlineAt', ms(changed.deadlineAt))
    redis.call('PEXPIREAT', commandKey, ms(goneAt(changed, retention)))
  end
else
  local retried = state and failureRetried(changed, state, changed.updatedAt)
  if retried then
    appendHistory(historyKey, commandKey, status, stamped, changed, hasDetails == '1' and statusDetailsJson or nil)
    writeRetried(commandKey, historyKey, job, state, agentId, r, retried, retention)
    jobAt(job, changed.updatedAt)
    return { 'accepted', outcome.status }
  end
  writeTerminal(commandKey, changed, retention)
  if hasDetails == '1' then redis.call('HSET', commandKey, 'statusDetailsJson', statusDetailsJson) end
  redis.call('ZREM', queueKey, commandId)
end
appendHistory(historyKey, commandKey, status, stamped, changed, hasDetails == '1' and statusDetailsJson or nil)
counted(job, state, agentId, r, changed, changed.updatedAt, retention)
return { 'accepted', outcome.status }

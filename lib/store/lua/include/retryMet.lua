-- plumbing: a job's execution met at `at` (`r` its rule fields, the hash at `commandKey`; `jk` its
-- job's keys): when it is due (not ended, and waiting for its retry's delivery or past its
-- deadline), not gone, and its job has retries, its job met first (jobAt: abortAt written), then its timeout retried
-- (timeoutRetried: its timed_out told in its history, its next attempt written, writeRetried),
-- then, waiting for its retry when its job's end came, written canceled (retryCanceled; not
-- counted: the counts had it so). The in-memory store's settle does the same. Answers the record
-- after and whether the job's tally moved.
--- @include include/ms
--- @include include/jobAt
--- @include include/history
--- @include include/writeTerminal
--- @include include/writeRetried
--- @include rules/isGone
--- @include rules/timeoutRetried
--- @include rules/retryCanceled
local function retryMet(commandKey, historyKey, agentId, r, jk, at, retention)
  if not r.jobId or r.resultStatus or (r.deliveredAt and not (r.deadlineAt and r.deadlineAt <= at)) then return r, false end
  if isGone(r, at, retention) then return r, false end
  -- A job without retries has nothing to meet here: one HEXISTS, not the whole job, for each
  -- of its timed-out executions a page or a poll meets.
  if redis.call('HEXISTS', jk.job, 'retryCriteria') == 0 then return r, false end
  local state = jobAt(jk, at)
  if not state then return r, false end
  local moved = false
  local retried = timeoutRetried(r, state, at)
  if retried then
    appendHistory(historyKey, commandKey, 'timed_out', ms(r.deadlineAt), r)
    writeRetried(commandKey, historyKey, jk, state, agentId, r, retried, retention)
    r, moved = retried, true
  end
  local canceled = retryCanceled(r, state, at)
  if canceled then
    writeTerminal(commandKey, canceled, retention)
    r = canceled
  end
  return r, moved
end

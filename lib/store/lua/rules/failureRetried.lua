-- mirrors: lib/jobs/rules.ts failureRetried
--- @include rules/maxAttempts
--- @include rules/retryCutoff
--- @include rules/nextAttempt
-- A result accepted at `at` (the record after it, `state` the job met then): a failure before the
-- retry cutoff with a retry left is the execution's next attempt, pending from `at`; nil: the
-- result stands.
local function failureRetried(after, state, at)
  if after.resultStatus ~= 'failed' or at >= retryCutoff(state) or (after.attempt or 1) >= maxAttempts(state.spec.retry, 'failed') then
    return nil
  end
  return nextAttempt(after, at)
end

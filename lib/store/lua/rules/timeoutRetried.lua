-- mirrors: lib/jobs/rules.ts timeoutRetried
--- @include rules/deadlineEntry
--- @include rules/retryCutoff
--- @include rules/retriesTimeout
--- @include rules/nextAttempt
-- A job's execution met at `at`: when its attempt timed out at or before the retry cutoff and has
-- a retry left, its next attempt, pending from the deadline on; else nil.
local function timeoutRetried(r, state, at)
  local deadline = deadlineEntry(r)
  if not deadline or deadline > at or deadline > retryCutoff(state) or not retriesTimeout(state.spec, r) then return nil end
  return nextAttempt(r, deadline)
end

-- mirrors: lib/jobs/rules.ts abortAt
--- @include generated/constants
--- @include rules/shouldAbort
-- What a store writes when it meets the job at `at`: the abort (a JobEnd), the first time the
-- threshold is seen reached, every undelivered target canceled at that instant; nil: nothing.
local function abortAt(state, counts, at)
  if state['end'] or not shouldAbort(state.spec.abort, counts) then return nil end
  return { status = 'aborted', at = at, reason = ABORT_REASON, force = false, undelivered = counts.pending }
end

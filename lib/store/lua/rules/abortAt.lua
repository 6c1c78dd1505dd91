-- mirrors: lib/jobs/rules.ts abortAt
--- @include generated/constants
--- @include rules/shouldAbort
--- @include rules/endInstant
-- What a store writes when it meets the job at `now` (counts read at `now`): the abort (a JobEnd)
-- at endInstant, the first time the threshold is seen reached, every undelivered target canceled
-- at that instant; nil: nothing.
local function abortAt(state, counts, now)
  if state['end'] or not shouldAbort(state.spec.abort, counts) then return nil end
  return { status = 'aborted', at = endInstant(state, now), reason = ABORT_REASON, force = false, undelivered = counts.pending }
end

-- mirrors: lib/jobs/rules.ts jobStatusAt
--- @include rules/shouldAbort
-- The status at `at` from the state and the counts at `at`: a written end wins; then the abort
-- threshold; a continuous job is completed at its expiry, any other once nothing can change.
local function jobStatusAt(state, counts, at)
  if state['end'] then return state['end'].status end
  if shouldAbort(state.spec.abort, counts) then return 'aborted' end
  if state.spec.continuous then
    if at >= state.spec.expiresAt then return 'completed' end
    return 'in_progress'
  end
  if counts.pending + counts.delivered + counts.in_progress == 0 then return 'completed' end
  return 'in_progress'
end

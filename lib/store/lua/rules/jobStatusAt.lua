-- mirrors: lib/jobs/rules.ts jobStatusAt
--- @include rules/shouldAbort
-- The status at `at` from the state and the counts at `at`: a written end wins; then the abort
-- threshold; then completed (a continuous job at its expiry, any other once nothing can change);
-- then paused (state.pause = { paused, at, reason }); else in progress.
local function jobStatusAt(state, counts, at)
  if state['end'] then return state['end'].status end
  if shouldAbort(state.spec.abort, counts) then return 'aborted' end
  local completed
  if state.spec.continuous then
    completed = at >= state.spec.expiresAt
  else
    completed = counts.pending + counts.delivered + counts.in_progress == 0
  end
  if completed then return 'completed' end
  if state.pause and state.pause.paused then return 'paused' end
  return 'in_progress'
end

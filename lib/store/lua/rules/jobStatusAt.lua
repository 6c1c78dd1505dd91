-- mirrors: lib/jobs/rules.ts jobStatusAt
--- @include rules/shouldAbort
--- @include rules/rolloutStopped
-- The status at `at` from the state and the counts at `at`: a written end wins; then the abort
-- threshold; then completed (a continuous job at its expiry or, its rollout stopped by its
-- schedule, once nothing can change; any other once nothing can change); then paused
-- (state.pause = { paused, at, reason }); then scheduled (before spec.schedule.startAt); else in progress.
local function jobStatusAt(state, counts, at)
  local spec = state.spec
  if state['end'] then return state['end'].status end
  if shouldAbort(spec.abort, counts) then return 'aborted' end
  local settled = counts.pending + counts.delivered + counts.in_progress == 0
  local completed = settled
  if spec.continuous then completed = at >= spec.expiresAt or (rolloutStopped(spec, at) and settled) end
  if completed then return 'completed' end
  if state.pause and state.pause.paused then return 'paused' end
  if spec.schedule and at < spec.schedule.startAt then return 'scheduled' end
  return 'in_progress'
end

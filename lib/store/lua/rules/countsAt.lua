-- mirrors: lib/jobs/rules.ts countsAt
--- @include rules/rolloutStopped
-- The counts at `at` (for a forced cancel, those frozen at its instant). `state` is a JobState
-- (lib/jobs/model.ts): { spec = { expiresAt, continuous, abort, rollout, ... }, tally = { targets,
-- materialized, delivered, inProgress, completed, failed, rejected, canceled, lastEndAt,
-- updatedAt }, ['end'] = nil or { status, at, reason, force, undelivered, final } }; `timedOut` a
-- TimedOutTally { delivered, inProgress, lastAt }. Answers JobCounts, by command status.
local function countsAt(state, timedOut, at)
  local jobEnd, tally = state['end'], state.tally
  if jobEnd and jobEnd.final then return jobEnd.final end
  local undelivered = 0
  if jobEnd then undelivered = jobEnd.undelivered end
  local delivered, inProgress = tally.delivered - timedOut.delivered, tally.inProgress - timedOut.inProgress
  -- Waiting for their next attempt count pending (retryCutoff: none after the job's end).
  local retried = timedOut.retried or 0
  local pending, expired = tally.targets - tally.materialized - undelivered + tally.retrying + retried, 0
  -- A schedule's stop_rollout end cancels every target not delivered then.
  local stopped = 0
  if rolloutStopped(state.spec, at) then stopped = pending end
  pending = pending - stopped
  if at >= state.spec.expiresAt then
    expired = delivered + inProgress + pending
    delivered, inProgress, pending = 0, 0, 0
  end
  return { pending = pending, delivered = delivered, in_progress = inProgress, completed = tally.completed, failed = tally.failed,
    rejected = tally.rejected, timed_out = timedOut.delivered + timedOut.inProgress - retried, canceled = tally.canceled + undelivered + stopped,
    expired = expired }
end

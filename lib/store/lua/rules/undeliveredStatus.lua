-- mirrors: lib/jobs/rules.ts undeliveredStatus
--- @include generated/constants
--- @include rules/rolloutStopped
-- A target with no execution, at `at`: pending; canceled by its schedule's stop_rollout end
-- (schedule_ended), or by the job's end, before its expiry;
-- else expired. `endedAt`: when it became terminal (the job's end, or its expiry); nil: not yet.
local function undeliveredStatus(state, at)
  local jobEnd, spec = state['end'], state.spec
  if rolloutStopped(spec, at) and (not jobEnd or spec.schedule.endAt <= jobEnd.at) then
    return { status = 'canceled', reason = SCHEDULE_END_REASON, endedAt = spec.schedule.endAt }
  end
  if jobEnd and jobEnd.at < spec.expiresAt then
    local why = jobEnd.reason or JOB_CANCEL_REASON
    if jobEnd.status == 'aborted' then why = ABORT_REASON end
    return { status = 'canceled', reason = why, endedAt = jobEnd.at }
  end
  if at >= spec.expiresAt then return { status = 'expired', endedAt = spec.expiresAt } end
  return { status = 'pending' }
end

-- mirrors: lib/jobs/rules.ts retryCanceled
--- @include generated/constants
--- @include include/copy
--- @include rules/phaseOf
--- @include rules/rolloutStopped
-- An execution waiting for its retry when its job's end or its schedule's stop_rollout end comes,
-- at `at`: canceled at that instant with that end's reason; nil: it is not waiting, or nothing
-- has ended it.
local function retryCanceled(r, state, at)
  if phaseOf(r) ~= 'retrying' then return nil end
  local jobEnd, spec = state['end'], state.spec
  local endAt = spec.schedule and spec.schedule.endAt
  local when, reason
  if rolloutStopped(spec, at) and endAt ~= nil and (not jobEnd or endAt <= jobEnd.at) then
    when, reason = endAt, SCHEDULE_END_REASON
  elseif jobEnd and jobEnd.at < spec.expiresAt then
    when = jobEnd.at
    if jobEnd.status == 'aborted' then reason = ABORT_REASON else reason = jobEnd.reason or JOB_CANCEL_REASON end
  else
    return nil
  end
  local out = copy(r)
  -- Stamped as a cancel is (changeAt): never before the record's last change.
  local stamped = math.max(when, r.updatedAt or when)
  out.resultStatus, out.completedAt, out.updatedAt, out.cancelReason = 'canceled', stamped, stamped, reason
  return out
end

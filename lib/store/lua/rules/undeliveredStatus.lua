-- mirrors: lib/jobs/rules.ts undeliveredStatus
--- @include generated/constants
-- A target with no execution, at `at`: pending; canceled by the job's end before its expiry;
-- else expired. `endedAt`: when it became terminal (the job's end, or its expiry); nil: not yet.
local function undeliveredStatus(state, at)
  local jobEnd, spec = state['end'], state.spec
  if jobEnd and jobEnd.at < spec.expiresAt then
    local reason = jobEnd.reason or JOB_CANCEL_REASON
    if jobEnd.status == 'aborted' then reason = ABORT_REASON end
    return { status = 'canceled', reason = reason, endedAt = jobEnd.at }
  end
  if at >= spec.expiresAt then return { status = 'expired', endedAt = spec.expiresAt } end
  return { status = 'pending' }
end

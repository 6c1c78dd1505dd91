-- mirrors: lib/jobs/rules.ts retryCanceled
--- @include generated/constants
--- @include include/copy
--- @include rules/phaseOf
--- @include rules/undeliveredStatus
-- An execution waiting for its retry when its job's end or its schedule's stop_rollout end comes,
-- at `at`: canceled at that instant with that end's reason, as a target never delivered is
-- (undeliveredStatus); nil: it is not waiting, or nothing has ended it.
local function retryCanceled(r, state, at)
  if phaseOf(r) ~= 'retrying' then return nil end
  local undelivered = undeliveredStatus(state, at)
  if undelivered.status ~= 'canceled' or undelivered.endedAt == nil then return nil end
  -- Stamped as a cancel is (changeAt): never before the record's last change.
  local stamped = math.max(undelivered.endedAt, r.updatedAt or undelivered.endedAt)
  local out = copy(r)
  out.resultStatus, out.completedAt, out.updatedAt = 'canceled', stamped, stamped
  out.cancelReason = undelivered.reason or JOB_CANCEL_REASON
  return out
end

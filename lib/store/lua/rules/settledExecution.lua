-- mirrors: lib/jobs/rules.ts settledExecution
--- @include generated/constants
--- @include rules/isTerminal
--- @include rules/statusOf
--- @include rules/cancel
-- An execution as its job's end leaves it: after a forced cancel, one not terminal at the
-- cancel's instant is canceled then (with the job's reason, else JOB_CANCEL_REASON). Stores apply
-- it whenever they meet an execution, so no write over every execution is needed at the cancel.
-- `jobEnd`: nil or { status, at, reason, force }. Answers the record (the same table when unchanged).
local function settledExecution(r, jobEnd, retention)
  if not jobEnd or not jobEnd.force or isTerminal(statusOf(r, jobEnd.at)) then return r end
  local made = cancel(r, { reason = jobEnd.reason or JOB_CANCEL_REASON, at = jobEnd.at }, retention).record
  return made or r
end

-- plumbing: `settledExecution` written: the cancel on the command's hash (not retallied: the
-- job's counts were frozen at its instant), kept until its goneAt. Answers the record after and
-- whether it was written.
--- @include include/ms
--- @include rules/goneAt
--- @include rules/settledExecution
local function writeSettled(commandKey, r, jobEnd, retention)
  local settled = settledExecution(r, jobEnd, retention)
  if settled == r then return r, false end
  local endAt = ms(settled.completedAt)
  redis.call('HSET', commandKey, 'resultStatus', settled.resultStatus, 'completedAt', endAt, 'updatedAt', endAt, 'cancelReason',
    settled.cancelReason)
  redis.call('PEXPIREAT', commandKey, ms(goneAt(settled, retention)))
  return settled, true
end

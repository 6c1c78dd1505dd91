-- plumbing: `settledExecution` written: the cancel on the command's hash (not retallied: the
-- job's counts were frozen at its instant), kept until its goneAt. Answers the record after and
-- whether it was written.
--- @include include/writeTerminal
--- @include rules/settledExecution
local function writeSettled(commandKey, r, jobEnd, retention)
  local settled = settledExecution(r, jobEnd, retention)
  if settled == r then return r, false end
  writeTerminal(commandKey, settled, retention)
  return settled, true
end

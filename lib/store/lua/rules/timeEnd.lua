-- mirrors: lib/commands/lifecycle.ts timeEnd
-- The instant time alone ends the command, and how: the earlier of deadlineAt and expiresAt (a tie is expired).
-- `r` is a command record (times in epoch ms, a field not set is nil).
local function timeEnd(r)
  if r.deadlineAt and r.deadlineAt < r.expiresAt then return { status = 'timed_out', at = r.deadlineAt } end
  return { status = 'expired', at = r.expiresAt }
end

-- mirrors: lib/commands/lifecycle.ts delivered
--- @include include/copy
-- The record as handed out at `at`: deliveryCount counts every fetch; the first one stamps
-- deliveredAt and updatedAt and, when the command has a timeout, starts its deadline.
local function delivered(r, at)
  local out = copy(r)
  out.deliveryCount = (r.deliveryCount or 0) + 1
  if r.deliveredAt then return out end
  out.deliveredAt, out.updatedAt = at, at
  if r.timeoutMs and not r.deadlineAt then out.deadlineAt = at + r.timeoutMs end
  return out
end

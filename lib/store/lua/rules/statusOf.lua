-- mirrors: lib/commands/lifecycle.ts statusOf
--- @include rules/timeEnd
-- The status at `at`: a written end wins; then the end by time; then in_progress, delivered, pending.
local function statusOf(r, at)
  if r.resultStatus then return r.resultStatus end
  local byTime = timeEnd(r)
  if byTime.at <= at then return byTime.status end
  if r.startedAt then return 'in_progress' end
  if r.deliveredAt then return 'delivered' end
  return 'pending'
end

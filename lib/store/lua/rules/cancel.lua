-- mirrors: lib/commands/lifecycle.ts cancel
--- @include include/copy
--- @include rules/isGone
--- @include rules/isTerminal
--- @include rules/statusOf
--- @include rules/changeAt
-- An operator's cancel, stamped at changeAt: from any state that is not terminal; a terminal one is refused with its
-- state; nil or gone: not_found. `cancellation`: { at, reason (nil: none) }.
local function cancel(r, cancellation, retention)
  if not r or isGone(r, cancellation.at, retention) then return { outcome = { outcome = 'not_found' } } end
  local when = changeAt(r, cancellation.at)
  local current = statusOf(r, when)
  if isTerminal(current) then return { outcome = { outcome = 'refused', status = current }, record = r } end
  local changed = copy(r)
  changed.resultStatus = 'canceled'
  changed.completedAt, changed.updatedAt = when, when
  if cancellation.reason then changed.cancelReason = cancellation.reason end
  return { outcome = { outcome = 'accepted', status = 'canceled' }, record = changed }
end

-- mirrors: lib/commands/lifecycle.ts finish
--- @include include/copy
--- @include rules/isTerminal
--- @include rules/statusOf
--- @include rules/isSameResult
--- @include rules/changeAt
-- A final result, stamped at changeAt: the first written end wins (the same result again is a duplicate, anything else
-- refused with the state that won); after timed_out or expired, refused. `submission`: { status,
-- resultJson (nil: no body), statusDetailsJson (nil: none), completedAt }; the record carries its
-- resultJson when it has one.
local function finish(r, submission)
  local when = changeAt(r, submission.completedAt)
  local current = statusOf(r, when)
  if r.resultStatus then
    local outcome = 'refused'
    if isSameResult(r, submission) then outcome = 'duplicate' end
    return { outcome = { outcome = outcome, status = current }, record = r }
  end
  if isTerminal(current) then return { outcome = { outcome = 'refused', status = current }, record = r } end
  local changed = copy(r)
  changed.resultStatus = submission.status
  changed.resultJson = submission.resultJson
  if submission.statusDetailsJson ~= nil then changed.statusDetailsJson = submission.statusDetailsJson end
  changed.completedAt, changed.updatedAt = when, when
  return { outcome = { outcome = 'accepted', status = submission.status }, record = changed }
end

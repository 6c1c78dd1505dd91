-- mirrors: lib/commands/lifecycle.ts progress
--- @include include/copy
--- @include rules/isTerminal
--- @include rules/statusOf
-- An in_progress update at `update.at`: refused in a terminal state; otherwise the command is (or
-- stays) in_progress, startedAt is stamped once, updatedAt moves, statusDetailsJson is replaced
-- when given, and a step timeout (`update.timeoutMs`) moves the deadline to at + timeoutMs. A
-- command never delivered starts its own timeout here. Answers the Transition { outcome, record }.
local function progress(r, update)
  local current = statusOf(r, update.at)
  if isTerminal(current) then return { outcome = { outcome = 'refused', status = current }, record = r } end
  local deadlineAt = r.deadlineAt
  if update.timeoutMs then
    deadlineAt = update.at + update.timeoutMs
  elseif not deadlineAt and r.timeoutMs then
    deadlineAt = update.at + r.timeoutMs
  end
  local changed = copy(r)
  changed.startedAt = r.startedAt or update.at
  changed.updatedAt = update.at
  changed.deadlineAt = deadlineAt
  if update.statusDetailsJson then changed.statusDetailsJson = update.statusDetailsJson end
  return { outcome = { outcome = 'accepted', status = statusOf(changed, update.at) }, record = changed }
end

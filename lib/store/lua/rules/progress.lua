-- mirrors: lib/commands/lifecycle.ts progress
--- @include include/copy
--- @include rules/isTerminal
--- @include rules/statusOf
--- @include rules/changeAt
-- An in_progress update made at `update.at`, stamped at changeAt: refused in a terminal state;
-- otherwise the command is (or stays) in_progress, startedAt is stamped once, updatedAt moves,
-- statusDetailsJson is replaced when given, and a step timeout (`update.timeoutMs`) moves the
-- deadline to the stamp + timeoutMs. A command never delivered starts its own timeout here.
-- Answers the Transition { outcome, record }.
local function progress(r, update)
  local when = changeAt(r, update.at)
  local current = statusOf(r, when)
  if isTerminal(current) then return { outcome = { outcome = 'refused', status = current }, record = r } end
  local deadlineAt = r.deadlineAt
  if update.timeoutMs then
    deadlineAt = when + update.timeoutMs
  elseif not deadlineAt and r.timeoutMs then
    deadlineAt = when + r.timeoutMs
  end
  local changed = copy(r)
  changed.startedAt = r.startedAt or when
  changed.updatedAt = when
  changed.deadlineAt = deadlineAt
  if update.statusDetailsJson then changed.statusDetailsJson = update.statusDetailsJson end
  return { outcome = { outcome = 'accepted', status = statusOf(changed, when) }, record = changed }
end

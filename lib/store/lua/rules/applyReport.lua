-- mirrors: lib/commands/lifecycle.ts applyReport
--- @include rules/isGone
--- @include rules/reportedAt
--- @include rules/progress
--- @include rules/finish
--- @include rules/staleAttempt
-- What the agent reported, for `r` (nil: no such command of that agent): gone -> not_found; then
-- progress or finish. `report`: a progress update { status = 'in_progress', at, statusDetailsJson,
-- timeoutMs } or a result { status, resultJson, completedAt } (a field not given is nil).
local function applyReport(r, report, retention)
  if not r or isGone(r, reportedAt(report), retention) then return { outcome = { outcome = 'not_found' } } end
  if staleAttempt(r, report) then return { outcome = { outcome = 'stale_attempt', attempt = r.attempt or 1 }, record = r } end
  if report.status == 'in_progress' then return progress(r, report) end
  return finish(r, report)
end

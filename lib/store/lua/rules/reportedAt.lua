-- mirrors: lib/commands/lifecycle.ts reportedAt
-- The time a report is made at: a progress update's `at`, a result's `completedAt`.
local function reportedAt(report)
  if report.status == 'in_progress' then return report.at end
  return report.completedAt
end

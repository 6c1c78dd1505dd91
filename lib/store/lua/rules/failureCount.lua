-- mirrors: lib/jobs/rules.ts failureCount
-- Executions that count against the abort threshold.
local function failureCount(counts)
  return counts.failed + counts.rejected + counts.timed_out
end

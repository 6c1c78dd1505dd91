-- mirrors: lib/jobs/rules.ts terminalCount
-- Executions in a terminal state.
local function terminalCount(counts)
  return counts.completed + counts.failed + counts.rejected + counts.timed_out + counts.canceled + counts.expired
end

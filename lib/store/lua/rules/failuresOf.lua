-- mirrors: lib/jobs/rules.ts failuresOf
--- @include rules/failureCount
-- The executions of one abort failure type: failed, rejected or timed_out alone, or the three ('all').
local function failuresOf(failureType, counts)
  if failureType == 'all' then return failureCount(counts) end
  return counts[failureType]
end

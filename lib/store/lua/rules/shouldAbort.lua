-- mirrors: lib/jobs/rules.ts shouldAbort
--- @include rules/judgedCount
--- @include rules/failureCount
-- The abort threshold is reached: at least minExecuted judged, failures at least
-- failureThresholdPercent % of them. `abort`: nil (no threshold) or { failureThresholdPercent, minExecuted }.
local function shouldAbort(abort, counts)
  if not abort then return false end
  local judged = judgedCount(counts)
  return judged >= abort.minExecuted and judged > 0 and 100 * failureCount(counts) >= abort.failureThresholdPercent * judged
end

-- mirrors: lib/jobs/rules.ts shouldAbort
--- @include rules/judgedCount
--- @include rules/failuresOf
-- An abort threshold is reached: for any criterion, at least its minExecuted judged, and its
-- failure type at least its thresholdPercent % of them. `abort`: nil (none) or { criteria = {
-- { failureType, thresholdPercent, minExecuted }, ... } }.
local function shouldAbort(abort, counts)
  if not abort then return false end
  local judged = judgedCount(counts)
  if judged == 0 then return false end
  for _, criterion in ipairs(abort.criteria) do
    if judged >= criterion.minExecuted and 100 * failuresOf(criterion.failureType, counts) >= criterion.thresholdPercent * judged then
      return true
    end
  end
  return false
end

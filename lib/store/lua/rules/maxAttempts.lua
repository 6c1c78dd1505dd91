-- mirrors: lib/jobs/rules.ts maxAttempts
-- The most attempts in all an execution whose attempt ended `how` ('failed' or 'timed_out') may
-- have: the retry criterion of that failure type, else the one of type all, else 1 (no retry).
-- `retry`: nil or { criteria = { { failureType, maxAttempts }, ... } }.
local function maxAttempts(retry, how)
  local own, all = nil, nil
  if retry then
    for _, criterion in ipairs(retry.criteria) do
      if criterion.failureType == how and not own then own = criterion end
      if criterion.failureType == 'all' and not all then all = criterion end
    end
  end
  local chosen = own or all
  if chosen then return chosen.maxAttempts end
  return 1
end

-- mirrors: lib/jobs/rules.ts ended
--- @include include/copy
-- The state with its end written (abortAt or cancelJob), the change stamped on the tally.
local function ended(state, jobEnd)
  local tally = copy(state.tally)
  tally.updatedAt = math.max(tally.updatedAt, jobEnd.at)
  local out = copy(state)
  out.tally = tally
  out['end'] = jobEnd
  return out
end

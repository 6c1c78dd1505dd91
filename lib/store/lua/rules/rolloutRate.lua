-- mirrors: lib/jobs/rules.ts rolloutRate
--- @include generated/constants
-- The rollout's rate for the tally: maxPerMinute; or, exponential, basePerMinute multiplied by
-- the factor (floor) once for each `count` executions delivered (tally.materialized) or
-- completed (tally.completed), never above maxPerMinute (MAX_ROLLOUT_PER_MINUTE without one).
-- `rollout`: nil or { maxPerMinute, exponential = nil or { basePerMinute, incrementFactorTenths,
-- increaseAfter = { kind, count } } }. nil: no rollout.
local function rolloutRate(rollout, tally)
  if not rollout then return nil end
  local exponential = rollout.exponential
  if not exponential then return rollout.maxPerMinute end
  local cap = rollout.maxPerMinute or MAX_ROLLOUT_PER_MINUTE
  local done = tally.completed
  if exponential.increaseAfter.kind == 'notified' then done = tally.materialized end
  local steps = math.floor(done / exponential.increaseAfter.count)
  local rate = exponential.basePerMinute
  local step = 0
  while step < steps and rate < cap do
    local nextRate = math.floor(rate * exponential.incrementFactorTenths / 10)
    if nextRate <= rate then break end
    rate = nextRate
    step = step + 1
  end
  return math.min(rate, cap)
end

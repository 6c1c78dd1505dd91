-- mirrors: lib/jobs/rules.ts rolloutWindowStart
--- @include generated/constants
-- First deliveries made after this instant count against the rollout at `at`.
local function rolloutWindowStart(at)
  return at - ROLLOUT_WINDOW_MS
end

-- mirrors: lib/jobs/rules.ts rolloutAllows
-- Another first delivery is allowed when fewer than maxPerMinute (nil: no rollout) were made in the window.
local function rolloutAllows(maxPerMinute, deliveredSinceWindowStart)
  return maxPerMinute == nil or deliveredSinceWindowStart < maxPerMinute
end

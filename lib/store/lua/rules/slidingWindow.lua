-- mirrors: lib/store/ratelimit.ts slidingWindow
--- @include rules/windowOf
-- The rate limit's decision: with `counts.current` requests counted in this window and
-- `counts.previous` in the one before, may one more go through at `at`? The previous window
-- counts as much as it still overlaps the sliding window. `reset`: when this window ends (epoch ms).
local function slidingWindow(counts, at, windowMs, requests)
  local window = windowOf(at, windowMs)
  local overlap = 1 - (at - window * windowMs) / windowMs
  return { allowed = math.floor(counts.previous * overlap) + counts.current < requests, reset = (window + 1) * windowMs }
end

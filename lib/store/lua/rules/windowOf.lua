-- mirrors: lib/store/ratelimit.ts windowOf
-- The window `at` (epoch ms) falls in: its index, counted from the epoch.
local function windowOf(at, windowMs)
  return math.floor(at / windowMs)
end

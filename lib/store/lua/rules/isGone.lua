-- mirrors: lib/commands/lifecycle.ts isGone
--- @include rules/goneAt
-- Past retention at `at`: no store shows it, nothing reaches it.
local function isGone(r, at, retention)
  return goneAt(r, retention) <= at
end

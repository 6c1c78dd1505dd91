-- mirrors: lib/commands/lifecycle.ts isDeliverable
--- @include rules/isTerminal
--- @include rules/statusOf
-- A fetch at `at` hands it out: not yet in a terminal state.
local function isDeliverable(r, at)
  return not isTerminal(statusOf(r, at))
end

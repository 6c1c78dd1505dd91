-- mirrors: lib/jobs/rules.ts judgedCount
--- @include rules/terminalCount
-- The executions an abort is judged over: the terminal ones less the expired.
local function judgedCount(counts)
  return terminalCount(counts) - counts.expired
end

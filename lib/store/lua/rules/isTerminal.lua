-- mirrors: lib/commands/lifecycle.ts isTerminal
--- @include generated/constants
-- A status that never changes again (TERMINAL_STATUSES of lib/commands/model.ts).
local TERMINAL = {}
for _, name in ipairs(TERMINAL_STATUSES) do TERMINAL[name] = true end
local function isTerminal(status)
  return TERMINAL[status] == true
end

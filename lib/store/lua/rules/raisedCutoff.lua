-- mirrors: lib/auth/revocation.ts raisedCutoff
-- The stored cut-off after revoking the subject at `cutoff`: only ever raised, never lowered
-- (cut-offs are whole seconds: cutoffSeconds). `current` nil: none stored, or not a number.
local function raisedCutoff(current, cutoff)
  local raised = math.floor(cutoff)
  if current ~= nil and current >= raised then return current end
  return raised
end

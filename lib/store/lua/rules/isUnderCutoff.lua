-- mirrors: lib/auth/revocation.ts isUnderCutoff
-- A subject cut-off revokes a token issued at or before it; an unreadable cut-off (NaN, or not
-- finite) revokes all: fail closed. `cutoff` nil: the subject has none.
local function isUnderCutoff(iat, cutoff)
  if cutoff == nil then return false end
  return iat == nil or cutoff ~= cutoff or cutoff == math.huge or cutoff == -math.huge or iat <= cutoff
end

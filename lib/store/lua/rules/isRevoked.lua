-- mirrors: lib/auth/revocation.ts isRevoked
--- @include rules/isRevokedUnread
--- @include rules/isUnderCutoff
-- The decision, from what the gate read for the token. `facts`: { jtiRevoked, registered (both
-- booleans), subjectCutoff (epoch s; NaN when what is stored does not read as a number; nil: none) }.
local function isRevoked(token, mode, facts)
  if isRevokedUnread(token, mode) then return true end
  if token.jti ~= nil then
    if facts.jtiRevoked then return true end
    if mode == 'allowlist' and not facts.registered then return true end
  end
  return isUnderCutoff(token.iat, facts.subjectCutoff)
end

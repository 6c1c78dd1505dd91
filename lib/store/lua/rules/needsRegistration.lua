-- mirrors: lib/auth/revocation.ts needsRegistration
-- Whether the store must read the allowlist registration for this token.
local function needsRegistration(token, mode)
  return mode == 'allowlist' and token.jti ~= nil
end

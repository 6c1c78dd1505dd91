-- mirrors: lib/auth/revocation.ts isRevokedUnread
-- Nothing to read: in allowlist mode a token without jti is revoked whatever the store holds.
-- `token`: { jti (any value when it has one, else nil), iat (epoch s or nil) }.
local function isRevokedUnread(token, mode)
  return mode == 'allowlist' and token.jti == nil
end

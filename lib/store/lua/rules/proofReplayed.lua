-- mirrors: lib/auth/dpop.ts proofReplayed
-- A DPoP proof's jti is a replay when the store holds another request's id for it. `seen`: what
-- the store holds (nil: nothing), `request`: this request's own id.
local function proofReplayed(seen, request)
  return seen ~= nil and seen ~= request
end

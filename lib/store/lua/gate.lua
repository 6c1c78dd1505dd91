#!lua flags=allow-key-locking
local gateCutoffKey = KEYS[1]
local gateRevokedKey = KEYS[2]
local gateActiveKey = KEYS[3]
local gateLimitKey = KEYS[4]
local gateLimitPreviousKey = KEYS[5]
local gateReplyKey = KEYS[6]
local gateProofKey = KEYS[7]
local gateMode = ARGV[1]
local gateHasJti = ARGV[2]
local gateIat = ARGV[3]
local gateHasIat = ARGV[4]
local limitRequests = ARGV[5]
local limitWindowMs = ARGV[6]
local limitExpireAt = ARGV[7]
local limitNow = ARGV[8]
local gateCall = ARGV[9]
local gateReplyMs = ARGV[10]
local gateProofRequest = ARGV[11]
local gateProofUntil = ARGV[12]
--- @include rules/needsRegistration
--- @include rules/isRevoked
--- @include rules/proofReplayed
--- @include rules/slidingWindow
-- The admission gate: the preamble of every gated script (lib/store/scripts.ts gated), never run
-- alone. Mirrors isRevoked (lib/auth/revocation.ts), proofReplayed (lib/auth/dpop.ts) and
-- slidingWindow (lib/store/ratelimit.ts).
--
-- First the revocation decision. The gate gathers the facts isRevoked takes, as the in-memory
-- store does: the jti's denylist entry (when the token has a jti), its allowlist registration
-- (needsRegistration), and the subject's cut-off, where what does not read as a number is NaN
-- (an unreadable cut-off revokes: fail closed). A live entry is one whose key exists: Redis drops
-- it at its EXAT, as isLive does in memory. The gate knows of the token only whether it has a jti
-- (any value stands for one) and its iat.
--
-- Then, for a DPoP-bound token (gateProofRequest not ''), the proof's replay: proofReplayed over
-- what gateProofKey holds (another request's id: refused). The proof is remembered (SET ... PXAT)
-- only once the request is let through, after the rate limit; that SET is not under pcall: a
-- proof that cannot be remembered could be replayed, so the script fails (fail closed, 503).
--
-- Then the rate limit (when limitRequests is not 0): slidingWindow over this and the previous
-- window's counters, and the counter's INCR. The INCR runs under pcall: when Redis refuses writes
-- but still answers (OOM under noeviction, a read-only replica after a failover), the request goes
-- on uncounted and the script says so (`limitNote` 1, logged once per window by the store); the
-- action then fails by itself if it needs to write. Every other failure fails the whole script:
-- nothing is let through whose revocation state is unknown.
--
-- A refusal returns {'revoked'}, {'proof_replayed'} or {'rate_limited', reset} before the action has read or written
-- anything; otherwise gated() runs the action and returns {'ok', limitNote, <its answer>}.
--
-- Before all of it, exactly once: a write's store call carries its own id (`gateCall`), and
-- gated() keeps the reply of a write under that id for a short while (`gateReplyKey`). When the
-- client's first try ran here and only its answer was lost, the client's retry (the same call,
-- the same id) finds that reply and gets it again: nothing is decided, counted or written twice.
if gateCall ~= '' then
  local gateKept = redis.call('GET', gateReplyKey)
  if gateKept then return cjson.decode(gateKept) end
end
local gateToken = {}
if gateHasJti == '1' then gateToken.jti = true end
if gateHasIat == '1' then gateToken.iat = tonumber(gateIat) end
local gateFacts = { jtiRevoked = false, registered = false }
if gateToken.jti then gateFacts.jtiRevoked = redis.call('EXISTS', gateRevokedKey) == 1 end
if needsRegistration(gateToken, gateMode) then gateFacts.registered = redis.call('EXISTS', gateActiveKey) == 1 end
local gateStored = redis.call('GET', gateCutoffKey)
if gateStored then gateFacts.subjectCutoff = tonumber(gateStored) or 0 / 0 end
if isRevoked(gateToken, gateMode, gateFacts) then return {'revoked'} end
if gateProofRequest ~= '' then
  local gateProofSeen = redis.call('GET', gateProofKey)
  if not gateProofSeen then gateProofSeen = nil end
  if proofReplayed(gateProofSeen, gateProofRequest) then return {'proof_replayed'} end
end
local limitNote = 0
local limitMax = tonumber(limitRequests)
if limitMax > 0 then
  local limitCounts = { current = tonumber(redis.call('GET', gateLimitKey)) or 0,
    previous = tonumber(redis.call('GET', gateLimitPreviousKey)) or 0 }
  local limitDecision = slidingWindow(limitCounts, tonumber(limitNow), tonumber(limitWindowMs), limitMax)
  if not limitDecision.allowed then return {'rate_limited', limitDecision.reset} end
  local limitCounted = redis.pcall('INCR', gateLimitKey)
  if type(limitCounted) == 'table' and limitCounted.err then
    limitNote = 1
  else
    redis.pcall('PEXPIREAT', gateLimitKey, limitExpireAt)
  end
end
if gateProofRequest ~= '' then redis.call('SET', gateProofKey, gateProofRequest, 'PXAT', gateProofUntil) end

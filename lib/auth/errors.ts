/**
 * The token error family: why a token was refused, one stable reason per cause. Plain logic,
 * free of HTTP: the edge of every chain (lib/http/errors.ts) turns a TokenError into the 401.
 */

/** The stable `error_description` values of 401 invalid_token, one per cause. */
export type TokenErrorReason =
  | 'token_expired'
  | 'invalid_signature'
  | 'malformed_token'
  | 'invalid_issuer'
  | 'invalid_audience'
  | 'token_not_yet_valid'
  | 'missing_claim'
  | 'unsupported_algorithm'
  | 'token_revoked'
  | 'certificate_mismatch'
  | 'dpop_bound_token'
  | 'not_dpop_bound';

/** A token failed verification (or was revoked). */
export class TokenError extends Error {
  override name = 'TokenError';
  readonly reason: TokenErrorReason;
  /** The token's subject, when it was verified before being refused (revoked): for the log line. */
  readonly subject: string | undefined;
  constructor(reason: TokenErrorReason, detail?: string, cause?: unknown, subject?: string) {
    super(detail ? `${reason}: ${detail}` : reason, { cause });
    this.reason = reason;
    this.subject = subject;
  }
}

/**
 * The public key a token needs cannot be known now: the issuer's JWKS could not be fetched (or
 * had no usable key) and no key set at hand decides the token. Neither a yes nor a no: the edge
 * answers 503 with Retry-After.
 */
export class KeySetUnavailableError extends Error {
  override name = 'KeySetUnavailableError';
  /** When the next fetch may be tried, in whole seconds (at least 1). */
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The stable `error_description` values of 401 invalid_dpop_proof (RFC 9449 4.3), one per check. */
export type DpopProofReason =
  | 'missing_proof'
  | 'multiple_proofs'
  | 'malformed_proof'
  | 'wrong_typ'
  | 'unsupported_algorithm'
  | 'invalid_jwk'
  | 'private_key'
  | 'invalid_signature'
  | 'missing_claim'
  | 'htm_mismatch'
  | 'htu_mismatch'
  | 'iat_out_of_window'
  | 'ath_mismatch'
  | 'jkt_mismatch'
  | 'proof_replayed';

/** A DPoP proof failed a check of RFC 9449 4.3 (lib/auth/dpop.ts), or its jti was used before (the admission). */
export class DpopProofError extends Error {
  override name = 'DpopProofError';
  readonly reason: DpopProofReason;
  /** The token's subject, when the admission refused the proof: for the log line. */
  readonly subject: string | undefined;
  constructor(reason: DpopProofReason, detail?: string, cause?: unknown, subject?: string) {
    super(detail ? `${reason}: ${detail}` : reason, { cause });
    this.reason = reason;
    this.subject = subject;
  }
}

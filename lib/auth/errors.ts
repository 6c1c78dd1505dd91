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
  | 'certificate_mismatch';

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

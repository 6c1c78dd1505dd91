/**
 * The error family. Every error the API answers with carries its HTTP status, a stable
 * `error` code, a description that may be shown, and its headers; one handler at the edge
 * of the chain renders them (lib/http/errors.ts). Anything else becomes a bare 500.
 */

export type ErrorCode =
  | 'invalid_request'
  | 'missing_token'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'server_error'
  | 'temporarily_unavailable';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  missing_token: 401,
  invalid_token: 401,
  insufficient_scope: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  server_error: 500,
  temporarily_unavailable: 503,
};

export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ErrorCode;
  readonly description: string;
  readonly statusCode: number;
  /** Read by @middy/http-error-handler: our errors are always meant to be shown. */
  readonly expose = true;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, description: string, options: { headers?: Record<string, string>; cause?: unknown } = {}) {
    // The message is the JSON body the client gets; http-error-handler sends it as application/json.
    super(JSON.stringify({ error: code, error_description: description }), { cause: options.cause });
    this.code = code;
    this.description = description;
    this.statusCode = STATUS[code];
    this.headers = { 'Cache-Control': 'no-store', ...options.headers };
  }
}

export const REALM = 'biz-service';

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

/** A token failed verification. Kept free of HTTP so the token rules stay plain logic. */
export class TokenError extends Error {
  override name = 'TokenError';
  readonly reason: TokenErrorReason;
  constructor(reason: TokenErrorReason, detail?: string, cause?: unknown) {
    super(detail ? `${reason}: ${detail}` : reason, { cause });
    this.reason = reason;
  }
}

export function missingToken(): ApiError {
  return new ApiError('missing_token', 'no bearer token in the Authorization header', {
    headers: { 'WWW-Authenticate': `Bearer realm="${REALM}"` },
  });
}

export function invalidToken(reason: TokenErrorReason, cause?: unknown): ApiError {
  return new ApiError('invalid_token', reason, {
    headers: { 'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="${reason}"` },
    cause,
  });
}

export function insufficientScope(required: readonly string[]): ApiError {
  const scope = required.join(' ');
  return new ApiError('insufficient_scope', `this request needs the scope: ${scope}`, {
    headers: {
      'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", error_description="insufficient_scope", scope="${scope}"`,
    },
  });
}

export function unavailable(description: string, cause?: unknown, retryAfterSeconds = 1): ApiError {
  return new ApiError('temporarily_unavailable', description, {
    headers: { 'Retry-After': String(retryAfterSeconds) },
    cause,
  });
}

/**
 * The API error family and the one place where errors become HTTP answers.
 *
 * ApiError carries its status, a stable `error` code, a description that may be shown, and its
 * headers. The families below it know no HTTP: a TokenError (lib/auth/errors.ts) becomes 401
 * invalid_token, a RateLimitedError (lib/store/types.ts) 429 rate_limited, a StoreUnavailableError (lib/store/types.ts) or a KeySetUnavailableError (the
 * issuer's keys cannot be fetched, lib/auth/errors.ts) 503 temporarily_unavailable, and
 * Middy's own HTTP errors (415 from the body parser, 422 for malformed JSON) get our shape, all
 * in `shape` below. Anything else is a bare 500. Every error body names the request
 * (`request_id`, the answer's X-Request-Id). Nothing here writes a log line: what went wrong is
 * put on the request's observation, and lib/http/observe.ts writes the request's one line.
 */
import type middy from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import { DpopProofError, KeySetUnavailableError, TokenError, type TokenErrorReason } from '../auth/errors.ts';
import { RevocationRefused } from '../auth/revocation-window.ts';
import type { TerminalStatus } from '../commands/model.ts';
import { RateLimitedError, StoreUnavailableError } from '../store/types.ts';
import { observation, type UnavailableCause } from './observe.ts';

export type ErrorCode =
  | 'invalid_request'
  | 'missing_token'
  | 'invalid_token'
  | 'invalid_dpop_proof'
  | 'insufficient_scope'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unprocessable'
  | 'no_targets'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'server_error'
  | 'temporarily_unavailable';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  missing_token: 401,
  invalid_token: 401,
  invalid_dpop_proof: 401,
  insufficient_scope: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unprocessable: 422,
  no_targets: 422,
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

  /** The body again, naming the request (the answer's X-Request-Id). */
  nameRequest(requestId: string): void {
    this.message = JSON.stringify({ error: this.code, error_description: this.description, request_id: requestId });
  }
}

export const REALM = 'biz-service';

export function badRequest(description: string): ApiError {
  return new ApiError('invalid_request', description);
}

/** 401 missing_token; `dpopAlgs` (DPOP_REQUIRED): the DPoP challenge instead, naming the algorithms a proof may use. */
export function missingToken(dpopAlgs?: readonly string[]): ApiError {
  const challenge = dpopAlgs === undefined ? `Bearer realm="${REALM}"` : `DPoP realm="${REALM}", algs="${dpopAlgs.join(' ')}"`;
  return new ApiError('missing_token', 'no bearer token in the Authorization header', { headers: { 'WWW-Authenticate': challenge } });
}

/**
 * 401 invalid_token. `dpopAlgs`: the request was a DPoP one (its scheme, or its token bound to a
 * key), so the challenge is DPoP's (RFC 9449 7.1), naming the algorithms a proof may use.
 */
export function invalidToken(reason: TokenErrorReason, cause?: unknown, dpopAlgs?: readonly string[]): ApiError {
  const challenge =
    dpopAlgs === undefined
      ? `Bearer realm="${REALM}", error="invalid_token", error_description="${reason}"`
      : `DPoP realm="${REALM}", error="invalid_token", error_description="${reason}", algs="${dpopAlgs.join(' ')}"`;
  return new ApiError('invalid_token', reason, { headers: { 'WWW-Authenticate': challenge }, cause });
}

/** 401 invalid_dpop_proof (RFC 9449 7.1): the proof failed a check; the challenge names the algorithms a proof may use. */
export function invalidDpopProof(reason: string, algs: readonly string[], cause?: unknown): ApiError {
  return new ApiError('invalid_dpop_proof', reason, {
    headers: {
      'WWW-Authenticate': `DPoP realm="${REALM}", error="invalid_dpop_proof", error_description="${reason}", algs="${algs.join(' ')}"`,
    },
    cause,
  });
}

/** What the auth middleware leaves on the context for the edge: the DPoP challenge's algorithms, on a DPoP request. */
export interface DpopChallenge {
  dpopAlgs?: readonly string[];
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

/** 429 with Retry-After: whole seconds until the window frees up, at least 1. */
export function rateLimited(resetMs: number, nowMs: number): ApiError {
  const seconds = Math.max(1, Math.ceil((resetMs - nowMs) / 1000));
  return new ApiError('rate_limited', `too many requests for this agent; retry after ${seconds} s`, {
    headers: { 'Retry-After': String(seconds) },
  });
}

const TERMINAL_WORDS: Record<TerminalStatus, string> = {
  completed: 'was completed',
  failed: 'failed',
  rejected: 'was rejected',
  timed_out: 'timed out',
  canceled: 'was canceled',
  expired: 'expired',
};

/** 409 naming the terminal state the command is in (for example "the command was canceled"). */
export function terminalConflict(status: TerminalStatus, detail = ''): ApiError {
  return new ApiError('conflict', `the command ${TERMINAL_WORDS[status]}${detail}`);
}

/** 409 for a job that has ended, naming how ("the job was aborted"). */
export function jobEndedConflict(status: 'completed' | 'canceled' | 'aborted'): ApiError {
  return new ApiError('conflict', `the job was ${status}`);
}

const SERVER_ERROR = JSON.stringify({ error: 'server_error', error_description: 'internal error' });

function fromMiddy(error: { statusCode: number; message: string }): ApiError {
  switch (error.statusCode) {
    case 415:
      return new ApiError('unsupported_media_type', 'the body must be application/json');
    case 413:
      return new ApiError('payload_too_large', 'the body is too large');
    case 400:
    case 422:
      return badRequest(error.message === 'Forbidden key in JSON body' ? 'forbidden key in JSON body' : 'the body is not valid JSON');
    default:
      return new ApiError('server_error', 'internal error');
  }
}

/** Why the store failed, as one of a few values (the Unavailable metric's `cause` dimension). */
export function unavailableCause(error: unknown): UnavailableCause {
  for (let at: unknown = error, depth = 0; at instanceof Error && depth < 5; at = at.cause, depth += 1) {
    if (at.name === 'TimeoutError' || at.name === 'AbortError') return 'store_timeout';
    const code = (at as { code?: unknown }).code;
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOTFOUND' || at.message === 'fetch failed')
      return 'store_unreachable';
  }
  return 'store_error';
}

/** The message of an error and of its causes, one line, no stack: what an operator needs of an outage. */
function causeText(error: unknown): string {
  const parts: string[] = [];
  for (let at: unknown = error, depth = 0; at !== undefined && at !== null && depth < 5; depth += 1) {
    parts.push(at instanceof Error ? `${at.name}: ${at.message}` : String(at));
    at = at instanceof Error ? at.cause : undefined;
  }
  return parts.join(' <- ');
}

/** The one mapping from every error family to an ApiError that http-error-handler renders. */
function toApiError(request: middy.Request): ApiError {
  const error = request.error as (Error & { statusCode?: number; cause?: unknown }) | null | undefined;
  const seen = observation(request.context);
  if (error instanceof ApiError) {
    if (error.code === 'temporarily_unavailable' && seen) {
      seen.cause ??= unavailableCause(error.cause);
      seen.error ??= causeText(error.cause ?? error.description);
    } else if (error.statusCode >= 500 && seen) {
      seen.error ??= error.cause ?? error.description;
    }
    return error;
  }
  const dpopAlgs = (request.context as DpopChallenge | undefined)?.dpopAlgs;
  if (error instanceof TokenError) {
    if (seen) {
      seen.reason = error.reason;
      seen.detail = error.message;
      if (error.subject !== undefined) seen.agentId = error.subject;
    }
    return invalidToken(error.reason, error, dpopAlgs);
  }
  if (error instanceof DpopProofError) {
    if (seen) {
      seen.reason = error.reason;
      seen.detail = error.message;
      if (error.subject !== undefined) seen.agentId = error.subject;
    }
    return invalidDpopProof(error.reason, dpopAlgs ?? [], error);
  }
  if (error instanceof RateLimitedError) {
    if (seen) seen.agentId = error.subject;
    return rateLimited(error.retryAfterMs, 0);
  }
  if (error instanceof RevocationRefused) return badRequest(error.message);
  if (error instanceof StoreUnavailableError) {
    if (seen) {
      seen.cause = unavailableCause(error);
      seen.error = causeText(error);
    }
    return unavailable('the data store is unavailable, try again shortly', error);
  }
  if (error instanceof KeySetUnavailableError) {
    // Fail closed, and say so: a token whose key cannot be known is neither accepted nor called a bad signature.
    if (seen) {
      seen.cause = 'key_set_unavailable';
      seen.error = causeText(error);
    }
    return unavailable("the token issuer's keys cannot be fetched, try again shortly", error, error.retryAfterSeconds);
  }
  if (error && typeof error.statusCode === 'number' && error.statusCode < 500 && error.name !== 'TimeoutError') {
    return fromMiddy(error as { statusCode: number; message: string });
  }
  // A bug: logged with its stack on the request's line, answered with no detail.
  if (seen) seen.error = error;
  return new ApiError('server_error', 'internal error', { cause: error });
}

const shape: middy.MiddlewareObj = {
  onError: (request) => {
    const answer = toApiError(request);
    const seen = observation(request.context);
    // The request line's reason: a rejected token's own code, else the answer's error code.
    if (seen && seen.reason === undefined) seen.reason = answer.code;
    const requestId =
      seen?.requestId ??
      (request.event as { requestContext?: { requestId?: string } } | undefined)?.requestContext?.requestId ??
      request.context.awsRequestId;
    if (requestId) answer.nameRequest(requestId);
    request.error = answer;
  },
};

/** Runs after http-error-handler: every error answer, the bare 500 too, is never cached. */
const noStore: middy.MiddlewareObj = {
  onError: (request) => {
    const response = request.response as { headers?: Record<string, string> } | undefined;
    if (response) response.headers = { ...response.headers, 'Cache-Control': 'no-store' };
  },
};

/** Use first in the chain so that its onError runs last. */
export function httpErrors(): middy.MiddlewareObj[] {
  return [noStore, httpErrorHandler({ logger: false, fallbackMessage: SERVER_ERROR }), shape];
}

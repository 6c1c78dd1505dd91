/**
 * What every chain starts with: the error edge and header normalisation. Log lines carry the
 * request id and agent where they are written (lib/logger.ts requestKeys), not through a
 * per-request logger context: most requests log nothing, and Powertools' injectLambdaContext
 * costs about a fifth of the chain on every call (bench figure 2).
 */
import type middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import { httpErrors } from './errors.ts';

export type { AuthContext } from './auth.ts';
export { authenticate } from './auth.ts';
export { jsonBody, rawBody } from './body.ts';
export { json, noContent } from './response.ts';

/** Use first: its error handling then runs last, after every other middleware's. */
export function edge(): middy.MiddlewareObj<any, any, Error, any>[] {
  return [...httpErrors(), httpHeaderNormalizer()];
}

/**
 * Options of every chain. No early-timeout timer: Lambda enforces the function's timeout and
 * every store call has its own (REDIS_TIMEOUT_MS), while the timer costs a setTimeout and a
 * Promise.race on every call.
 */
export const chainOptions = { timeoutEarlyInMillis: 0 } as const;

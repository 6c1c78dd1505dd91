/**
 * What every chain starts with: the request's observation (its X-Request-Id, its one log line and
 * its metrics, lib/http/observe.ts), the error edge and header normalisation. Log lines carry the
 * request's keys where they are written (lib/logger.ts requestKeys, read from the context), not
 * through Powertools' injectLambdaContext, whose logger-wide keys would mix the local server's
 * concurrent requests.
 *
 * Its own module, apart from edge.ts's re-exports of the token middleware: a function that takes
 * no token (/health) imports this alone and so bundles neither the verifier nor the stores.
 */
import type middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import { httpErrors } from './errors.ts';
import { observe } from './observe.ts';

/** Use first: its error handling then runs last, after every other middleware's, and the observation last of all. */
export function edge(): middy.MiddlewareObj<any, any, Error, any>[] {
  return [observe(), ...httpErrors(), httpHeaderNormalizer()];
}

/**
 * Options of every chain. No early-timeout timer: Lambda enforces the function's timeout and
 * every store call has its own (REDIS_TIMEOUT_MS), while the timer costs a setTimeout and a
 * Promise.race on every call.
 */
export const chainOptions = { timeoutEarlyInMillis: 0 } as const;

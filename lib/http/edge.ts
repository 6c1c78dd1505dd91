/**
 * What every chain starts with: the error edge, header normalisation and the request's
 * Lambda context on every log line.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import { logger } from '../logger.ts';
import { httpErrors } from './errors.ts';

export type { AuthContext, RuntimeContext } from './auth.ts';
export { authenticate, withRuntime } from './auth.ts';
export { jsonBody } from './body.ts';
export { json, noContent } from './response.ts';

/** Use first: its error handling then runs last, after every other middleware's. */
export function edge(): middy.MiddlewareObj<any, any, Error, any>[] {
  return [...httpErrors(), httpHeaderNormalizer(), injectLambdaContext(logger, { resetKeys: true })];
}

/**
 * The edge of every chain: errors become JSON `{"error","error_description"}` answers.
 * Ours (ApiError) carry their status and headers; Middy's own HTTP errors (415 from the
 * body parser, 422 for malformed JSON) are given our shape; anything else is a bare 500.
 */
import httpErrorHandler from '@middy/http-error-handler';
import type middy from '@middy/core';
import { ApiError, unavailable } from '../errors.ts';
import { logger, requestKeys } from '../logger.ts';
import { StoreUnavailableError } from '../store/types.ts';

const SERVER_ERROR = JSON.stringify({ error: 'server_error', error_description: 'internal error' });

function fromMiddy(error: { statusCode: number; message: string }): ApiError {
  switch (error.statusCode) {
    case 415:
      return new ApiError('unsupported_media_type', 'the body must be application/json');
    case 413:
      return new ApiError('payload_too_large', 'the body is too large');
    case 400:
    case 422:
      return new ApiError(
        'invalid_request',
        error.message === 'Forbidden key in JSON body' ? 'forbidden key in JSON body' : 'the body is not valid JSON',
      );
    default:
      return new ApiError('server_error', 'internal error');
  }
}

/** Turns any error into one that http-error-handler renders as our JSON. */
const shape: middy.MiddlewareObj = {
  onError: (request) => {
    const error = request.error as (Error & { statusCode?: number; cause?: unknown }) | null | undefined;
    if (error instanceof ApiError) {
      if (error.statusCode >= 500)
        logger.error('request failed', { ...requestKeys(request.context), error: error.description, cause: error.cause });
      return;
    }
    if (error instanceof StoreUnavailableError) {
      logger.error('store unavailable', { ...requestKeys(request.context), error });
      request.error = unavailable('the data store is unavailable, try again shortly', error);
      return;
    }
    if (error && typeof error.statusCode === 'number' && error.statusCode < 500 && error.name !== 'TimeoutError') {
      request.error = fromMiddy(error as { statusCode: number; message: string });
      return;
    }
    logger.error('unexpected error', { ...requestKeys(request.context), error: error as Error });
    // Left as is: http-error-handler replaces it with the bare fallback below.
  },
};

/** Use first in the chain so that its onError runs last. */
export function httpErrors(): middy.MiddlewareObj[] {
  return [httpErrorHandler({ logger: false, fallbackMessage: SERVER_ERROR }), shape];
}

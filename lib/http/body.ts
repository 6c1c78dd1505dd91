/**
 * JSON bodies: a size limit checked before parsing (413), then Middy's own JSON body parser
 * (415 for another content type, malformed JSON becomes our 400).
 */
import type middy from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ApiError } from '../errors.ts';

export const MAX_BODY_BYTES = 256 * 1024;

export function jsonBody(options: { maxBytes?: number } = {}): middy.MiddlewareObj<APIGatewayProxyEventV2>[] {
  const maxBytes = options.maxBytes ?? MAX_BODY_BYTES;
  const limit: middy.MiddlewareObj<APIGatewayProxyEventV2> = {
    before: (request) => {
      const { body, isBase64Encoded } = request.event;
      if (body === undefined || body === '') throw new ApiError('invalid_request', 'a JSON body is required');
      const bytes = isBase64Encoded ? Math.floor((body.length * 3) / 4) : Buffer.byteLength(body, 'utf8');
      if (bytes > maxBytes) throw new ApiError('payload_too_large', `the body must be at most ${maxBytes} bytes`);
    },
  };
  return [limit, httpJsonBodyParser() as middy.MiddlewareObj<APIGatewayProxyEventV2>];
}

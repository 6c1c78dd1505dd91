/**
 * JSON bodies: the route's size limit checked before parsing (413), then Middy's own JSON body
 * parser (415 for another content type, malformed JSON becomes our 400).
 */
import type middy from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ApiError, badRequest } from './errors.ts';
import type { Route } from './routes.ts';

export function jsonBody(route: Pick<Route, 'bodyLimit' | 'name'>): middy.MiddlewareObj<APIGatewayProxyEventV2>[] {
  const maxBytes = route.bodyLimit;
  if (maxBytes === undefined) throw new Error(`route ${route.name} has no bodyLimit in the route table`);
  const limit: middy.MiddlewareObj<APIGatewayProxyEventV2> = {
    before: (request) => {
      const { body, isBase64Encoded } = request.event;
      if (body === undefined || body === '') throw badRequest('a JSON body is required');
      const bytes = isBase64Encoded ? Math.floor((body.length * 3) / 4) : Buffer.byteLength(body, 'utf8');
      if (bytes > maxBytes) throw new ApiError('payload_too_large', `the body must be at most ${maxBytes} bytes`);
    },
  };
  return [limit, httpJsonBodyParser() as middy.MiddlewareObj<APIGatewayProxyEventV2>];
}

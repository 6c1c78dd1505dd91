/**
 * JSON bodies: the route's size limit checked before parsing (413), the bytes checked to be UTF-8
 * (400, never replaced), then Middy's own JSON body parser (415 for another content type,
 * malformed JSON becomes our 400). The text as the client sent it stays readable through
 * rawBody(event), for values that must be stored byte for byte (results).
 */
import type middy from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ApiError, badRequest } from './errors.ts';
import type { Route } from './routes.ts';

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const rawBodies = new WeakMap<object, string>();

/** The body's text exactly as received (after base64 decoding), once jsonBody has run. */
export function rawBody(event: APIGatewayProxyEventV2): string | undefined {
  return rawBodies.get(event);
}

function bodyText(body: string, isBase64Encoded: boolean): string {
  if (!isBase64Encoded) {
    if (!body.isWellFormed()) throw badRequest('the body is not valid UTF-8');
    return body;
  }
  try {
    return UTF8.decode(Buffer.from(body, 'base64'));
  } catch {
    throw badRequest('the body is not valid UTF-8');
  }
}

/** With `optional`, a request without a body (none, or empty) passes with `event.body` undefined. */
export function jsonBody(
  route: Pick<Route, 'bodyLimit' | 'name'>,
  options: { optional?: boolean } = {},
): middy.MiddlewareObj<APIGatewayProxyEventV2>[] {
  const maxBytes = route.bodyLimit;
  if (maxBytes === undefined) throw new Error(`route ${route.name} has no bodyLimit in the route table`);
  const limit: middy.MiddlewareObj<APIGatewayProxyEventV2> = {
    before: (request) => {
      const { body, isBase64Encoded } = request.event;
      if (body === undefined || body === null || body === '') {
        if (!options.optional) throw badRequest('a JSON body is required');
        request.event.body = undefined;
        return;
      }
      const bytes = isBase64Encoded ? Math.floor((body.length * 3) / 4) : Buffer.byteLength(body, 'utf8');
      if (bytes > maxBytes) throw new ApiError('payload_too_large', `the body must be at most ${maxBytes} bytes`);
      const text = bodyText(body, isBase64Encoded);
      rawBodies.set(request.event, text);
      request.event.body = text;
      request.event.isBase64Encoded = false;
    },
  };
  const parser = httpJsonBodyParser() as middy.MiddlewareObj<APIGatewayProxyEventV2>;
  if (!options.optional) return [limit, parser];
  const parseWhenPresent: middy.MiddlewareObj<APIGatewayProxyEventV2> = {
    before: (request) => (request.event.body === undefined ? undefined : parser.before?.(request)),
  };
  return [limit, parseWhenPresent];
}

/** Every request no route matches: 404 not_found, or 405 with Allow when the path exists. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { edge } from '../lib/http/chain.ts';
import { ApiError } from '../lib/http/errors.ts';
import { allowedMethods } from '../lib/http/router.ts';

export async function fallback(event: APIGatewayProxyEventV2): Promise<never> {
  const allowed = allowedMethods(event.rawPath ?? '/');
  if (allowed.length > 0) {
    throw new ApiError('method_not_allowed', `use ${allowed.join(' or ')} on this path`, { headers: { Allow: allowed.join(', ') } });
  }
  throw new ApiError('not_found', 'no such route');
}

export const handler = middy(fallback).use(edge());

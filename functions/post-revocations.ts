/** POST /api/revocations (operators): revoke one token by jti, or every token of a subject so far. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type AuthContext, authenticate, chainOptions, edge, jsonBody, noContent } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { revocationInput } from '../lib/http/validation.ts';

export async function postRevocations(event: APIGatewayProxyEventV2, { runtime }: AuthContext) {
  const input = revocationInput(event.body);
  if ('jti' in input) {
    // Kept until the token could no longer pass anyway: its exp plus the clock leeway.
    await runtime.revocations.revokeToken(input.jti, input.exp + runtime.config.clockToleranceSeconds);
  } else {
    await runtime.revocations.revokeSubject(input.sub, Math.floor(runtime.clock.now() / 1000));
  }
  return noContent();
}

export const handler = middy(postRevocations, chainOptions)
  .use(edge())
  .use(authenticate(ROUTES.PostRevocations))
  .use(jsonBody(ROUTES.PostRevocations));

/** GET /api/token-info (debug): what the service verified in the caller's token. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';

export async function tokenInfo(_event: APIGatewayProxyEventV2, { auth, runtime }: AuthContext) {
  const { alg, typ, kid } = auth.header;
  return json(200, {
    header: { alg, typ: typ ?? null, kid: kid ?? null },
    claims: auth.claims,
    scopes: auth.scopes,
    expires_in: Math.max(0, auth.exp - Math.floor(runtime.clock.now() / 1000)),
  });
}

export const handler = middy(tokenInfo, chainOptions).use(edge()).use(authenticate(ROUTES.TokenInfo));

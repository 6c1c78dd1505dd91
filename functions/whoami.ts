/** GET /api/whoami (debug): the caller's agent id, client id and scopes. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';

export async function whoami(_event: APIGatewayProxyEventV2, { auth }: AuthContext) {
  return json(200, { agent_id: auth.sub, client_id: auth.clientId ?? null, scopes: auth.scopes });
}

export const handler = middy(whoami, chainOptions).use(edge()).use(authenticate(ROUTES.WhoAmI));

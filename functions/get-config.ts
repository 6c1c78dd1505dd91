/** GET /api/config: the defaults merged with this agent's overrides. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mergedConfig } from '../lib/commands/agent-config.ts';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';

export async function getConfig(_event: APIGatewayProxyEventV2, { auth, stores }: AuthContext) {
  const overrides = await stores.commands.getConfig(auth.sub);
  return json(200, { agent_id: auth.sub, config: mergedConfig(overrides) });
}

export const handler = middy(getConfig, chainOptions).use(edge()).use(authenticate(ROUTES.GetConfig));

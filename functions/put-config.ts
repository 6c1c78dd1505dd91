/** PUT /api/agents/{agentId}/config (operators): replace one agent's config overrides. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mergedConfig } from '../lib/commands/agent-config.ts';
import { type AuthContext, authenticate, chainOptions, edge, json, jsonBody } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { agentIdParam, configOverrides } from '../lib/http/validation.ts';

export async function putConfig(event: APIGatewayProxyEventV2, { stores }: AuthContext) {
  const agentId = agentIdParam(event.pathParameters?.agentId);
  const overrides = configOverrides(event.body);
  await stores.commands.putConfig(agentId, overrides);
  return json(200, { agent_id: agentId, config: mergedConfig(overrides) });
}

export const handler = middy(putConfig, chainOptions).use(edge()).use(authenticate(ROUTES.PutConfig)).use(jsonBody(ROUTES.PutConfig));

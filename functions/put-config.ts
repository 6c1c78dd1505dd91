/** PUT /api/agents/{agentId}/config (operators): replace one agent's config overrides. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mergedConfig } from '../lib/commands/agent-config.ts';
import { type AuthContext, authenticate, chainOptions, edge, json, jsonBody } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { wake } from '../lib/push/wake.ts';
import { agentIdParam, configOverrides } from '../lib/http/validation.ts';

export async function putConfig(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { stores } = context;
  const agentId = agentIdParam(event.pathParameters?.agentId);
  const overrides = configOverrides(event.body);
  await stores.commands.putConfig(agentId, overrides);
  await wake(context, { kind: 'agents', agentIds: [agentId], reason: 'config' });
  return json(200, { agent_id: agentId, config: mergedConfig(overrides) });
}

export const handler = middy(putConfig, chainOptions).use(edge()).use(authenticate(ROUTES.PutConfig)).use(jsonBody(ROUTES.PutConfig));

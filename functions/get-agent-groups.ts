/** GET /api/agents/{agentId}/groups (operators): the groups an agent is in, sorted. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { agentIdParam } from '../lib/http/validation.ts';

export async function getAgentGroups(event: APIGatewayProxyEventV2, { stores }: AuthContext) {
  const agentId = agentIdParam(event.pathParameters?.agentId);
  return json(200, { agent_id: agentId, groups: await stores.groups.groupsOf(agentId) });
}

export const handler = middy(getAgentGroups, chainOptions).use(edge()).use(authenticate(ROUTES.GetAgentGroups));

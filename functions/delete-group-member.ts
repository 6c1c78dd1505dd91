/** DELETE /api/groups/{group}/agents/{agentId} (operators): take an agent out of a group; 204, also when it was no member. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type AuthContext, authenticate, chainOptions, edge, noContent } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { agentIdParam, groupParam } from '../lib/http/validation.ts';

export async function deleteGroupMember(event: APIGatewayProxyEventV2, { stores }: AuthContext) {
  const group = groupParam(event.pathParameters?.group);
  const agentId = agentIdParam(event.pathParameters?.agentId);
  await stores.groups.leave(group, agentId);
  return noContent();
}

export const handler = middy(deleteGroupMember, chainOptions).use(edge()).use(authenticate(ROUTES.DeleteGroupMember));

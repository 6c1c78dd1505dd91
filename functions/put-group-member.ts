/** PUT /api/groups/{group}/agents/{agentId} (operators): put an agent in a group; 204, also when it is a member already. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { MAX_GROUPS_PER_AGENT } from '../lib/groups/membership.ts';
import { type AuthContext, authenticate, chainOptions, edge, noContent } from '../lib/http/edge.ts';
import { ApiError } from '../lib/http/errors.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { wake } from '../lib/push/wake.ts';
import { agentIdParam, groupParam } from '../lib/http/validation.ts';

export async function putGroupMember(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { stores } = context;
  const group = groupParam(event.pathParameters?.group);
  const agentId = agentIdParam(event.pathParameters?.agentId);
  const outcome = await stores.groups.join(group, agentId);
  if (outcome === 'too_many_groups') {
    throw new ApiError(
      'conflict',
      `this agent is in ${MAX_GROUPS_PER_AGENT} groups already, the most it may be in; take it out of one first`,
    );
  }
  // A join may make it a target of the group's continuous jobs: its poll tells.
  if (outcome === 'added') await wake(context, { kind: 'agents', agentIds: [agentId], reason: 'job' });
  return noContent();
}

export const handler = middy(putGroupMember, chainOptions).use(edge()).use(authenticate(ROUTES.PutGroupMember));

/** GET /api/groups/{group}/agents[?limit=N&cursor=C] (operators): one page of a group's members, in join order. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DEFAULT_MEMBERS_PAGE, encodeCursor, MAX_MEMBERS_PAGE } from '../lib/groups/membership.ts';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { cursorParam, groupParam, limitParam } from '../lib/http/validation.ts';

export async function getGroupMembers(event: APIGatewayProxyEventV2, { stores }: AuthContext) {
  const group = groupParam(event.pathParameters?.group);
  const limit = limitParam(event.queryStringParameters?.limit, DEFAULT_MEMBERS_PAGE, MAX_MEMBERS_PAGE);
  const after = cursorParam(event.queryStringParameters?.cursor);
  const page = await stores.groups.members(group, after, limit);
  return json(200, { group, agents: page.agentIds, next_cursor: page.after === undefined ? null : encodeCursor(page.after) });
}

export const handler = middy(getGroupMembers, chainOptions).use(edge()).use(authenticate(ROUTES.GetGroupMembers));

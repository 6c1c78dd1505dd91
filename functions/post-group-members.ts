/**
 * POST /api/groups/{group}/members (operators): many agents in and out of one group in one
 * request, `{"add"?: [ids], "remove"?: [ids]}` (at most 1,000 ids together). Each agent is
 * treated as a single join or leave would treat it, continuous jobs included; one already in 64
 * groups is refused (listed, nothing changed for it) while the others go on. 200 with the counts.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type AuthContext, authenticate, chainOptions, edge, json, jsonBody } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { groupParam, memberChangesInput } from '../lib/http/validation.ts';

export async function postGroupMembers(event: APIGatewayProxyEventV2, { stores }: AuthContext) {
  const group = groupParam(event.pathParameters?.group);
  const changes = memberChangesInput(event.body);
  const outcome = await stores.groups.change(group, changes);
  return json(200, {
    added: outcome.added,
    removed: outcome.removed,
    unchanged: outcome.unchanged,
    refused: outcome.refused.map((agentId) => ({ agent_id: agentId, reason: 'group_limit' })),
  });
}

export const handler = middy(postGroupMembers, chainOptions)
  .use(edge())
  .use(authenticate(ROUTES.PostGroupMembers))
  .use(jsonBody(ROUTES.PostGroupMembers));

/**
 * GET /api/agents/{agentId}/commands[?status=a,b&limit=N&cursor=C] (operators): the agent's
 * commands, in enqueue order, a page at a time. A page examines at most PAGE_BUDGET of them
 * whatever the filter matches, so it may hold fewer than `limit`, even none, with a next cursor;
 * null is the end.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { operatorView } from '../lib/commands/views.ts';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { encodeCursor } from '../lib/groups/membership.ts';
import { agentIdParam, cursorParam, limitParam, statusFilterParam } from '../lib/http/validation.ts';

export async function listCommands(event: APIGatewayProxyEventV2, { stores, runtime }: AuthContext) {
  const agentId = agentIdParam(event.pathParameters?.agentId);
  const query = event.queryStringParameters ?? {};
  const statuses = statusFilterParam(query.status);
  const limit = limitParam(query.limit, 50, 100);
  const after = cursorParam(query.cursor);
  const now = runtime.clock.now();
  const page = await stores.commands.list(agentId, { statuses, limit, after }, now);
  return json(200, {
    agent_id: agentId,
    commands: page.records.map((record) => operatorView(record, now)),
    next_cursor: page.nextAfter === undefined ? null : encodeCursor(page.nextAfter),
  });
}

export const handler = middy(listCommands, chainOptions).use(edge()).use(authenticate(ROUTES.ListCommands));

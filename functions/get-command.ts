/**
 * GET /api/agents/{agentId}/commands/{commandId} (operators): a command's status and result, and
 * its history (every change of its status, the 50 most recent; lib/commands/history.ts).
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { commandHistoryAt, historyView, operatorView } from '../lib/commands/views.ts';
import { ApiError } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { agentIdParam, commandIdParam } from '../lib/http/validation.ts';

export async function getCommand(event: APIGatewayProxyEventV2, { stores, runtime }: AuthContext) {
  const agentId = agentIdParam(event.pathParameters?.agentId);
  const commandId = commandIdParam(event.pathParameters?.commandId);
  const now = runtime.clock.now();
  const found = await stores.commands.getDetail(agentId, commandId, now);
  if (found === undefined) throw new ApiError('not_found', 'no such command for this agent');
  return json(200, { ...operatorView(found.record, now), ...historyView(commandHistoryAt(found.record, found.history, now)) });
}

export const handler = middy(getCommand, chainOptions).use(edge()).use(authenticate(ROUTES.GetCommand));

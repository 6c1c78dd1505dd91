/** POST /api/agents/{agentId}/commands/{commandId}/cancel (operators): stop a command that has not ended. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { isTerminal } from '../lib/commands/lifecycle.ts';
import { operatorView } from '../lib/commands/views.ts';
import { ApiError, terminalConflict } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, edge, json, jsonBody } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { wake } from '../lib/push/wake.ts';
import { agentIdParam, cancelInput, commandIdParam } from '../lib/http/validation.ts';

export async function cancelCommand(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { stores, runtime } = context;
  const agentId = agentIdParam(event.pathParameters?.agentId);
  const commandId = commandIdParam(event.pathParameters?.commandId);
  const { reason } = cancelInput(event.body);
  const now = runtime.clock.now();
  const { outcome, record } = await stores.commands.cancel(agentId, commandId, { reason, at: now });
  if (outcome.outcome === 'not_found' || record === undefined) throw new ApiError('not_found', 'no such command for this agent');
  if (outcome.outcome === 'refused' && isTerminal(outcome.status)) throw terminalConflict(outcome.status);
  // The agent holds it: it learns of the cancel from its next poll or report.
  if (outcome.outcome === 'accepted' && record.deliveredAt !== undefined) {
    await wake(context, { kind: 'agents', agentIds: [agentId], reason: 'cancel' });
  }
  return json(200, operatorView(record, now));
}

export const handler = middy(cancelCommand, chainOptions)
  .use(edge())
  .use(authenticate(ROUTES.CancelCommand))
  .use(jsonBody(ROUTES.CancelCommand, { optional: true }));

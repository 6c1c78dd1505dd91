/** POST /api/agents/{agentId}/commands (operators): queue a command for one agent. */
import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { operatorView } from '../lib/commands/views.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, json, jsonBody, METRIC } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { agentIdParam, commandInput } from '../lib/http/validation.ts';

export async function enqueueCommand(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { runtime } = context;
  const agentId = agentIdParam(event.pathParameters?.agentId);
  const input = commandInput(event.body);
  const now = runtime.clock.now();
  const command = {
    commandId: randomUUID(),
    agentId,
    command: input.command,
    args: input.args,
    createdAt: now,
    expiresAt: now + (input.ttlSeconds ?? runtime.config.commandTtlSeconds) * 1000,
  };
  await runtime.commands.enqueue(command);
  count(context, METRIC.commandsEnqueued);
  return json(201, operatorView(command, now), {
    Location: `/api/agents/${encodeURIComponent(agentId)}/commands/${command.commandId}`,
  });
}

export const handler = middy(enqueueCommand, chainOptions)
  .use(edge())
  .use(authenticate(ROUTES.EnqueueCommand))
  .use(jsonBody(ROUTES.EnqueueCommand));

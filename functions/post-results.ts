/** POST /api/results: the agent reports a command's outcome; the first result wins. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ApiError } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, json, jsonBody, METRIC, rawBody } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { resultInput } from '../lib/http/validation.ts';

export async function postResults(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { auth, runtime } = context;
  const input = resultInput(event.body, rawBody(event));
  const outcome = await runtime.commands.complete(auth.sub, input.commandId, {
    status: input.status,
    resultJson: input.resultJson,
    completedAt: runtime.clock.now(),
  });
  switch (outcome) {
    case 'accepted':
      count(context, input.status === 'completed' ? METRIC.commandsCompleted : METRIC.commandsFailed);
      return json(200, { command_id: input.commandId, status: input.status, accepted: true });
    case 'duplicate':
      return json(200, { command_id: input.commandId, status: input.status, accepted: true });
    case 'conflict':
      throw new ApiError('conflict', 'this command already has a different result');
    case 'expired':
      throw new ApiError('conflict', 'this command expired before a result arrived');
    case 'not_found':
      throw new ApiError('not_found', 'no such command for this agent');
  }
}

export const handler = middy(postResults, chainOptions).use(edge()).use(authenticate(ROUTES.PostResults)).use(jsonBody(ROUTES.PostResults));

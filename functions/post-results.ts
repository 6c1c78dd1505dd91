/** POST /api/results: the agent reports progress (in_progress) or a command's outcome; the first final result wins. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { isTerminal } from '../lib/commands/lifecycle.ts';
import { ApiError, terminalConflict } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, json, jsonBody, METRIC, rawBody } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { reportAt, resultInput } from '../lib/http/validation.ts';

export async function postResults(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { auth, stores, runtime } = context;
  const input = resultInput(event.body, rawBody(event));
  const answer = await stores.commands.complete(auth.sub, input.commandId, reportAt(input, runtime.clock.now()));
  if (answer.outcome === 'not_found') throw new ApiError('not_found', 'no such command for this agent');
  if (answer.outcome === 'stale_attempt') {
    // A report on an attempt that is over (the execution was retried since): nothing changed.
    const named = input.report.attempt === undefined ? 'the attempt reported on' : `attempt ${input.report.attempt}`;
    throw new ApiError('conflict', `${named} is over: the command is at attempt ${answer.attempt}`);
  }
  if (answer.outcome === 'refused' && isTerminal(answer.status)) {
    const final = input.report.status !== 'in_progress';
    const written = answer.status === 'completed' || answer.status === 'failed' || answer.status === 'rejected';
    const detail = final && written ? ', with a different result' : answer.status === 'expired' ? ' before a result arrived' : '';
    throw terminalConflict(answer.status, detail);
  }
  if (answer.outcome === 'accepted' && answer.status !== 'in_progress') {
    count(context, answer.status === 'completed' ? METRIC.commandsCompleted : METRIC.commandsFailed);
  }
  return json(200, { command_id: input.commandId, status: answer.status, accepted: true });
}

export const handler = middy(postResults, chainOptions).use(edge()).use(authenticate(ROUTES.PostResults)).use(jsonBody(ROUTES.PostResults));

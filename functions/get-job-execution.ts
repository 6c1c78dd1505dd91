/**
 * GET /api/jobs/{jobId}/executions/{agentId} (operators): one target of a job as the listing shows
 * it, with its execution's history: every change of its status in order (delivered, each
 * in_progress update, its result or cancel, and a timeout or expiry at its instant), the 50 most
 * recent. 404 for no such job, and for an agent that is not one of its targets.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { executionDetailView } from '../lib/jobs/views.ts';
import { ApiError } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { agentIdParam, jobIdParam } from '../lib/http/validation.ts';

export async function getJobExecution(event: APIGatewayProxyEventV2, { stores, runtime }: AuthContext) {
  const jobId = jobIdParam(event.pathParameters?.jobId);
  const agentId = agentIdParam(event.pathParameters?.agentId);
  const now = runtime.clock.now();
  const found = await stores.jobs.execution(jobId, agentId, now);
  if (found.outcome !== 'ok') {
    throw new ApiError('not_found', found.outcome === 'not_found' ? 'no such job' : 'this agent is not a target of the job');
  }
  return json(200, executionDetailView(found.entry, found.history, now));
}

export const handler = middy(getJobExecution, chainOptions).use(edge()).use(authenticate(ROUTES.GetJobExecution));

/**
 * POST /api/jobs/{jobId}/pause (operators): hold a job. While it is paused no target gets its
 * first delivery; executions already delivered go on and may report, and time still ends them
 * (timeouts, the expiry). One write of the job whatever its size. Pausing a paused job answers
 * it unchanged; a job that has ended is 409.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { isJobEnded } from '../lib/jobs/rules.ts';
import { jobView } from '../lib/jobs/views.ts';
import { ApiError, jobEndedConflict } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, edge, json, jsonBody } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { jobIdParam, pauseInput } from '../lib/http/validation.ts';

export async function pauseJob(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { stores, runtime } = context;
  const jobId = jobIdParam(event.pathParameters?.jobId);
  const { reason } = pauseInput(event.body);
  const answer = await stores.jobs.pause(jobId, { paused: true, reason, at: runtime.clock.now() });
  if (answer.outcome === 'not_found') throw new ApiError('not_found', 'no such job');
  if (answer.outcome === 'refused') {
    const { status } = answer.job;
    // A refused pause always meets an ended job; one not ended here would be a store bug, answered as such.
    if (!isJobEnded(status)) throw new Error(`the store refused to pause a job ${status}`);
    throw jobEndedConflict(status);
  }
  return json(200, jobView(answer.job));
}

export const handler = middy(pauseJob, chainOptions)
  .use(edge())
  .use(authenticate(ROUTES.PauseJob))
  .use(jsonBody(ROUTES.PauseJob, { optional: true }));

/**
 * POST /api/jobs/{jobId}/resume (operators): a paused job goes on, in progress again: its
 * targets get their deliveries on their next polls, under its rollout. One write of the job
 * whatever its size. Resuming a job that is not paused answers it unchanged; a job that has
 * ended is 409.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { isJobEnded } from '../lib/jobs/rules.ts';
import { jobView } from '../lib/jobs/views.ts';
import { ApiError, jobEndedConflict } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, edge, json, jsonBody } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { jobIdParam, pauseInput } from '../lib/http/validation.ts';

export async function resumeJob(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { stores, runtime } = context;
  const jobId = jobIdParam(event.pathParameters?.jobId);
  const { reason } = pauseInput(event.body);
  const answer = await stores.jobs.pause(jobId, { paused: false, reason, at: runtime.clock.now() });
  if (answer.outcome === 'not_found') throw new ApiError('not_found', 'no such job');
  if (answer.outcome === 'refused') {
    const { status } = answer.job;
    // A refused resume always meets an ended job; one not ended here would be a store bug, answered as such.
    if (!isJobEnded(status)) throw new Error(`the store refused to resume a job ${status}`);
    throw jobEndedConflict(status);
  }
  // wake: a resume makes the job's held-back targets deliverable again (their agents' next polls).
  return json(200, jobView(answer.job));
}

export const handler = middy(resumeJob, chainOptions)
  .use(edge())
  .use(authenticate(ROUTES.ResumeJob))
  .use(jsonBody(ROUTES.ResumeJob, { optional: true }));

/**
 * POST /api/jobs/{jobId}/cancel (operators): stop a job in progress. Every execution not yet
 * delivered is canceled and never delivered; with `force`, delivered and in-progress ones too
 * (their agents learn it from the 409 on their next report). A job that has ended is 409.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { isJobEnded } from '../lib/jobs/rules.ts';
import { jobView } from '../lib/jobs/views.ts';
import { ApiError, jobEndedConflict } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, json, jsonBody, METRIC } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { jobCancelInput, jobIdParam } from '../lib/http/validation.ts';

export async function cancelJob(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { stores, runtime } = context;
  const jobId = jobIdParam(event.pathParameters?.jobId);
  const { reason, force } = jobCancelInput(event.body);
  const answer = await stores.jobs.cancel(jobId, { reason, force, at: runtime.clock.now() });
  if (answer.outcome === 'not_found') throw new ApiError('not_found', 'no such job');
  if (answer.outcome === 'refused') {
    const { status } = answer.job;
    // A refused cancel always meets an ended job; one not ended here would be a store bug, answered as such.
    if (!isJobEnded(status)) throw new Error(`the store refused to cancel a job ${status}`);
    throw jobEndedConflict(status);
  }
  count(context, METRIC.jobsCanceled);
  return json(200, jobView(answer.job));
}

export const handler = middy(cancelJob, chainOptions)
  .use(edge())
  .use(authenticate(ROUTES.CancelJob))
  .use(jsonBody(ROUTES.CancelJob, { optional: true }));

/** GET /api/jobs/{jobId} (operators): a job with its counts, exact at the instant of the read (one store command whatever the job's size). */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { jobView } from '../lib/jobs/views.ts';
import { ApiError } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { jobIdParam } from '../lib/http/validation.ts';

export async function getJob(event: APIGatewayProxyEventV2, { stores, runtime }: AuthContext) {
  const jobId = jobIdParam(event.pathParameters?.jobId);
  const job = await stores.jobs.get(jobId, runtime.clock.now());
  if (job === undefined) throw new ApiError('not_found', 'no such job');
  return json(200, jobView(job));
}

export const handler = middy(getJob, chainOptions).use(edge()).use(authenticate(ROUTES.GetJob));

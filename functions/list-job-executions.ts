/**
 * GET /api/jobs/{jobId}/executions[?status=a,b&limit=N&cursor=C] (operators): the job's targets
 * with their execution's state, in target order (never reordered, only appended to), a page at a
 * time. A target whose execution was never delivered has none yet: `command_id` null. A page
 * examines at most PAGE_BUDGET targets whatever the filter matches (lifecycle.budgetedPage), so
 * it may hold fewer than `limit`, even none, with a next cursor; null is the end.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { encodeCursor } from '../lib/groups/membership.ts';
import { executionView } from '../lib/jobs/views.ts';
import { ApiError } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { cursorParam, jobIdParam, limitParam, statusFilterParam } from '../lib/http/validation.ts';

export async function listJobExecutions(event: APIGatewayProxyEventV2, { stores, runtime }: AuthContext) {
  const jobId = jobIdParam(event.pathParameters?.jobId);
  const query = event.queryStringParameters ?? {};
  const statuses = statusFilterParam(query.status);
  const limit = limitParam(query.limit, 50, 100);
  const after = cursorParam(query.cursor);
  const now = runtime.clock.now();
  const page = await stores.jobs.executions(jobId, { statuses, limit, after }, now);
  if (page === undefined) throw new ApiError('not_found', 'no such job');
  return json(200, {
    job_id: jobId,
    executions: page.executions.map((entry) => executionView(entry, now)),
    next_cursor: page.nextAfter === undefined ? null : encodeCursor(page.nextAfter),
  });
}

export const handler = middy(listJobExecutions, chainOptions).use(edge()).use(authenticate(ROUTES.ListJobExecutions));

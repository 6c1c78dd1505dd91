/**
 * GET /api/jobs[?status=a,b&limit=N&cursor=C] (operators): jobs, newest first, a page at a time.
 * A page examines at most JOB_PAGE_BUDGET jobs whatever the filter matches, so it may hold fewer
 * than `limit`, even none, with a next cursor; null is the end.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { encodeCursor } from '../lib/groups/membership.ts';
import { jobView } from '../lib/jobs/views.ts';
import { type AuthContext, authenticate, chainOptions, edge, json } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { cursorParam, jobStatusFilterParam, limitParam } from '../lib/http/validation.ts';

export async function listJobs(event: APIGatewayProxyEventV2, { stores, runtime }: AuthContext) {
  const query = event.queryStringParameters ?? {};
  const statuses = jobStatusFilterParam(query.status);
  const limit = limitParam(query.limit, 50, 100);
  // The cursor holds the sequence of the last job the page examined; the next page starts before it.
  const before = cursorParam(query.cursor);
  const page = await stores.jobs.list({ statuses, limit, before }, runtime.clock.now());
  return json(200, {
    jobs: page.jobs.map(jobView),
    next_cursor: page.nextBefore === undefined ? null : encodeCursor(page.nextBefore),
  });
}

export const handler = middy(listJobs, chainOptions).use(edge()).use(authenticate(ROUTES.ListJobs));

/**
 * POST /api/jobs (operators): one command for many agents, named and through groups. The store
 * writes the job and its target set in one step, never one record per agent: each target's
 * execution is made in that agent's own poll. With an Idempotency-Key, the same request again
 * within RESULT_RETENTION_SECONDS answers the original 201 byte for byte (the job as it was
 * created, nothing added); another request under that key is 422.
 */
import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { JobSpec } from '../lib/jobs/model.ts';
import { jobView } from '../lib/jobs/views.ts';
import { ApiError } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, json, jsonBody, METRIC } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { idempotencyKeyHeader, jobFingerprint, jobInput } from '../lib/http/validation.ts';

export async function createJob(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { auth, stores, runtime } = context;
  const input = jobInput(event.body);
  const key = idempotencyKeyHeader(event.headers?.['idempotency-key']);
  const now = runtime.clock.now();
  const spec: JobSpec = {
    jobId: randomUUID(),
    command: input.command,
    args: input.args,
    targets: { agents: input.agents, groups: input.groups },
    createdAt: now,
    expiresAt: now + (input.ttlSeconds ?? runtime.config.commandTtlSeconds) * 1000,
    ...(input.timeoutSeconds === undefined ? {} : { timeoutMs: input.timeoutSeconds * 1000 }),
    continuous: input.continuous,
    ...(input.maxPerMinute === undefined ? {} : { rollout: { maxPerMinute: input.maxPerMinute } }),
    ...(input.abort === undefined ? {} : { abort: input.abort }),
    ...(input.description === undefined ? {} : { description: input.description }),
  };
  const idempotency = key === undefined ? undefined : { sub: auth.sub, key, fingerprint: jobFingerprint(input) };
  const answer = await stores.jobs.create(spec, idempotency);
  if (answer.outcome === 'mismatch') {
    throw new ApiError('unprocessable', 'this Idempotency-Key was already used with a different request');
  }
  if (answer.outcome === 'created') count(context, METRIC.jobsCreated);
  return json(201, jobView(answer.job), { Location: `/api/jobs/${answer.job.spec.jobId}` });
}

export const handler = middy(createJob, chainOptions).use(edge()).use(authenticate(ROUTES.CreateJob)).use(jsonBody(ROUTES.CreateJob));

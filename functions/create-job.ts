/**
 * POST /api/jobs (operators): one command for many agents, named and through groups. The store
 * writes the job and its target set, never one record per agent: each target's execution is made
 * in that agent's own poll (on Redis, a job over many members is written in bounded steps, and
 * answered once written; docs/jobs.md). With an Idempotency-Key, the same request again within
 * RESULT_RETENTION_SECONDS answers the original 201 byte for byte (the job as it was created,
 * nothing added), and finishes a create that an earlier try began; another request under that
 * key is 422. Targets are counted before anything is written: over MAX_JOB_TARGETS is 400, none
 * (a job that is not continuous over empty groups) is 422 no_targets.
 */
import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type JobSpec, MAX_JOB_TARGETS } from '../lib/jobs/model.ts';
import { jobView } from '../lib/jobs/views.ts';
import { ApiError, badRequest } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, json, jsonBody, METRIC } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { idempotencyKeyHeader, jobFingerprint, jobInput } from '../lib/http/validation.ts';

export async function createJob(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { auth, stores, runtime } = context;
  const now = runtime.clock.now();
  const input = jobInput(event.body, now);
  const key = idempotencyKeyHeader(event.headers?.['idempotency-key']);
  // A scheduled job's ttl counts from its start: what it delivers lives as long as any job's.
  const from = Math.max(now, input.schedule?.startAt ?? now);
  const spec: JobSpec = {
    jobId: randomUUID(),
    command: input.command,
    args: input.args,
    targets: { agents: input.agents, groups: input.groups },
    createdAt: now,
    expiresAt: from + (input.ttlSeconds ?? runtime.config.commandTtlSeconds) * 1000,
    ...(input.timeoutSeconds === undefined ? {} : { timeoutMs: input.timeoutSeconds * 1000 }),
    continuous: input.continuous,
    ...(input.rollout === undefined ? {} : { rollout: input.rollout }),
    ...(input.abort === undefined ? {} : { abort: input.abort }),
    ...(input.schedule === undefined ? {} : { schedule: input.schedule }),
    ...(input.description === undefined ? {} : { description: input.description }),
  };
  const idempotency = key === undefined ? undefined : { sub: auth.sub, key, fingerprint: jobFingerprint(input) };
  const answer = await stores.jobs.create(spec, idempotency);
  if (answer.outcome === 'mismatch') {
    throw new ApiError('unprocessable', 'this Idempotency-Key was already used with a different request');
  }
  if (answer.outcome === 'too_many_targets') {
    throw badRequest(
      `the job would have up to ${answer.counted} targets (its groups' members and its named agents added up); the most is ${MAX_JOB_TARGETS}`,
    );
  }
  if (answer.outcome === 'no_targets') {
    throw new ApiError(
      'no_targets',
      'the targets resolve to no agent: the groups named have no members (a job that is not continuous needs one)',
    );
  }
  if (answer.outcome === 'created') count(context, METRIC.jobsCreated);
  return json(201, jobView(answer.job), { Location: `/api/jobs/${answer.job.spec.jobId}` });
}

export const handler = middy(createJob, chainOptions).use(edge()).use(authenticate(ROUTES.CreateJob)).use(jsonBody(ROUTES.CreateJob));

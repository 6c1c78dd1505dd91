/**
 * POST /api/jobs (operators): one command for many agents, named and through groups. The store
 * writes the job and its target set, never one record per agent: each target's execution is made
 * in that agent's own poll (on Redis, a job over many members is written in bounded steps, and
 * answered once written; docs/jobs.md). With an Idempotency-Key, the same request again within
 * RESULT_RETENTION_SECONDS answers the original 201 byte for byte (the job as it was created,
 * nothing added), and finishes a create that an earlier try began; another request under that
 * key is 422. Targets are counted before anything is written: over MAX_JOB_TARGETS is 400, none
 * (a job that is not continuous over empty groups) is 422 no_targets.
 *
 * With `?dry_run=true`: the same checks and the same refusals, then 200 with what the create would
 * target now (dryRunView), and nothing written: no job, no Idempotency-Key, no count.
 */
import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type JobSpec, MAX_JOB_TARGETS } from '../lib/jobs/model.ts';
import { dryRunView, jobView } from '../lib/jobs/views.ts';
import { ApiError, badRequest } from '../lib/http/errors.ts';
import { type AuthContext, authenticate, chainOptions, count, edge, json, jsonBody, METRIC } from '../lib/http/edge.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { dryRunParam, idempotencyKeyHeader, type JobInput, jobFingerprint, jobInput } from '../lib/http/validation.ts';
import { wake } from '../lib/push/wake.ts';

export async function createJob(event: APIGatewayProxyEventV2, context: AuthContext) {
  const { auth, stores, runtime } = context;
  const now = runtime.clock.now();
  const input = jobInput(event.body, now);
  const key = idempotencyKeyHeader(event.headers?.['idempotency-key']);
  if (dryRunParam(event.queryStringParameters?.dry_run)) return dryRun(input, context);
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
    ...(input.retry === undefined ? {} : { retry: input.retry }),
    ...(input.description === undefined ? {} : { description: input.description }),
    createdBy: auth.sub,
  };
  const idempotency = key === undefined ? undefined : { sub: auth.sub, key, fingerprint: jobFingerprint(input) };
  const answer = await stores.jobs.create(spec, idempotency);
  if (answer.outcome === 'mismatch') {
    throw new ApiError('unprocessable', 'this Idempotency-Key was already used with a different request');
  }
  if (answer.outcome === 'too_many_targets' || answer.outcome === 'no_targets') throw refusal(answer);
  if (answer.outcome === 'created') {
    count(context, METRIC.jobsCreated);
    // One task: the wake function walks the targets in bounded pages (docs/push.md#the-fan-out).
    await wake(context, { kind: 'job', jobId: answer.job.spec.jobId, after: 0 });
  }
  return json(201, jobView(answer.job), { Location: `/api/jobs/${answer.job.spec.jobId}` });
}

/** The dry run: the create's own count and refusals (one read script on Redis), nothing written. */
async function dryRun(input: JobInput, context: AuthContext) {
  const targets = { agents: input.agents, groups: input.groups };
  const answer = await context.stores.jobs.dryRun(targets, input.continuous);
  if (answer.outcome !== 'ok') throw refusal(answer);
  return json(200, dryRunView(answer, targets, input.rollout?.maxPerMinute));
}

/** A create refused for its targets, dry run or not: over MAX_JOB_TARGETS (400), or none (422). */
function refusal(answer: { outcome: 'too_many_targets'; counted: number } | { outcome: 'no_targets' }): ApiError {
  if (answer.outcome === 'no_targets') {
    return new ApiError(
      'no_targets',
      'the targets resolve to no agent: the groups named have no members (a job that is not continuous needs one)',
    );
  }
  return badRequest(
    `the job would have up to ${answer.counted} targets (its groups' members and its named agents added up); the most is ${MAX_JOB_TARGETS}`,
  );
}

export const handler = middy(createJob, chainOptions).use(edge()).use(authenticate(ROUTES.CreateJob)).use(jsonBody(ROUTES.CreateJob));

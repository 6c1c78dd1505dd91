/**
 * POST /api/jobs?dry_run=true on both stores, through the real handler: the targets a create
 * would have now (told apart, each group's members, the agents named, the rollout's length), the
 * create's own refusals, and nothing written: on Redis the runtime's keys are the same before and
 * after (the Idempotency-Key included), in memory no job appears.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as createJob } from '../../functions/create-job.ts';
import { DRY_RUN_EXACT_TARGETS, MAX_JOB_AGENTS } from '../../lib/jobs/model.ts';
import { invoke } from '../helpers/lambda.ts';
import { type StoreTarget, storeTargets, type TestRuntime } from '../helpers/targets.ts';
import { signToken } from '../helpers/tokens.ts';

const fresh = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;

describe.each(storeTargets('dry-run'))('a dry run on the $name store', (target: StoreTarget) => {
  let rt: TestRuntime;
  let operator: string;
  beforeEach(async () => {
    rt = target.use();
    operator = await signToken({ sub: 'ops-1', scope: 'admin:jobs' });
  });

  const dryRun = (body: unknown, headers: Record<string, string> = {}, query: Record<string, string> = { dry_run: 'true' }) =>
    invoke(createJob, { method: 'POST', path: '/api/jobs', token: operator, body, query, headers });
  const join = async (group: string, ...agents: string[]) => {
    for (const agent of agents) await rt.stores.unchecked.groups.join(group, agent, rt.clock.now());
  };
  /** Every key of this runtime, sorted (Redis), or the jobs listed (memory): what a write would change. */
  const written = async () => {
    if (target.name === 'redis') return (await target.redis.keys(`${rt.config.redisKeyPrefix}*`)).sort();
    return (await rt.stores.unchecked.jobs.list({ statuses: undefined, limit: 10, before: 0 }, rt.clock.now())).jobs;
  };

  it('counts each agent once over overlapping groups and named agents, shows each group and the rollout in minutes', async () => {
    const [web, canary] = [fresh('web'), fresh('canary')];
    await join(web, 'a-1', 'a-2', 'a-3');
    await join(canary, 'a-3', 'a-4');

    const answer = await dryRun({
      command: 'restart',
      targets: { agents: ['a-1', 'a-9'], groups: [web, canary] },
      rollout: { max_per_minute: 2 },
    });

    expect(answer.status).toBe(200);
    expect(answer.body).toStrictEqual({
      dry_run: true,
      targets: 5,
      targets_exact: true,
      by_group: { [web]: 3, [canary]: 2 },
      agents_listed: 2,
      estimated_rollout_minutes: 3,
    });
  });

  it('answers null minutes without a rollout, and a group without members as 0', async () => {
    const [web, empty] = [fresh('web'), fresh('empty')];
    await join(web, 'b-1');

    const answer = await dryRun({ command: 'restart', targets: { groups: [web, empty] } });

    expect(answer.body).toStrictEqual({
      dry_run: true,
      targets: 1,
      targets_exact: true,
      by_group: { [web]: 1, [empty]: 0 },
      agents_listed: 0,
      estimated_rollout_minutes: null,
    });
  });

  it(`gives the create's count, an upper bound, past ${DRY_RUN_EXACT_TARGETS} counted`, async () => {
    const agents = Array.from({ length: MAX_JOB_AGENTS }, (_, i) => `c-${i}`);
    const group = fresh('one');
    await join(group, 'c-0');

    const answer = await dryRun({ command: 'restart', targets: { agents, groups: [group] }, rollout: { max_per_minute: 1000 } });

    expect(answer.body).toMatchObject({ targets: MAX_JOB_AGENTS + 1, targets_exact: false, by_group: { [group]: 1 } });
    expect(answer.body.estimated_rollout_minutes).toBe(2);
  });

  it('refuses targets that resolve to no agent with the create own 422, and lets a continuous job start empty', async () => {
    const empty = fresh('empty');

    const refused = await dryRun({ command: 'restart', targets: { groups: [empty] } });
    const continuous = await dryRun({ command: 'restart', targets: { groups: [empty] }, continuous: true, rollout: { max_per_minute: 5 } });

    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({
      error: 'no_targets',
      error_description: 'the targets resolve to no agent: the groups named have no members (a job that is not continuous needs one)',
    });
    expect(continuous.status).toBe(200);
    expect(continuous.body).toMatchObject({ targets: 0, by_group: { [empty]: 0 }, estimated_rollout_minutes: 0 });
  });

  it('checks the body as a create does, and dry_run itself', async () => {
    const missing = await dryRun({ targets: { agents: ['a'] } });
    const created = await invoke(createJob, { method: 'POST', path: '/api/jobs', token: operator, body: { targets: { agents: ['a'] } } });
    const odd = await dryRun({ command: 'x', targets: { agents: ['a'] } }, {}, { dry_run: 'yes' });

    expect(missing.status).toBe(400);
    expect(missing.body.error_description).toBe(created.body.error_description);
    expect(odd.status).toBe(400);
    expect(odd.body).toMatchObject({ error: 'invalid_request', error_description: 'dry_run must be true or false' });
  });

  it('writes nothing, its Idempotency-Key neither: a create may use that key for another body afterwards', async () => {
    const group = fresh('web');
    await join(group, 'd-1', 'd-2');
    const before = await written();
    const key = fresh('key');

    const first = await dryRun({ command: 'restart', targets: { groups: [group] } }, { 'idempotency-key': key });
    const second = await dryRun({ command: 'upgrade', targets: { agents: ['d-3'] } }, { 'idempotency-key': key });

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(await written()).toEqual(before);
    const created = await invoke(createJob, {
      method: 'POST',
      path: '/api/jobs',
      token: operator,
      body: { command: 'stop', targets: { groups: [group] } },
      headers: { 'idempotency-key': key },
    });
    expect(created.status).toBe(201);
    const dryAfter = await dryRun({ command: 'restart', targets: { groups: [group] } }, {}, { dry_run: 'false' });
    expect(dryAfter.status).toBe(201);
  });
});

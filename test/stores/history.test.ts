/**
 * A command's history and a job execution's, on both stores through the real handlers, with the
 * clock moved to the exact instants: every written change in order (first delivery, each
 * in_progress update with its details, the result or cancel), what time ends (timed_out,
 * expired) and a forced job cancel added at the read, the 50 most recent kept, and
 * GET /api/jobs/{jobId}/executions/{agentId} as the listing shows the target, with its 404s. On
 * Redis: the history expires with its command and keeps 51 entries at most.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as getCommand } from '../../functions/get-command.ts';
import { handler as getJobExecution } from '../../functions/get-job-execution.ts';
import { handler as listJobExecutions } from '../../functions/list-job-executions.ts';
import { HISTORY_KEPT } from '../../lib/commands/history.ts';
import type { JobSpec } from '../../lib/jobs/model.ts';
import { redisKeys } from '../../lib/store/keys.ts';
import { invoke } from '../helpers/lambda.ts';
import { type StoreTarget, storeTargets, type TestRuntime } from '../helpers/targets.ts';
import { signToken } from '../helpers/tokens.ts';

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

describe.each(storeTargets('history'))('history on the $name store', (target: StoreTarget) => {
  let rt: TestRuntime;
  let t0: number;
  let ops: string;
  let agent: string;
  beforeEach(async () => {
    rt = target.use();
    t0 = rt.clock.now();
    ops = await signToken({ sub: 'ops-1', scope: 'admin:commands admin:jobs' });
    agent = `agent-${randomUUID().slice(0, 8)}`;
  });

  const at = (ms: number) => {
    rt.clock.set(t0 + ms);
    return t0 + ms;
  };
  const commands = () => rt.stores.unchecked.commands;
  const enqueue = async (extra: { timeoutMs?: number; ttlMs?: number } = {}) => {
    const commandId = randomUUID();
    await commands().enqueue({
      commandId,
      agentId: agent,
      command: 'restart',
      args: {},
      createdAt: rt.clock.now(),
      expiresAt: rt.clock.now() + (extra.ttlMs ?? HOUR),
      ...(extra.timeoutMs === undefined ? {} : { timeoutMs: extra.timeoutMs }),
    });
    return commandId;
  };
  const progress = (commandId: string, details?: unknown) =>
    commands().complete(agent, commandId, {
      status: 'in_progress',
      statusDetailsJson: details === undefined ? undefined : JSON.stringify(details),
      timeoutMs: undefined,
      at: rt.clock.now(),
    });
  const finish = (commandId: string, status: 'completed' | 'failed') =>
    commands().complete(agent, commandId, { status, resultJson: '{"exit_code":1}', completedAt: rt.clock.now() });
  const read = (commandId: string) =>
    invoke(getCommand, {
      path: `/api/agents/${agent}/commands/${commandId}`,
      routeKey: 'GET /api/agents/{agentId}/commands/{commandId}',
      pathParameters: { agentId: agent, commandId },
      token: ops,
    });
  const readExecution = (jobId: string, agentId = agent) =>
    invoke(getJobExecution, {
      path: `/api/jobs/${jobId}/executions/${agentId}`,
      routeKey: 'GET /api/jobs/{jobId}/executions/{agentId}',
      pathParameters: { jobId, agentId },
      token: ops,
    });

  it('lists every written change in order: the first delivery, each update with its details, the result', async () => {
    const id = await enqueue();
    at(1_000);
    await commands().fetch(agent, 10, rt.clock.now());
    at(2_000);
    await commands().fetch(agent, 10, rt.clock.now()); // a redelivery is no change
    at(3_000);
    await progress(id, { step: 'download', percent: 40 });
    at(4_000);
    await progress(id);
    at(5_000);
    await finish(id, 'failed');

    const answer = await read(id);

    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'failed', delivery_count: 2, history_truncated: false });
    expect(answer.body.history).toStrictEqual([
      { status: 'delivered', at: iso(t0 + 1_000), attempt: 1 },
      { status: 'in_progress', at: iso(t0 + 3_000), attempt: 1, status_details: { step: 'download', percent: 40 } },
      { status: 'in_progress', at: iso(t0 + 4_000), attempt: 1 },
      { status: 'failed', at: iso(t0 + 5_000), attempt: 1 },
    ]);
  });

  it("writes an operator's cancel with its reason, and nothing for a refused report after it", async () => {
    const id = await enqueue();
    at(1_000);
    await commands().cancel(agent, id, { reason: 'wrong host', at: rt.clock.now() });
    at(2_000);
    expect(await finish(id, 'completed')).toEqual({ outcome: 'refused', status: 'canceled' });

    expect((await read(id)).body.history).toStrictEqual([{ status: 'canceled', at: iso(t0 + 1_000), attempt: 1, reason: 'wrong host' }]);
  });

  it('ends with timed_out at the deadline and expired at the expiry, from that very millisecond, though no one wrote them', async () => {
    const timed = await enqueue({ timeoutMs: 10_000 });
    const lapsing = await enqueue({ ttlMs: 20_000 });
    at(1_000);
    await commands().fetch(agent, 1, rt.clock.now());

    at(10_999);
    expect((await read(timed)).body.history.map((entry: { status: string }) => entry.status)).toEqual(['delivered']);
    at(11_000);
    expect((await read(timed)).body.history).toStrictEqual([
      { status: 'delivered', at: iso(t0 + 1_000), attempt: 1 },
      { status: 'timed_out', at: iso(t0 + 11_000), attempt: 1 },
    ]);
    at(19_999);
    expect((await read(lapsing)).body.history).toEqual([]);
    at(20_000);
    const expired = await read(lapsing);
    expect(expired.body.status).toBe('expired');
    expect(expired.body.history).toStrictEqual([{ status: 'expired', at: iso(t0 + 20_000), attempt: 1 }]);
  });

  it(`keeps the ${HISTORY_KEPT} most recent changes and says that older ones were dropped`, async () => {
    const id = await enqueue();
    at(1);
    await commands().fetch(agent, 10, rt.clock.now());
    for (let i = 1; i <= HISTORY_KEPT; i += 1) {
      at(1 + i);
      await progress(id, { n: i });
    }
    const full = await read(id);
    expect(full.body.history_truncated).toBe(true); // 51 changes so far
    expect(full.body.history).toHaveLength(HISTORY_KEPT);
    expect(full.body.history[0]).toMatchObject({ status: 'in_progress', status_details: { n: 1 } });
    at(100);
    await finish(id, 'completed');

    const last = await read(id);

    expect(last.body.history).toHaveLength(HISTORY_KEPT);
    expect(last.body.history[0]).toMatchObject({ status_details: { n: 2 } });
    expect(last.body.history.at(-1)).toStrictEqual({ status: 'completed', at: iso(t0 + 100), attempt: 1 });
    if (target.name === 'redis') {
      const key = redisKeys(rt.config.redisKeyPrefix).history(agent, id);
      expect(await target.redis.lLen(key)).toBe(HISTORY_KEPT + 1);
      const [history, command] = await Promise.all([
        target.redis.pExpireTime(key),
        target.redis.pExpireTime(redisKeys(rt.config.redisKeyPrefix).command(agent, id)),
      ]);
      expect(history).toBe(command);
    }
  });

  describe('of a job execution', () => {
    const spec = (agents: string[], extra: Partial<JobSpec> = {}): JobSpec => ({
      jobId: randomUUID(),
      command: 'upgrade',
      args: {},
      targets: { agents, groups: [] },
      createdAt: rt.clock.now(),
      expiresAt: rt.clock.now() + HOUR,
      continuous: false,
      ...extra,
    });

    it('answers the target as the listing shows it, with the history of its execution', async () => {
      const job = spec([agent, 'other-agent'], { timeoutMs: 60_000 });
      await rt.stores.unchecked.jobs.create(job);
      at(1_000);
      await commands().fetch(agent, 10, rt.clock.now());
      at(2_000);
      await progress(job.jobId, { phase: 'install' });
      at(3_000);

      const answer = await readExecution(job.jobId);
      const pending = await readExecution(job.jobId, 'other-agent');

      const listed = await invoke(listJobExecutions, {
        path: `/api/jobs/${job.jobId}/executions`,
        pathParameters: { jobId: job.jobId },
        token: ops,
      });
      expect(answer.status).toBe(200);
      const { history, history_truncated, ...item } = answer.body;
      expect(item).toStrictEqual(listed.body.executions.find((entry: { agent_id: string }) => entry.agent_id === agent));
      expect({ history, history_truncated }).toStrictEqual({
        history: [
          { status: 'delivered', at: iso(t0 + 1_000), attempt: 1 },
          { status: 'in_progress', at: iso(t0 + 2_000), attempt: 1, status_details: { phase: 'install' } },
        ],
        history_truncated: false,
      });
      expect(pending.body).toMatchObject({ agent_id: 'other-agent', status: 'pending', command_id: null, history: [] });
    });

    it("adds the forced cancel that ends a delivered execution, and a never delivered target's cancel with its reason", async () => {
      const job = spec([agent, 'never-polled']);
      await rt.stores.unchecked.jobs.create(job);
      at(1_000);
      await commands().fetch(agent, 10, rt.clock.now());
      at(2_000);
      await rt.stores.unchecked.jobs.cancel(job.jobId, { reason: 'bad build', force: true, at: rt.clock.now() });
      at(3_000);

      const delivered = await readExecution(job.jobId);
      const never = await readExecution(job.jobId, 'never-polled');

      expect(delivered.body.history).toStrictEqual([
        { status: 'delivered', at: iso(t0 + 1_000), attempt: 1 },
        { status: 'canceled', at: iso(t0 + 2_000), attempt: 1, reason: 'bad build' },
      ]);
      expect(never.body).toMatchObject({ status: 'canceled', command_id: null });
      expect(never.body.history).toStrictEqual([{ status: 'canceled', at: iso(t0 + 2_000), attempt: 1, reason: 'bad build' }]);
    });

    it('lists why each one failed: the latest status_details, and the first 256 characters of a failed or rejected result', async () => {
      const [failing, rejecting, slow, fine] = ['f-1', 'r-1', 's-1', 'c-1'];
      const job = spec([failing, rejecting, slow, fine, 'waiting'], { timeoutMs: 60_000 });
      await rt.stores.unchecked.jobs.create(job);
      at(1_000);
      for (const one of [failing, rejecting, slow, fine]) await commands().fetch(one, 10, rt.clock.now());
      const long = { log: `x${'😀'.repeat(300)}` }; // 300 characters of two UTF-16 units and four UTF-8 bytes each, one byte off
      const report = (agentId: string, status: 'completed' | 'failed' | 'rejected', result: unknown) =>
        commands().complete(agentId, job.jobId, { status, resultJson: JSON.stringify(result), completedAt: rt.clock.now() });
      at(2_000);
      await commands().complete(slow, job.jobId, {
        status: 'in_progress',
        statusDetailsJson: JSON.stringify({ step: 'migrate' }),
        timeoutMs: undefined,
        at: rt.clock.now(),
      });
      await commands().complete(failing, job.jobId, {
        status: 'in_progress',
        statusDetailsJson: JSON.stringify({ step: 'download' }),
        timeoutMs: undefined,
        at: rt.clock.now(),
      });
      await report(failing, 'failed', long);
      await report(rejecting, 'rejected', { reason: 'unsupported os' });
      await report(fine, 'completed', { ok: true });
      at(61_000); // slow's deadline: it timed out with no result

      const answer = await invoke(listJobExecutions, {
        path: `/api/jobs/${job.jobId}/executions`,
        pathParameters: { jobId: job.jobId },
        token: ops,
      });

      const byAgent = Object.fromEntries(answer.body.executions.map((item: { agent_id: string }) => [item.agent_id, item]));
      const excerpt = `{"log":"x${'😀'.repeat(247)}`;
      expect([...excerpt]).toHaveLength(256);
      expect(byAgent[failing]).toMatchObject({ status: 'failed', status_details: { step: 'download' }, result_excerpt: excerpt });
      expect(byAgent[rejecting]).toMatchObject({ status: 'rejected', status_details: null, result_excerpt: '{"reason":"unsupported os"}' });
      expect(byAgent[slow]).toMatchObject({ status: 'timed_out', status_details: { step: 'migrate' }, result_excerpt: null });
      expect(byAgent[fine]).toMatchObject({ status: 'completed', status_details: null });
      expect(byAgent[fine]).not.toHaveProperty('result_excerpt');
      expect(byAgent.waiting).toMatchObject({ status: 'pending', status_details: null, command_id: null });
      expect(byAgent.waiting).not.toHaveProperty('result_excerpt');
      // The store hands the listing no result whole, only its start.
      const page = await rt.stores.unchecked.jobs.executions(job.jobId, { statuses: ['failed'], limit: 10, after: 0 }, rt.clock.now());
      expect(page?.executions.map((entry) => [entry.record?.resultJson, entry.resultExcerpt])).toEqual([[undefined, excerpt]]);
    });

    it('answers 404 for no such job, and for an agent that is not a target', async () => {
      const job = spec([agent]);
      await rt.stores.unchecked.jobs.create(job);

      const outsider = await readExecution(job.jobId, 'not-a-target');
      const unknown = await readExecution(randomUUID());

      expect(outsider.status).toBe(404);
      expect(outsider.body).toMatchObject({ error: 'not_found', error_description: 'this agent is not a target of the job' });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ error: 'not_found', error_description: 'no such job' });
    });
  });
});

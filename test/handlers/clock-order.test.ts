/**
 * Order and time agree when the callers' clocks do not: each Lambda stamps changes with its own
 * clock while the store decides their order, so a request on a clock behind another's can come
 * after it. Through the real handlers, on each store, with the test clock moved backwards between
 * requests (a poll on a clock 5 s ahead, then a cancel, report or read on one 5 s behind): a job's
 * end (an operator's cancel, with and without force, or an abort) and a command's report or cancel
 * are stamped no earlier than the last change they follow, so no execution or command is shown
 * delivered or started after it ended, in the job, its executions listing, and its own read.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as cancelCommand } from '../../functions/cancel-command.ts';
import { handler as cancelJob } from '../../functions/cancel-job.ts';
import { handler as createJob } from '../../functions/create-job.ts';
import { handler as enqueueCommand } from '../../functions/enqueue-command.ts';
import { handler as getCommand } from '../../functions/get-command.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as getJob } from '../../functions/get-job.ts';
import { handler as listJobExecutions } from '../../functions/list-job-executions.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { invoke } from '../helpers/lambda.ts';
import { storeTargets, type TestRuntime } from '../helpers/targets.ts';
import { signToken } from '../helpers/tokens.ts';

const targets = storeTargets('clock-order');
const iso = (ms: number) => new Date(ms).toISOString();
/** How far the poll's clock is ahead of the clock of the request Redis orders after it. */
const AHEAD = 5_000;

interface Shown {
  readonly delivered_at?: string | null;
  readonly started_at?: string | null;
  readonly completed_at?: string | null;
  readonly updated_at?: string | null;
}

/** Every stamp shown is at or after the ones that came before it in the command's life. */
function expectInOrder(shown: Shown, label: string): void {
  const at = (value: string | null | undefined) => (value == null ? undefined : Date.parse(value));
  const delivered = at(shown.delivered_at);
  const started = at(shown.started_at);
  const completed = at(shown.completed_at);
  const updated = at(shown.updated_at);
  for (const [earlier, later, what] of [
    [delivered, started, 'started_at before delivered_at'],
    [delivered, completed, 'completed_at before delivered_at'],
    [started, completed, 'completed_at before started_at'],
    [delivered, updated, 'updated_at before delivered_at'],
    [completed, updated, 'updated_at before completed_at'],
  ] as const) {
    if (earlier !== undefined && later !== undefined) expect(later, `${label}: ${what}`).toBeGreaterThanOrEqual(earlier);
  }
}

describe.each(targets)('order and time on the $name store', (target) => {
  let rt: TestRuntime;
  let run: string;
  let operator: string;
  let t: number;
  const agentTokens = new Map<string, string>();

  beforeEach(async () => {
    rt = target.use();
    agentTokens.clear();
    run = randomUUID().slice(0, 8);
    t = rt.clock.now();
    operator = await signToken({ sub: 'ops-1', scope: 'admin:jobs admin:groups admin:commands' }, { now: Math.floor((t - 60_000) / 1000) });
  });

  const agentId = (n: number) => `agent-${run}-${n}`;
  const agentToken = async (id: string) => {
    const known = agentTokens.get(id);
    if (known !== undefined) return known;
    const made = await signToken({ sub: id, scope: 'agent:commands agent:results' }, { now: Math.floor((t - 60_000) / 1000) });
    agentTokens.set(id, made);
    return made;
  };
  /** Runs `request` with the clock at `at` (the clock of the Lambda that serves it). */
  const on = async <T>(at: number, request: () => Promise<T>): Promise<T> => {
    rt.clock.set(at);
    return request();
  };

  const createJobFor = async (body: Record<string, unknown>) => {
    const answer = await invoke(createJob, { method: 'POST', path: '/api/jobs', token: operator, body: { command: 'x', ...body } });
    expect(answer.status, answer.raw).toBe(201);
    return answer.body.job_id as string;
  };
  const readJob = (jobId: string) =>
    invoke(getJob, { routeKey: 'GET /api/jobs/{jobId}', path: `/api/jobs/${jobId}`, pathParameters: { jobId }, token: operator });
  const executions = (jobId: string) =>
    invoke(listJobExecutions, {
      routeKey: 'GET /api/jobs/{jobId}/executions',
      path: `/api/jobs/${jobId}/executions`,
      pathParameters: { jobId },
      token: operator,
    });
  const cancelTheJob = (jobId: string, body: unknown) =>
    invoke(cancelJob, {
      method: 'POST',
      routeKey: 'POST /api/jobs/{jobId}/cancel',
      path: `/api/jobs/${jobId}/cancel`,
      pathParameters: { jobId },
      token: operator,
      body,
    });
  const poll = async (id: string) => invoke(getCommands, { path: '/api/commands', token: await agentToken(id) });
  const report = async (id: string, body: unknown) =>
    invoke(postResults, { method: 'POST', path: '/api/results', token: await agentToken(id), body });
  const readCommand = (id: string, commandId: string) =>
    invoke(getCommand, {
      routeKey: 'GET /api/agents/{agentId}/commands/{commandId}',
      path: `/api/agents/${id}/commands/${commandId}`,
      pathParameters: { agentId: id, commandId },
      token: operator,
    });
  const enqueue = (id: string) =>
    invoke(enqueueCommand, {
      method: 'POST',
      path: `/api/agents/${id}/commands`,
      pathParameters: { agentId: id },
      token: operator,
      body: { command: 'deploy' },
    });
  const cancelCommandOf = (id: string, commandId: string) =>
    invoke(cancelCommand, {
      method: 'POST',
      path: `/api/agents/${id}/commands/${commandId}/cancel`,
      pathParameters: { agentId: id, commandId },
      token: operator,
    });

  describe("a job's cancel after a poll on a clock ahead", () => {
    it.each([false, true])('force %s: the end is stamped at the delivery, never before it', async (force) => {
      const [a, b] = [agentId(1), agentId(2)];
      const jobId = await createJobFor({ targets: { agents: [a, b] } });
      const delivered = await on(t + AHEAD, () => poll(a));
      expect(delivered.body.commands).toHaveLength(1);

      const canceled = await on(t, () => cancelTheJob(jobId, { force }));

      expect(canceled.status, canceled.raw).toBe(200);
      const end = iso(t + AHEAD);
      expect(canceled.body).toMatchObject({ status: 'canceled', completed_at: end, updated_at: end });
      const job = await on(t, () => readJob(jobId));
      expect(job.body).toMatchObject({ status: 'canceled', completed_at: end, updated_at: end });
      const listed = (await on(t, () => executions(jobId))).body.executions as (Shown & { agent_id: string; status: string })[];
      expect(listed.map((row) => [row.agent_id, row.status])).toEqual([
        [a, force ? 'canceled' : 'delivered'],
        [b, 'canceled'],
      ]);
      for (const row of listed) {
        expectInOrder(row, `listed ${row.agent_id}`);
        if (row.completed_at != null) expect(row.completed_at).toBe(end);
      }
      const own = await on(t, () => readCommand(a, jobId));
      expect(own.body).toMatchObject({ delivered_at: end, status: force ? 'canceled' : 'delivered' });
      expectInOrder(own.body, 'own read');
      if (force) expect(own.body.completed_at).toBe(end);
      // The report the agent sends next, on the slow clock, ends after its delivery (without force).
      const late = await on(t, () => report(a, { command_id: jobId, status: 'completed' }));
      expect(late.status).toBe(force ? 409 : 200);
      const after = await on(t, () => readCommand(a, jobId));
      expectInOrder(after.body, 'after the report');
      expect(Date.parse(after.body.completed_at)).toBeGreaterThanOrEqual(Date.parse(end));
    });
  });

  it('an abort reached on a clock behind a delivery is stamped at that delivery', async () => {
    const [a, b, c] = [agentId(1), agentId(2), agentId(3)];
    const jobId = await createJobFor({ targets: { agents: [a, b, c] }, abort: { failure_threshold_percent: 50, min_executed: 1 } });
    await on(t, () => poll(a));
    await on(t + AHEAD, () => poll(b));

    // a's failure, on the slow clock, crosses the threshold after b's delivery on the fast one.
    const failed = await on(t + 1_000, () => report(a, { command_id: jobId, status: 'failed' }));

    expect(failed.status, failed.raw).toBe(200);
    const job = await on(t + 1_000, () => readJob(jobId));
    expect(job.body).toMatchObject({ status: 'aborted', completed_at: iso(t + AHEAD) });
    const listed = (await on(t + 1_000, () => executions(jobId))).body.executions as (Shown & { agent_id: string; status: string })[];
    expect(listed.map((row) => [row.agent_id, row.status, row.delivered_at, row.completed_at])).toEqual([
      [a, 'failed', iso(t), iso(t + 1_000)],
      [b, 'delivered', iso(t + AHEAD), null],
      [c, 'canceled', null, iso(t + AHEAD)],
    ]);
    for (const row of listed) expectInOrder(row, `listed ${row.agent_id}`);
  });

  describe('a command delivered on a clock ahead', () => {
    const delivered = async (id: string) => {
      const commandId = (await on(t, () => enqueue(id))).body.command_id as string;
      expect((await on(t + AHEAD, () => poll(id))).body.commands).toHaveLength(1);
      return commandId;
    };

    it("an operator's cancel on a clock behind is stamped at the delivery", async () => {
      const a = agentId(1);
      const commandId = await delivered(a);

      const canceled = await on(t, () => cancelCommandOf(a, commandId));

      expect(canceled.status, canceled.raw).toBe(200);
      const own = await on(t, () => readCommand(a, commandId));
      expect(own.body).toMatchObject({ status: 'canceled', delivered_at: iso(t + AHEAD), completed_at: iso(t + AHEAD) });
      expectInOrder(own.body, 'canceled');
    });

    it('progress and a result on a clock behind are stamped at the last change', async () => {
      const a = agentId(1);
      const commandId = await delivered(a);

      expect((await on(t, () => report(a, { command_id: commandId, status: 'in_progress' }))).status).toBe(200);
      const started = await on(t, () => readCommand(a, commandId));
      expect(started.body).toMatchObject({ status: 'in_progress', started_at: iso(t + AHEAD), updated_at: iso(t + AHEAD) });
      expect((await on(t - 1_000, () => report(a, { command_id: commandId, status: 'completed' }))).status).toBe(200);

      const own = await on(t, () => readCommand(a, commandId));
      expect(own.body).toMatchObject({ status: 'completed', completed_at: iso(t + AHEAD) });
      expectInOrder(own.body, 'completed');
    });
  });
});

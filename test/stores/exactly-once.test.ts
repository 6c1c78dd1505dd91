/**
 * Exactly once under retries. @upstash/redis tries a request once more after a network error;
 * when the first try reached Redis and only its answer was lost, the retry must answer what the
 * first try answered and change nothing more. A fault proxy (real sockets, between the client
 * and the bridge) lets the first try of one store call run in Redis, resets the connection
 * instead of answering, and holds the client's retry while another client acts in between.
 *
 * Every mutating route runs the same scenario on both stores: the memory store has no network,
 * so there the request runs once and the step in between follows it (the invariant holds
 * trivially, and the expected end state is the same).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler as cancelCommand } from '../../functions/cancel-command.ts';
import { handler as cancelJob } from '../../functions/cancel-job.ts';
import { handler as pauseJob } from '../../functions/pause-job.ts';
import { handler as resumeJob } from '../../functions/resume-job.ts';
import { handler as createJob } from '../../functions/create-job.ts';
import { handler as deleteGroupMember } from '../../functions/delete-group-member.ts';
import { handler as enqueueCommand } from '../../functions/enqueue-command.ts';
import { handler as getCommand } from '../../functions/get-command.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as getConfig } from '../../functions/get-config.ts';
import { handler as getGroupMembers } from '../../functions/get-group-members.ts';
import { handler as getJob } from '../../functions/get-job.ts';
import { handler as postGroupMembers } from '../../functions/post-group-members.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { handler as postRevocations } from '../../functions/post-revocations.ts';
import { handler as putConfig } from '../../functions/put-config.ts';
import { handler as putGroupMember } from '../../functions/put-group-member.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { type Answer, invoke } from '../helpers/lambda.ts';
import { storeTargets, type TestRuntime } from '../helpers/targets.ts';
import { signToken } from '../helpers/tokens.ts';

const OPERATOR_SCOPES = 'admin:commands admin:config admin:revoke admin:groups admin:jobs';

/** A script run of the store (EVALSHA, or EVAL the first time a script is met). */
const isScript = (body: string) => /^\["eval/i.test(body);

describe.each(storeTargets('exactly-once'))('a retried write on the $name store', (target) => {
  let proxy: FaultProxy | undefined;
  let rt: TestRuntime;
  let agentId: string;
  let operator: string;
  const agentToken = (id = agentId) =>
    signToken({ sub: id, scope: 'agent:commands agent:results' }, { now: Math.floor(rt.clock.now() / 1000) });

  beforeAll(async () => {
    if (target.name === 'redis') proxy = await startFaultProxy(target.bridge.url);
  });
  afterAll(async () => {
    await proxy?.close();
  });
  beforeEach(async () => {
    rt = target.name === 'redis' && proxy ? target.use({ UPSTASH_REDIS_REST_URL: proxy.url }) : target.use();
    agentId = `agent-${Math.random().toString(36).slice(2, 10)}`;
    operator = await signToken({ sub: 'ops-1', scope: OPERATOR_SCOPES }, { now: Math.floor(rt.clock.now() / 1000) });
  });

  /**
   * Runs `request` with its first store script's answer lost on Redis (`meanwhile` runs between
   * the lost answer and the retry); on memory, `request` then `meanwhile`.
   */
  async function withLostAnswer(request: () => Promise<Answer>, meanwhile: () => Promise<unknown> = async () => {}) {
    if (proxy === undefined) {
      const answer = await request();
      await meanwhile();
      return answer;
    }
    const before = proxy.dropped;
    proxy.dropAnswer(isScript, meanwhile);
    const answer = await request();
    expect(proxy.dropped, 'the first try reached Redis and its answer was lost').toBe(before + 1);
    return answer;
  }

  const enqueue = (body: unknown, id = agentId) =>
    invoke(enqueueCommand, { method: 'POST', path: `/api/agents/${id}/commands`, pathParameters: { agentId: id }, token: operator, body });
  const poll = async (id = agentId) => invoke(getCommands, { path: '/api/commands', token: await agentToken(id) });
  const report = async (body: unknown, id = agentId) =>
    invoke(postResults, { method: 'POST', path: '/api/results', token: await agentToken(id), body });
  const read = (commandId: string) =>
    invoke(getCommand, {
      path: `/api/agents/${agentId}/commands/${commandId}`,
      pathParameters: { agentId, commandId },
      token: operator,
    });
  const cancel = (commandId: string) =>
    invoke(cancelCommand, {
      method: 'POST',
      path: `/api/agents/${agentId}/commands/${commandId}/cancel`,
      pathParameters: { agentId, commandId },
      token: operator,
      body: { reason: 'superseded' },
    });
  const member = (method: 'PUT' | 'DELETE', group: string, id = agentId) =>
    invoke(method === 'PUT' ? putGroupMember : deleteGroupMember, {
      method,
      routeKey: `${method} /api/groups/{group}/agents/{agentId}`,
      path: `/api/groups/${group}/agents/${id}`,
      pathParameters: { group, agentId: id },
      token: operator,
    });
  const members = (group: string) =>
    invoke(getGroupMembers, {
      routeKey: 'GET /api/groups/{group}/agents',
      path: `/api/groups/${group}/agents`,
      pathParameters: { group },
      token: operator,
    });
  const job = (jobId: string) =>
    invoke(getJob, { routeKey: 'GET /api/jobs/{jobId}', path: `/api/jobs/${jobId}`, pathParameters: { jobId }, token: operator });

  it('enqueue: the command the agent completed in between stays completed, and is not queued again', async () => {
    let commandId = '';
    const created = await withLostAnswer(
      () => enqueue({ command: 'deploy', args: { version: '1.2.3' } }),
      async () => {
        const fetched = await poll();
        commandId = fetched.body.commands[0].command_id;
        expect((await report({ command_id: commandId, status: 'completed', result: { ok: true } })).status).toBe(200);
      },
    );
    expect(created.status).toBe(201);
    expect(created.body.command_id).toBe(commandId);
    expect((await read(commandId)).body).toMatchObject({ status: 'completed', result: { ok: true } });
    expect((await poll()).body.commands).toEqual([]);
  });

  it('a progress report answers accepted in_progress, even when a final result came in between', async () => {
    const { command_id } = (await enqueue({ command: 'deploy' })).body;
    await poll();
    const progress = await withLostAnswer(
      () => report({ command_id, status: 'in_progress', status_details: { step: '1 of 2' } }),
      () => report({ command_id, status: 'failed', result: { exit_code: 3 } }),
    );
    expect(progress.status).toBe(200);
    expect(progress.body).toEqual({ command_id, status: 'in_progress', accepted: true });
    const shown = (await read(command_id)).body;
    expect(shown).toMatchObject({ status: 'failed', result: { exit_code: 3 } });
    // Its history holds each change once, the retried one too.
    expect(shown.history.map((entry: { status: string }) => entry.status)).toEqual(['delivered', 'in_progress', 'failed']);
  });

  it('a command cancel answers 200 canceled, not 409 for its own cancel', async () => {
    const { command_id } = (await enqueue({ command: 'deploy' })).body;
    const canceled = await withLostAnswer(() => cancel(command_id));
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({ command_id, status: 'canceled', cancel_reason: 'superseded' });
  });

  it('a config write does not overwrite the one written in between', async () => {
    const put = (overrides: unknown) =>
      invoke(putConfig, {
        method: 'PUT',
        path: `/api/agents/${agentId}/config`,
        pathParameters: { agentId },
        token: operator,
        body: overrides,
      });
    const first = await withLostAnswer(
      () => put({ poll_interval_seconds: 10 }),
      () => put({ poll_interval_seconds: 20 }),
    );
    expect(first.status).toBe(200);
    expect(first.body.config).toMatchObject({ poll_interval_seconds: 10 });
    const read = await invoke(getConfig, { path: '/api/config', token: await agentToken() });
    expect(read.body.config).toMatchObject({ poll_interval_seconds: 20 });
  });

  it('a revocation answers 204 once and again', async () => {
    const revoked = await withLostAnswer(() =>
      invoke(postRevocations, { method: 'POST', path: '/api/revocations', token: operator, body: { sub: agentId } }),
    );
    expect(revoked.status).toBe(204);
    expect((await poll()).status).toBe(401);
  });

  it('a group join does not put back an agent that left in between', async () => {
    const group = `g-${agentId}`;
    const joined = await withLostAnswer(
      () => member('PUT', group),
      () => member('DELETE', group),
    );
    expect(joined.status).toBe(204);
    expect((await members(group)).body.agents).toEqual([]);
  });

  it('a bulk change answers its own counts and does not put back an agent that left in between', async () => {
    const group = `g-${agentId}`;
    const other = `${agentId}-b`;
    const changed = await withLostAnswer(
      () =>
        invoke(postGroupMembers, {
          method: 'POST',
          routeKey: 'POST /api/groups/{group}/members',
          path: `/api/groups/${group}/members`,
          pathParameters: { group },
          token: operator,
          body: { add: [agentId, other] },
        }),
      () => member('DELETE', group),
    );
    expect(changed.body).toEqual({ added: 2, removed: 0, unchanged: 0, refused: [] });
    expect((await members(group)).body.agents).toEqual([other]);
  });

  it('a group leave does not take out an agent that joined again in between', async () => {
    const group = `g-${agentId}`;
    await member('PUT', group);
    const left = await withLostAnswer(
      () => member('DELETE', group),
      () => member('PUT', group),
    );
    expect(left.status).toBe(204);
    expect((await members(group)).body.agents).toEqual([agentId]);
  });

  it('a job create neither rewrites the job nor forgets the execution made in between', async () => {
    let jobId = '';
    const created = await withLostAnswer(
      () =>
        invoke(createJob, {
          method: 'POST',
          path: '/api/jobs',
          token: operator,
          body: { command: 'update', targets: { agents: [agentId] } },
        }),
      async () => {
        const fetched = await poll();
        jobId = fetched.body.commands[0].job_id;
      },
    );
    expect(created.status).toBe(201);
    expect(created.body.job_id).toBe(jobId);
    expect((await job(jobId)).body.counts).toMatchObject({ delivered: 1, pending: 0 });
    expect((await poll()).body.commands).toHaveLength(1);
  });

  it('a job cancel answers 200 canceled, not 409 for its own cancel', async () => {
    const { job_id } = (
      await invoke(createJob, {
        method: 'POST',
        path: '/api/jobs',
        token: operator,
        body: { command: 'update', targets: { agents: [agentId] } },
      })
    ).body;
    const canceled = await withLostAnswer(() =>
      invoke(cancelJob, {
        method: 'POST',
        routeKey: 'POST /api/jobs/{jobId}/cancel',
        path: `/api/jobs/${job_id}/cancel`,
        pathParameters: { jobId: job_id },
        token: operator,
      }),
    );
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({ job_id, status: 'canceled' });
  });

  it('a job pause retried after a resume in between answers the pause, and does not pause the job again', async () => {
    const { job_id } = (
      await invoke(createJob, {
        method: 'POST',
        path: '/api/jobs',
        token: operator,
        body: { command: 'update', targets: { agents: [agentId] } },
      })
    ).body;
    const action = (name: 'pause' | 'resume') =>
      invoke(name === 'pause' ? pauseJob : resumeJob, {
        method: 'POST',
        routeKey: `POST /api/jobs/{jobId}/${name}`,
        path: `/api/jobs/${job_id}/${name}`,
        pathParameters: { jobId: job_id },
        token: operator,
      });
    const paused = await withLostAnswer(
      () => action('pause'),
      async () => {
        expect((await action('resume')).body).toMatchObject({ status: 'in_progress' });
      },
    );
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ job_id, status: 'paused' });
    expect((await job(job_id)).body).toMatchObject({ status: 'in_progress' });
    expect((await poll()).body.commands).toHaveLength(1);
  });
});

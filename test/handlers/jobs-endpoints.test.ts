/**
 * The job routes through their real handlers and Middy chains, with real signed tokens, on each
 * store: every bad input is 400 and writes nothing; a creation is 201 with Location, replayed byte
 * for byte under its Idempotency-Key (422 for another body); unknown jobs are 404, a cancel of an
 * ended job 409 naming how it ended; jobs and executions are paged with stable cursors; and the
 * agents, unchanged, see their execution (with job_id) in GET /api/commands and report it with
 * POST /api/results.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as cancelJob } from '../../functions/cancel-job.ts';
import { handler as createJob } from '../../functions/create-job.ts';
import { handler as getCommand } from '../../functions/get-command.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as getJob } from '../../functions/get-job.ts';
import { handler as listCommands } from '../../functions/list-commands.ts';
import { handler as listJobExecutions } from '../../functions/list-job-executions.ts';
import { handler as listJobs } from '../../functions/list-jobs.ts';
import { handler as pauseJob } from '../../functions/pause-job.ts';
import { handler as resumeJob } from '../../functions/resume-job.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { handler as putGroupMember } from '../../functions/put-group-member.ts';
import { ROUTES } from '../../lib/http/routes.ts';
import { MAX_JOB_AGENTS } from '../../lib/jobs/model.ts';
import { storeTargets, type TestRuntime } from '../helpers/targets.ts';
import { type Answer, invoke } from '../helpers/lambda.ts';
import { signToken } from '../helpers/tokens.ts';

const targets = storeTargets('jobs-endpoints');
const iso = (ms: number) => new Date(ms).toISOString();
const ZERO = { pending: 0, delivered: 0, in_progress: 0, completed: 0, failed: 0, rejected: 0, timed_out: 0, canceled: 0, expired: 0 };

describe.each(targets)('the job routes on the $name store', (target) => {
  let rt: TestRuntime;
  let operator: string;
  let run: string;
  const agentTokens = new Map<string, string>();

  beforeEach(async () => {
    rt = target.use();
    agentTokens.clear();
    // Fresh ids per test keep tests apart on a shared Redis.
    run = Math.random().toString(36).slice(2, 8);
    operator = await signToken(
      { sub: 'ops-1', scope: 'admin:jobs admin:groups admin:commands' },
      { now: Math.floor(rt.clock.now() / 1000) },
    );
  });

  const agentId = (n: number) => `agent-${run}-${String(n).padStart(3, '0')}`;
  const agentToken = async (id: string) => {
    const known = agentTokens.get(id);
    if (known !== undefined) return known;
    const made = await signToken({ sub: id, scope: 'agent:commands agent:results' }, { expiresIn: 3600 });
    agentTokens.set(id, made);
    return made;
  };

  const create = (body: unknown, headers?: Record<string, string>) =>
    invoke(createJob, { method: 'POST', path: '/api/jobs', token: operator, body, ...(headers ? { headers } : {}) });
  const read = (jobId: string) =>
    invoke(getJob, { routeKey: 'GET /api/jobs/{jobId}', path: `/api/jobs/${jobId}`, pathParameters: { jobId }, token: operator });
  const list = (query?: Record<string, string>) => invoke(listJobs, { path: '/api/jobs', token: operator, ...(query ? { query } : {}) });
  const executions = (jobId: string, query?: Record<string, string>) =>
    invoke(listJobExecutions, {
      routeKey: 'GET /api/jobs/{jobId}/executions',
      path: `/api/jobs/${jobId}/executions`,
      pathParameters: { jobId },
      token: operator,
      ...(query ? { query } : {}),
    });
  const cancel = (jobId: string, body?: unknown) =>
    invoke(cancelJob, {
      method: 'POST',
      routeKey: 'POST /api/jobs/{jobId}/cancel',
      path: `/api/jobs/${jobId}/cancel`,
      pathParameters: { jobId },
      token: operator,
      ...(body === undefined ? {} : { body }),
    });
  const pauseOrResume = (action: 'pause' | 'resume', jobId: string, body?: unknown) =>
    invoke(action === 'pause' ? pauseJob : resumeJob, {
      method: 'POST',
      routeKey: `POST /api/jobs/{jobId}/${action}`,
      path: `/api/jobs/${jobId}/${action}`,
      pathParameters: { jobId },
      token: operator,
      ...(body === undefined ? {} : { body }),
    });
  const poll = async (id: string) => invoke(getCommands, { path: '/api/commands', token: await agentToken(id) });
  const report = async (id: string, body: unknown) =>
    invoke(postResults, { method: 'POST', path: '/api/results', token: await agentToken(id), body });
  const join = (group: string, id: string) =>
    invoke(putGroupMember, {
      method: 'PUT',
      routeKey: 'PUT /api/groups/{group}/agents/{agentId}',
      path: `/api/groups/${group}/agents/${id}`,
      pathParameters: { group, agentId: id },
      token: operator,
    });
  /** Every job the store lists, all statuses. */
  const allJobs = async () => (await rt.stores.unchecked.jobs.list({ statuses: undefined, limit: 100, before: 0 }, rt.clock.now())).jobs;
  /** Every page of a listing, following next_cursor. */
  const walk = async (page: (cursor: string | undefined) => Promise<Answer>, field: 'jobs' | 'executions') => {
    const pages: unknown[][] = [];
    let cursor: string | undefined;
    do {
      const answer = await page(cursor);
      expect(answer.status, answer.raw).toBe(200);
      pages.push(answer.body[field]);
      cursor = answer.body.next_cursor ?? undefined;
    } while (cursor !== undefined);
    return pages;
  };

  describe('POST /api/jobs: validation', () => {
    const one = { agents: ['agent-1'] };
    const EXP = { base_per_minute: 1, increment_factor: 2, increase_after: { notified: 5 } };
    const cases: [string, unknown, RegExp][] = [
      ['not an object', [1], /the body must be a JSON object/],
      ['an unknown field', { command: 'x', targets: one, priority: 1 }, /unknown field: priority/],
      ['no command', { targets: one }, /command must be a string of 1 to 128 characters/],
      ['a command too long', { command: 'x'.repeat(129), targets: one }, /command must be a string/],
      ['args not an object', { command: 'x', args: [1], targets: one }, /args must be a JSON object/],
      ['no targets', { command: 'x' }, /targets must be a JSON object/],
      ['targets an array', { command: 'x', targets: ['agent-1'] }, /targets must be a JSON object/],
      ['no target at all', { command: 'x', targets: {} }, /targets must name at least one agent or group/],
      ['empty target lists', { command: 'x', targets: { agents: [], groups: [] } }, /at least one agent or group/],
      ['an unknown field in targets', { command: 'x', targets: { agents: ['a'], tags: ['web'] } }, /unknown field: tags/],
      ['agents not an array', { command: 'x', targets: { agents: 'agent-1' } }, /targets.agents must be an array of agent ids/],
      ['a bad agent id', { command: 'x', targets: { agents: ['ok', 'not ok'] } }, /targets.agents\[1\] must be 1 to 128 characters/],
      ['an agent id too long', { command: 'x', targets: { agents: ['a'.repeat(129)] } }, /targets.agents\[0\]/],
      ['a number as agent id', { command: 'x', targets: { agents: [7] } }, /targets.agents\[0\]/],
      [
        `${MAX_JOB_AGENTS + 1} agents`,
        { command: 'x', targets: { agents: Array.from({ length: MAX_JOB_AGENTS + 1 }, (_, i) => `a${i}`) } },
        /targets.agents may hold at most 1000 agent ids/,
      ],
      [
        '11 groups',
        { command: 'x', targets: { groups: Array.from({ length: 11 }, (_, i) => `g${i}`) } },
        /targets.groups may hold at most 10 group names/,
      ],
      ['a bad group name', { command: 'x', targets: { groups: ['web/eu'] } }, /targets.groups\[0\]/],
      ['ttl_seconds 0', { command: 'x', targets: one, ttl_seconds: 0 }, /ttl_seconds must be a whole number from 1 to 2592000/],
      ['timeout_seconds too long', { command: 'x', targets: one, timeout_seconds: 604801 }, /timeout_seconds must be a whole number/],
      ['continuous not a boolean', { command: 'x', targets: one, continuous: 'true' }, /continuous must be true or false/],
      [
        'rollout without max',
        { command: 'x', targets: one, rollout: {} },
        /rollout.max_per_minute must be a whole number from 1 to 100000/,
      ],
      ['rollout 0', { command: 'x', targets: one, rollout: { max_per_minute: 0 } }, /rollout.max_per_minute/],
      ['rollout over 100000', { command: 'x', targets: one, rollout: { max_per_minute: 100001 } }, /rollout.max_per_minute/],
      ['rollout 1.5', { command: 'x', targets: one, rollout: { max_per_minute: 1.5 } }, /rollout.max_per_minute/],
      ['rollout not an object', { command: 'x', targets: one, rollout: 10 }, /rollout must be a JSON object/],
      ['an unknown field in rollout', { command: 'x', targets: one, rollout: { max_per_minute: 1, burst: 2 } }, /unknown field: burst/],
      [
        'an exponential rollout not an object',
        { command: 'x', targets: one, rollout: { exponential: 5 } },
        /^rollout.exponential must be a JSON object with base_per_minute, increment_factor and increase_after$/,
      ],
      [
        'an exponential base over 1000',
        { command: 'x', targets: one, rollout: { exponential: { ...EXP, base_per_minute: 1001 } } },
        /^rollout.exponential.base_per_minute must be a whole number from 1 to 1000$/,
      ],
      [
        'an increment factor of 1.0',
        { command: 'x', targets: one, rollout: { exponential: { ...EXP, increment_factor: 1 } } },
        /^rollout.exponential.increment_factor must be a number from 1.1 to 5.0 with one decimal place$/,
      ],
      [
        'an increment factor of 1.25',
        { command: 'x', targets: one, rollout: { exponential: { ...EXP, increment_factor: 1.25 } } },
        /^rollout.exponential.increment_factor must be a number from 1.1 to 5.0 with one decimal place$/,
      ],
      [
        'an increment factor of 5.1',
        { command: 'x', targets: one, rollout: { exponential: { ...EXP, increment_factor: 5.1 } } },
        /^rollout.exponential.increment_factor must be a number from 1.1 to 5.0 with one decimal place$/,
      ],
      [
        'increase_after with both',
        { command: 'x', targets: one, rollout: { exponential: { ...EXP, increase_after: { notified: 1, succeeded: 1 } } } },
        /^rollout.exponential.increase_after must be \{"notified": N\} or \{"succeeded": N\}$/,
      ],
      [
        'increase_after of another kind',
        { command: 'x', targets: one, rollout: { exponential: { ...EXP, increase_after: { failed: 1 } } } },
        /^rollout.exponential.increase_after must be \{"notified": N\} or \{"succeeded": N\}$/,
      ],
      [
        'increase_after 0',
        { command: 'x', targets: one, rollout: { exponential: { ...EXP, increase_after: { succeeded: 0 } } } },
        /^rollout.exponential.increase_after.succeeded must be a whole number from 1 to 100000$/,
      ],
      [
        'abort without min_executed',
        { command: 'x', targets: one, abort: { failure_threshold_percent: 5 } },
        /abort.min_executed must be a whole number from 1 to 100000/,
      ],
      [
        'abort without its threshold',
        { command: 'x', targets: one, abort: { min_executed: 5 } },
        /abort.failure_threshold_percent must be a whole number from 1 to 100/,
      ],
      [
        'abort over 100 %',
        { command: 'x', targets: one, abort: { failure_threshold_percent: 101, min_executed: 5 } },
        /abort.failure_threshold_percent/,
      ],
      ['abort min 0', { command: 'x', targets: one, abort: { failure_threshold_percent: 5, min_executed: 0 } }, /abort.min_executed/],
      ['abort null', { command: 'x', targets: one, abort: null }, /abort must be a JSON object/],
      ['a schedule not an object', { command: 'x', targets: one, schedule: 'soon' }, /^schedule must be a JSON object with start_at$/],
      [
        'a schedule without start_at',
        { command: 'x', targets: one, schedule: {} },
        /^schedule.start_at must be an ISO 8601 time with its offset, such as 2027-01-31T22:00:00Z$/,
      ],
      [
        'a start_at without its offset',
        { command: 'x', targets: one, schedule: { start_at: '2027-01-31T22:00:00' } },
        /^schedule.start_at must be an ISO 8601 time with its offset/,
      ],
      [
        'a start_at more than a year ahead',
        { command: 'x', targets: one, schedule: { start_at: '2099-01-01T00:00:00Z' } },
        /^schedule.start_at must be at most one year ahead$/,
      ],
      [
        'an end_at not after start_at',
        { command: 'x', targets: one, schedule: { start_at: '2026-01-01T00:00:00Z', end_at: '2026-01-01T00:00:00Z' } },
        /^schedule.end_at must be after schedule.start_at$/,
      ],
      [
        'an end_behavior without end_at',
        { command: 'x', targets: one, schedule: { start_at: '2026-01-01T00:00:00Z', end_behavior: 'cancel' } },
        /^schedule.end_behavior goes with schedule.end_at$/,
      ],
      [
        'an unknown end_behavior',
        {
          command: 'x',
          targets: one,
          schedule: { start_at: '2026-01-01T00:00:00Z', end_at: '2026-01-02T00:00:00Z', end_behavior: 'abort' },
        },
        /^schedule.end_behavior must be one of: stop_rollout, cancel, force_cancel$/,
      ],
      [
        'abort criteria empty',
        { command: 'x', targets: one, abort: { criteria: [] } },
        /^abort.criteria must be an array of 1 to 4 criteria$/,
      ],
      [
        'abort criteria five',
        { command: 'x', targets: one, abort: { criteria: Array(5).fill({ failure_type: 'all', threshold_percent: 5, min_executed: 1 }) } },
        /^abort.criteria must be an array of 1 to 4 criteria$/,
      ],
      [
        'abort criteria with the older form beside it',
        {
          command: 'x',
          targets: one,
          abort: { criteria: [{ failure_type: 'all', threshold_percent: 5, min_executed: 1 }], min_executed: 1 },
        },
        /^unknown field: min_executed$/,
      ],
      [
        'an abort criterion not an object',
        { command: 'x', targets: one, abort: { criteria: [5] } },
        /^abort.criteria\[0\] must be a JSON object with failure_type, threshold_percent and min_executed$/,
      ],
      [
        'an abort criterion of an unknown type',
        { command: 'x', targets: one, abort: { criteria: [{ failure_type: 'canceled', threshold_percent: 5, min_executed: 1 }] } },
        /^abort.criteria\[0\].failure_type must be one of: failed, rejected, timed_out, all$/,
      ],
      [
        'an abort criterion over 100 %',
        {
          command: 'x',
          targets: one,
          abort: {
            criteria: [
              { failure_type: 'failed', threshold_percent: 5, min_executed: 1 },
              { failure_type: 'rejected', threshold_percent: 101, min_executed: 1 },
            ],
          },
        },
        /^abort.criteria\[1\].threshold_percent must be a whole number from 1 to 100$/,
      ],
      [
        'an abort criterion without min_executed',
        { command: 'x', targets: one, abort: { criteria: [{ failure_type: 'timed_out', threshold_percent: 5 }] } },
        /^abort.criteria\[0\].min_executed must be a whole number from 1 to 100000$/,
      ],
      [
        'an abort criterion with an unknown field',
        { command: 'x', targets: one, abort: { criteria: [{ failure_type: 'timed_out', threshold_percent: 5, min_executed: 1, x: 1 }] } },
        /^unknown field: x$/,
      ],
      [
        'a description too long',
        { command: 'x', targets: one, description: 'd'.repeat(257) },
        /description must be a string of at most 256/,
      ],
      ['a description not a string', { command: 'x', targets: one, description: 5 }, /description must be a string/],
    ];

    it.each(cases)('answers 400 to %s, naming the field, and writes nothing', async (_name, body, message) => {
      const answer = await create(body);

      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(message) });
      expect(await allJobs()).toEqual([]);
    });

    it('answers 400 to a bad Idempotency-Key and to malformed JSON, and writes nothing', async () => {
      const badKey = await create({ command: 'x', targets: one }, { 'idempotency-key': 'é' });
      const malformed = await create('{"command":');

      expect([badKey.status, malformed.status]).toEqual([400, 400]);
      expect(badKey.body.error_description).toMatch(/Idempotency-Key/);
      expect(await allJobs()).toEqual([]);
    });

    it('takes the largest body it allows: args as large as an enqueue takes, 1,000 agent ids of 128 characters, 10 groups, every option', async () => {
      const ids = (prefix: string, count: number) =>
        Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`.padEnd(128, 'x'));
      // An enqueue body of exactly its limit (the largest args an enqueue takes), then the job's own fields at their largest.
      const command = 'c'.repeat(128);
      const enqueueShell = JSON.stringify({ command, args: { pad: '' }, ttl_seconds: 2592000, timeout_seconds: 604800 });
      const args = { pad: 'p'.repeat((ROUTES.EnqueueCommand.bodyLimit as number) - enqueueShell.length) };
      const body = JSON.stringify({
        command,
        args,
        targets: { agents: ids('a', MAX_JOB_AGENTS), groups: ids('g', 10) },
        ttl_seconds: 2592000,
        timeout_seconds: 604800,
        continuous: false,
        rollout: {
          max_per_minute: 100000,
          exponential: { base_per_minute: 1000, increment_factor: 5.0, increase_after: { succeeded: 100000 } },
        },
        abort: { criteria: Array(4).fill({ failure_type: 'timed_out', threshold_percent: 100, min_executed: 100000 }) },
        // The longest times the schedule takes: milliseconds and a written offset.
        schedule: {
          start_at: iso(rt.clock.now() + 60_000).replace('Z', '+00:00'),
          end_at: iso(rt.clock.now() + 120_000).replace('Z', '+00:00'),
          end_behavior: 'force_cancel',
        },
        // 256 UTF-16 units, each written as a \uXXXX escape: the longest a description is in JSON.
        description: '\u0001'.repeat(256),
      });
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(ROUTES.CreateJob.bodyLimit);

      const answer = await create(body);

      expect(answer.status, answer.raw?.slice(0, 300)).toBe(201);
      expect(answer.body.targets.agents).toHaveLength(MAX_JOB_AGENTS);
      expect(answer.body.counts.pending).toBe(MAX_JOB_AGENTS);
    });
  });

  describe('POST /api/jobs', () => {
    it('answers 201 with Location and the job as created, every target pending once (duplicates counted once)', async () => {
      await join(`web-${run}`, agentId(1));
      await join(`web-${run}`, agentId(2));
      const now = rt.clock.now();

      const answer = await create({
        command: 'restart',
        args: { service: 'nginx' },
        targets: { agents: [agentId(3), agentId(1), agentId(3)], groups: [`web-${run}`, `web-${run}`] },
        ttl_seconds: 600,
        timeout_seconds: 60,
        rollout: { max_per_minute: 100 },
        abort: { failure_threshold_percent: 10, min_executed: 5 },
        description: 'restart nginx',
      });

      expect(answer.status).toBe(201);
      expect(answer.headers.location).toBe(`/api/jobs/${answer.body.job_id}`);
      expect(answer.body).toEqual({
        job_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        command: 'restart',
        args: { service: 'nginx' },
        targets: { agents: [agentId(3), agentId(1)], groups: [`web-${run}`] },
        continuous: false,
        rollout: { max_per_minute: 100 },
        abort: {
          criteria: [{ failure_type: 'all', threshold_percent: 10, min_executed: 5 }],
          failure_threshold_percent: 10,
          min_executed: 5,
        },
        schedule: null,
        retry: null,
        status: 'in_progress',
        counts: { ...ZERO, pending: 3 },
        created_at: iso(now),
        created_by: 'ops-1',
        updated_at: iso(now),
        completed_at: null,
        expires_at: iso(now + 600_000),
        timeout_seconds: 60,
        description: 'restart nginx',
      });
      expect((await read(answer.body.job_id)).raw).toBe(answer.raw);
    });

    it('takes an exponential rollout, capped or not, and shows it with its rate now', async () => {
      const exponential = { base_per_minute: 10, increment_factor: 1.5, increase_after: { succeeded: 20 } };
      const capped = await create({ command: 'scan', targets: { agents: [agentId(1)] }, rollout: { max_per_minute: 50, exponential } });
      const free = await create({ command: 'scan', targets: { agents: [agentId(1)] }, rollout: { exponential } });

      expect(capped.status).toBe(201);
      expect(capped.body.rollout).toEqual({ max_per_minute: 50, exponential, current_per_minute: 10 });
      expect(free.body.rollout).toEqual({ exponential, current_per_minute: 10 });
      expect((await read(free.body.job_id)).body.rollout).toEqual({ exponential, current_per_minute: 10 });
    });

    it('takes a schedule: scheduled until start_at, its ttl counted from then, end_behavior stop_rollout by default', async () => {
      const now = rt.clock.now();
      const startAt = iso(now + 3_600_000);
      const answer = await create({
        command: 'scan',
        targets: { agents: [agentId(1)] },
        ttl_seconds: 600,
        schedule: { start_at: startAt },
      });

      expect(answer.status).toBe(201);
      expect(answer.body).toMatchObject({
        status: 'scheduled',
        schedule: { start_at: startAt, end_at: null, end_behavior: 'stop_rollout' },
        expires_at: iso(now + 3_600_000 + 600_000),
      });
      expect((await poll(agentId(1))).body.commands).toEqual([]);
      expect((await list({ status: 'scheduled' })).body.jobs.map((job: { job_id: string }) => job.job_id)).toEqual([answer.body.job_id]);
    });

    it('takes abort criteria by failure type and shows them as given', async () => {
      const criteria = [
        { failure_type: 'timed_out', threshold_percent: 20, min_executed: 10 },
        { failure_type: 'failed', threshold_percent: 5, min_executed: 100 },
      ];
      const answer = await create({ command: 'scan', targets: { agents: [agentId(1)] }, abort: { criteria } });

      expect(answer.status).toBe(201);
      expect(answer.body.abort).toEqual({ criteria });
      expect((await read(answer.body.job_id)).body.abort).toEqual({ criteria });
    });

    it('gives the defaults: ttl from COMMAND_TTL_SECONDS, no timeout, rollout, abort or description', async () => {
      const answer = await create({ command: 'scan', targets: { agents: [agentId(1)] } });

      expect(answer.body).toMatchObject({
        continuous: false,
        rollout: null,
        abort: null,
        timeout_seconds: null,
        description: null,
        expires_at: iso(rt.clock.now() + rt.config.commandTtlSeconds * 1000),
      });
      expect(answer.body).not.toHaveProperty('cancel_reason');
    });

    it('replays the original 201 byte for byte under the same Idempotency-Key, however the job moved since; member order and white space do not count', async () => {
      const body = { command: 'deploy', args: { version: '1.4.2', flags: { a: 1, b: 2 } }, targets: { agents: [agentId(1)] } };
      const first = await create(body, { 'idempotency-key': `deploy-${run}` });
      rt.clock.advance(5_000);
      await poll(agentId(1));
      await report(agentId(1), { command_id: first.body.job_id, status: 'completed' });
      rt.clock.advance(5_000);

      const again = await create(
        `{ "targets": {"agents": ["${agentId(1)}"]},\n  "args": {"flags": {"b": 2, "a": 1}, "version": "1.4.2"}, "command": "deploy" }`,
        { 'idempotency-key': `deploy-${run}` },
      );

      expect(again.status).toBe(201);
      expect(again.raw).toBe(first.raw);
      expect(again.headers.location).toBe(first.headers.location);
      expect((await read(first.body.job_id)).body.status).toBe('completed');
      expect((await allJobs()).map((job) => job.spec.jobId)).toEqual([first.body.job_id]);
    });

    it('answers 422 to the same Idempotency-Key with another body, and adds nothing', async () => {
      const first = await create({ command: 'deploy', targets: { agents: [agentId(1)] } }, { 'idempotency-key': `k-${run}` });

      const other = await create({ command: 'deploy', targets: { agents: [agentId(2)] } }, { 'idempotency-key': `k-${run}` });

      expect(other.status).toBe(422);
      expect(other.body.error).toBe('unprocessable');
      expect((await allJobs()).map((job) => job.spec.jobId)).toEqual([first.body.job_id]);
    });

    it('answers 422 no_targets to a job whose groups have no members, and keeps nothing, its Idempotency-Key neither', async () => {
      const body = { command: 'deploy', targets: { groups: [`no-such-group-${run}`, `empty-${run}`] } };

      const refused = await create(body, { 'idempotency-key': `empty-${run}` });

      expect(refused.status).toBe(422);
      expect(refused.body).toMatchObject({ error: 'no_targets', error_description: expect.stringContaining('no agent') });
      expect(await allJobs()).toEqual([]);
      // The key was not kept: once a group has a member, the same request creates the job.
      await join(`empty-${run}`, agentId(1));
      const created = await create(body, { 'idempotency-key': `empty-${run}` });
      expect(created.status).toBe(201);
      expect(created.body.counts).toMatchObject({ pending: 1 });
    });

    it('creates a continuous job over empty groups: it may start with no target and gain them', async () => {
      const answer = await create({ command: 'enroll', continuous: true, targets: { groups: [`later-${run}`] } });

      expect(answer.status).toBe(201);
      expect(answer.body).toMatchObject({ status: 'in_progress', counts: { ...ZERO } });
      await join(`later-${run}`, agentId(1));
      expect((await read(answer.body.job_id)).body.counts).toMatchObject({ pending: 1 });
    });

    it('keeps one operator key apart from another operator', async () => {
      const body = { command: 'deploy', targets: { agents: [agentId(1)] } };
      const first = await create(body, { 'idempotency-key': `shared-${run}` });
      const otherOperator = await signToken({ sub: 'ops-2', scope: 'admin:jobs' });

      const second = await invoke(createJob, {
        method: 'POST',
        path: '/api/jobs',
        token: otherOperator,
        body,
        headers: { 'idempotency-key': `shared-${run}` },
      });

      expect(second.status).toBe(201);
      expect(second.body.job_id).not.toBe(first.body.job_id);
    });
  });

  describe('unknown jobs and bad parameters', () => {
    it('answers 404 for a job that does not exist, on every route about one job', async () => {
      const answers = await Promise.all([read('no-such-job'), executions('no-such-job'), cancel('no-such-job')]);

      expect(answers.map((answer) => [answer.status, answer.body.error_description])).toEqual([
        [404, 'no such job'],
        [404, 'no such job'],
        [404, 'no such job'],
      ]);
    });

    it('answers 400 to bad ids, statuses, limits, cursors and cancel bodies, and changes nothing', async () => {
      const job = (await create({ command: 'x', targets: { agents: [agentId(1)] } })).body.job_id as string;
      const before = (await read(job)).raw;
      const badId = (handler: typeof getJob, path: string, routeKey: string) =>
        invoke(handler, { method: routeKey.split(' ')[0], routeKey, path, pathParameters: { jobId: 'a b' }, token: operator });

      const answers = [
        await badId(getJob, '/api/jobs/a%20b', 'GET /api/jobs/{jobId}'),
        await badId(listJobExecutions, '/api/jobs/a%20b/executions', 'GET /api/jobs/{jobId}/executions'),
        await badId(cancelJob, '/api/jobs/a%20b/cancel', 'POST /api/jobs/{jobId}/cancel'),
        await list({ status: 'pending' }),
        await list({ status: 'in_progress,' }),
        await list({ limit: '0' }),
        await list({ limit: '101' }),
        await list({ cursor: 'not-a-cursor' }),
        await executions(job, { status: 'aborted' }),
        await executions(job, { limit: 'ten' }),
        await executions(job, { cursor: 'Zm9v' }),
        await cancel(job, { force: 'yes' }),
        await cancel(job, { reason: 'r'.repeat(257) }),
        await cancel(job, { reason: 'ok', now: true }),
        await cancel(job, [true]),
      ];

      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 400));
      expect(answers.map((answer) => answer.body.error_description)).toEqual([
        expect.stringMatching(/^jobId must be/),
        expect.stringMatching(/^jobId must be/),
        expect.stringMatching(/^jobId must be/),
        'status must be a comma-separated list of: scheduled, in_progress, paused, completed, canceled, aborted',
        'status must be a comma-separated list of: scheduled, in_progress, paused, completed, canceled, aborted',
        'limit must be a whole number from 1 to 100',
        'limit must be a whole number from 1 to 100',
        'cursor must be a next_cursor this service gave',
        expect.stringMatching(/^status must be a comma-separated list of: pending, /),
        'limit must be a whole number from 1 to 100',
        'cursor must be a next_cursor this service gave',
        'force must be true or false',
        'reason must be a string of at most 256 characters',
        'unknown field: now',
        'the body must be a JSON object',
      ]);
      expect((await read(job)).raw).toBe(before);
    });
  });

  describe('what the agents see', () => {
    it('an agent, unchanged, gets its execution with job_id in GET /api/commands and reports it with POST /api/results; the counts follow', async () => {
      const [a, b, c] = [agentId(1), agentId(2), agentId(3)];
      const job = await create({ command: 'restart', args: { service: 'nginx' }, targets: { agents: [a, b, c] }, timeout_seconds: 60 });
      const jobId = job.body.job_id as string;
      rt.clock.advance(1_000);

      const fetched = await poll(a);

      expect(fetched.status).toBe(200);
      expect(fetched.body.commands).toEqual([
        {
          command_id: jobId,
          command: 'restart',
          args: { service: 'nginx' },
          status: 'delivered',
          created_at: job.body.created_at,
          expires_at: job.body.expires_at,
          delivery_count: 1,
          deadline_at: iso(rt.clock.now() + 60_000),
          job_id: jobId,
          attempt: 1,
          signature: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
        },
      ]);
      expect((await read(jobId)).body.counts).toEqual({ ...ZERO, pending: 2, delivered: 1 });

      const progress = await report(a, { command_id: jobId, status: 'in_progress', status_details: { step: '1 of 2' } });
      expect(progress.body).toEqual({ command_id: jobId, status: 'in_progress', accepted: true });
      await poll(b);
      rt.clock.advance(1_000);
      const done = await report(a, { command_id: jobId, status: 'completed', result: { exit_code: 0 } });
      expect(done.body).toEqual({ command_id: jobId, status: 'completed', accepted: true });
      await report(b, { command_id: jobId, status: 'failed', result: { exit_code: 1 } });

      const shown = await read(jobId);
      expect(shown.body).toMatchObject({ status: 'in_progress', counts: { ...ZERO, pending: 1, completed: 1, failed: 1 } });
      expect(shown.body.updated_at).toBe(iso(rt.clock.now()));
      const own = await invoke(getCommand, {
        routeKey: 'GET /api/agents/{agentId}/commands/{commandId}',
        path: `/api/agents/${a}/commands/${jobId}`,
        pathParameters: { agentId: a, commandId: jobId },
        token: operator,
      });
      expect(own.body).toMatchObject({ command_id: jobId, job_id: jobId, status: 'completed', result: { exit_code: 0 } });
      const listed = await invoke(listCommands, {
        routeKey: 'GET /api/agents/{agentId}/commands',
        path: `/api/agents/${c}/commands`,
        pathParameters: { agentId: c },
        token: operator,
      });
      // The third agent never polled: nothing of the job is in its command list yet.
      expect(listed.body.commands).toEqual([]);

      await poll(c);
      await report(c, { command_id: jobId, status: 'rejected' });
      const ended = await read(jobId);
      expect(ended.body).toMatchObject({
        status: 'completed',
        completed_at: iso(rt.clock.now()),
        counts: { ...ZERO, completed: 1, failed: 1, rejected: 1 },
      });
    });

    it('a rollout holds back agents beyond its budget without an error, and an abort cancels what was not delivered', async () => {
      const agents = [1, 2, 3, 4, 5].map(agentId);
      const job = await create({
        command: 'upgrade',
        targets: { agents },
        rollout: { max_per_minute: 2 },
        abort: { failure_threshold_percent: 50, min_executed: 2 },
      });
      const jobId = job.body.job_id as string;

      const polls = [];
      for (const id of agents) polls.push(await poll(id));

      expect(polls.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
      expect(polls.map((answer) => answer.body.commands.length)).toEqual([1, 1, 0, 0, 0]);
      await report(agents[0] as string, { command_id: jobId, status: 'failed' });
      await report(agents[1] as string, { command_id: jobId, status: 'completed' });

      const aborted = await read(jobId);
      expect(aborted.body).toMatchObject({
        status: 'aborted',
        cancel_reason: 'job_aborted',
        counts: { ...ZERO, completed: 1, failed: 1, canceled: 3 },
      });
      rt.clock.advance(61_000);
      expect((await poll(agents[2] as string)).body.commands).toEqual([]);
      const refused = await cancel(jobId);
      expect(refused.status).toBe(409);
      expect(refused.body.error_description).toBe('the job was aborted');
      const listed = await executions(jobId);
      expect(
        listed.body.executions.map((entry: { status: string; cancel_reason?: string }) => [entry.status, entry.cancel_reason]),
      ).toEqual([
        ['failed', undefined],
        ['completed', undefined],
        ['canceled', 'job_aborted'],
        ['canceled', 'job_aborted'],
        ['canceled', 'job_aborted'],
      ]);
    });
  });

  describe('POST /api/jobs/{jobId}/pause and /resume', () => {
    it('pauses (nothing new delivered, the reason shown), answers a second pause unchanged, resumes, and lists by status paused', async () => {
      const [a, b] = [agentId(1), agentId(2)];
      const jobId = (await create({ command: 'x', targets: { agents: [a, b] } })).body.job_id as string;
      await poll(a);
      rt.clock.advance(1_000);
      const pausedAt = iso(rt.clock.now());

      const paused = await pauseOrResume('pause', jobId, { reason: 'canary failures' });

      expect(paused.status).toBe(200);
      expect(paused.body).toMatchObject({
        status: 'paused',
        pause_reason: 'canary failures',
        paused_at: pausedAt,
        updated_at: pausedAt,
        completed_at: null,
        counts: { ...ZERO, pending: 1, delivered: 1 },
      });
      expect((await poll(b)).body.commands).toEqual([]);
      expect((await list({ status: 'paused' })).body.jobs.map((job: { job_id: string }) => job.job_id)).toEqual([jobId]);
      rt.clock.advance(1_000);
      const again = await pauseOrResume('pause', jobId);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ status: 'paused', pause_reason: 'canary failures', paused_at: pausedAt });

      const resumed = await pauseOrResume('resume', jobId, { reason: 'fixed' });
      expect(resumed.status).toBe(200);
      expect(resumed.body).toMatchObject({ status: 'in_progress', pause_reason: 'fixed' });
      expect(resumed.body).not.toHaveProperty('paused_at');
      expect((await poll(b)).body.commands.map((command: { command_id: string }) => command.command_id)).toEqual([jobId]);
    });

    it('answers 409 naming the status of an ended job, 404 to no such job, 400 to a bad reason, and changes nothing', async () => {
      const jobId = (await create({ command: 'x', targets: { agents: [agentId(1)] } })).body.job_id as string;
      await cancel(jobId, { reason: 'wrong version' });

      for (const action of ['pause', 'resume'] as const) {
        const refused = await pauseOrResume(action, jobId);
        expect(refused.status).toBe(409);
        expect(refused.body).toMatchObject({ error: 'conflict', error_description: 'the job was canceled' });
        expect((await pauseOrResume(action, 'no-such-job')).status).toBe(404);
        const bad = await pauseOrResume(action, jobId, { reason: 5 });
        expect(bad.status).toBe(400);
        expect(bad.body.error_description).toBe('reason must be a string of at most 256 characters');
        expect((await pauseOrResume(action, jobId, { why: 'x' })).body.error_description).toBe('unknown field: why');
      }
      expect((await read(jobId)).body).toMatchObject({ status: 'canceled' });
      expect((await read(jobId)).body).not.toHaveProperty('pause_reason');
    });
  });

  describe('POST /api/jobs/{jobId}/cancel', () => {
    it('cancels what was not delivered; a delivered execution goes on; a second cancel is 409', async () => {
      const [a, b] = [agentId(1), agentId(2)];
      const jobId = (await create({ command: 'x', targets: { agents: [a, b] } })).body.job_id as string;
      await poll(a);
      rt.clock.advance(1_000);

      const canceled = await cancel(jobId, { reason: 'wrong version' });
      const canceledAt = iso(rt.clock.now());

      expect(canceled.status).toBe(200);
      expect(canceled.body).toMatchObject({
        status: 'canceled',
        cancel_reason: 'wrong version',
        force: false,
        completed_at: iso(rt.clock.now()),
        counts: { ...ZERO, delivered: 1, canceled: 1 },
      });
      expect((await poll(b)).body.commands).toEqual([]);
      rt.clock.advance(1_000);
      // The undelivered one shows when the job's cancel ended it, as a command shows its own end.
      expect((await executions(jobId, { status: 'canceled' })).body.executions).toEqual([
        {
          agent_id: b,
          command_id: null,
          status: 'canceled',
          attempt: 1,
          delivered_at: null,
          updated_at: canceledAt,
          completed_at: canceledAt,
          delivery_count: 0,
          status_details: null,
          cancel_reason: 'wrong version',
        },
      ]);
      expect((await report(a, { command_id: jobId, status: 'completed' })).status).toBe(200);
      const again = await cancel(jobId);
      expect(again.status).toBe(409);
      expect(again.body.error_description).toBe('the job was canceled');
    });

    it('with force cancels delivered executions too: the agent learns it from the 409 on its next report', async () => {
      const a = agentId(1);
      const jobId = (await create({ command: 'x', targets: { agents: [a] } })).body.job_id as string;
      await poll(a);
      await report(a, { command_id: jobId, status: 'in_progress' });

      const canceled = await cancel(jobId, { force: true });

      expect(canceled.body).toMatchObject({ status: 'canceled', cancel_reason: null, force: true, counts: { ...ZERO, canceled: 1 } });
      const late = await report(a, { command_id: jobId, status: 'completed' });
      expect(late.status).toBe(409);
      expect(late.body.error_description).toMatch(/^the command was canceled/);
      expect((await poll(a)).body.commands).toEqual([]);
    });

    it('answers 409 naming completed for a job whose executions all ended', async () => {
      const a = agentId(1);
      const jobId = (await create({ command: 'x', targets: { agents: [a] } })).body.job_id as string;
      await poll(a);
      await report(a, { command_id: jobId, status: 'completed' });

      const answer = await cancel(jobId);

      expect(answer.status).toBe(409);
      expect(answer.body.error_description).toBe('the job was completed');
    });
  });

  describe('pages', () => {
    it('lists jobs newest first, by status, and a walk lists each job once while jobs are created meanwhile', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        ids.push((await create({ command: `job-${i}`, targets: { agents: [agentId(i)] } })).body.job_id);
        rt.clock.advance(1);
      }
      await cancel(ids[1] as string);

      const first = await list({ limit: '2' });
      const late = (await create({ command: 'late', targets: { agents: [agentId(9)] } })).body.job_id as string;
      const rest = await walk((cursor) => list({ limit: '2', cursor: cursor ?? first.body.next_cursor }), 'jobs');

      const names = (jobs: unknown[]) => (jobs as { job_id: string }[]).map((job) => job.job_id);
      expect(names(first.body.jobs)).toEqual([ids[4], ids[3]]);
      expect(rest.map(names)).toEqual([[ids[2], ids[1]], [ids[0]]]);
      expect(names((await list()).body.jobs)).toEqual([late, ...ids.slice().reverse()]);
      expect(names((await list({ status: 'canceled' })).body.jobs)).toEqual([ids[1]]);
      expect(names((await list({ status: 'canceled,in_progress', limit: '100' })).body.jobs)).toHaveLength(6);
      expect((await list({ status: 'aborted' })).body).toEqual({ jobs: [], next_cursor: null });
    });

    it('lists executions in target order a page at a time; an agent joining a continuous job meanwhile comes at the end', async () => {
      const group = `fleet-${run}`;
      // Joined out of order: the creation's targets are listed by agent id.
      for (const n of [4, 2, 5, 1, 3]) await join(group, agentId(n));
      const jobId = (await create({ command: 'x', targets: { groups: [group] }, continuous: true })).body.job_id as string;
      await poll(agentId(2));
      await report(agentId(2), { command_id: jobId, status: 'completed' });

      const first = await executions(jobId, { limit: '2' });
      rt.clock.advance(1_000);
      await join(group, agentId(0));
      const rest = await walk((cursor) => executions(jobId, { limit: '2', cursor: cursor ?? first.body.next_cursor }), 'executions');

      const shown = [first.body.executions, ...rest].flat() as { agent_id: string; status: string; command_id: string | null }[];
      expect(shown.map((entry) => entry.agent_id)).toEqual([1, 2, 3, 4, 5, 0].map(agentId));
      expect(shown.map((entry) => entry.status)).toEqual(['pending', 'completed', 'pending', 'pending', 'pending', 'pending']);
      expect(shown.map((entry) => entry.command_id)).toEqual([null, jobId, null, null, null, null]);
      expect(first.body.executions[1]).toEqual({
        agent_id: agentId(2),
        command_id: jobId,
        status: 'completed',
        attempt: 1,
        delivered_at: expect.any(String),
        updated_at: expect.any(String),
        completed_at: expect.any(String),
        delivery_count: 1,
        status_details: null,
      });
      const completed = await executions(jobId, { status: 'completed' });
      expect(completed.body).toEqual({ job_id: jobId, executions: [expect.objectContaining({ agent_id: agentId(2) })], next_cursor: null });
      expect((await read(jobId)).body.counts).toEqual({ ...ZERO, pending: 5, completed: 1 });
    });
  });
});

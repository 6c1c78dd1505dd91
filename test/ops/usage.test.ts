/**
 * bizops without the real service: bad usage exits 2 with a message, help for every verb, a 503
 * or 429 tried again after Retry-After and then reported, bulk membership in requests of at most
 * 1,000 ids (and one id at a time where the service lacks the bulk route), and the watch's
 * summary, live view and lines, against tiny local HTTP servers that play the service.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fixedToken } from '../../dev/agent.ts';
import { Api } from '../../ops/client.ts';
import { paint, paintFor } from '../../ops/format.ts';
import { chunks } from '../../ops/groups.ts';
import { VERBS } from '../../ops/main.ts';
import { changeLine, frame, type JobView, summarize, watchJob } from '../../ops/watch.ts';
import { bizops, fakeService, inProcess as runInProcess, json } from './helpers.ts';

type Fake = Awaited<ReturnType<typeof fakeService>>;
let fake: Fake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const inProcess = (argv: string[], env: NodeJS.ProcessEnv = { BIZ_TOKEN: 't' }) => runInProcess(argv, env);

const COUNTS = { pending: 0, delivered: 0, in_progress: 0, completed: 0, failed: 0, rejected: 0, timed_out: 0, canceled: 0, expired: 0 };
const job = (status: string, counts: Partial<typeof COUNTS>, extra: Partial<JobView> = {}): JobView => ({
  job_id: 'job-1',
  command: 'restart',
  status,
  counts: { ...COUNTS, ...counts },
  created_at: '2026-01-01T00:00:00.000Z',
  completed_at: null,
  rollout: null,
  abort: null,
  ...extra,
});

describe('bizops usage', () => {
  it('exits 2 with a message for an unknown option, noun or verb, a missing argument, a bad value, no token', async () => {
    const env = { BIZ_TOKEN: 't', BIZ_BASE_URL: 'http://127.0.0.1:9' };
    const unknown = await bizops(['jobs', 'list', '--bogus'], { env });
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/^bizops: Unknown option '--bogus'/);
    expect(unknown.stderr).toContain('see bizops jobs list --help');
    expect((await bizops(['fleet', 'list'], { env })).stderr).toMatch(/^bizops: unknown command "fleet"/);
    expect((await bizops(['jobs', 'explode'], { env })).code).toBe(2);
    const missing = await bizops(['jobs', 'watch'], { env });
    expect(missing).toMatchObject({ code: 2 });
    expect(missing.stderr).toMatch(/^bizops: jobs watch: missing ID/);

    // The same checks in this process, quicker.
    expect(await inProcess(['jobs', 'get', 'a', 'b'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unexpected argument "b"/) });
    expect(await inProcess(['jobs', 'list', '--limit', 'ten'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--limit must be a whole number/),
    });
    expect(await inProcess(['jobs', 'watch', 'j', '--interval', '0'])).toMatchObject({ code: 2 });
    expect(await inProcess(['jobs', 'create', '--agent', 'a'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/give --command/) });
    expect(await inProcess(['jobs', 'create', '--command', 'x', '--agent', 'a', '--args', '{nope'])).toMatchObject({ code: 2 });
    expect(await inProcess(['jobs', 'create', '--command', 'x', '--agent', 'a', '--abort-criterion', 'failed:10'])).toMatchObject({
      code: 2,
    });
    expect(await inProcess(['jobs', 'list'], {})).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/no token: give --token, --token-command, or set BIZ_TOKEN/),
    });
    expect(await inProcess(['jobs', 'list', '--base-url', 'ftp://x'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--base-url/),
    });
    expect(await inProcess(['groups', 'add', 'web', 'bad id!'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/not agent ids/) });
    expect(await inProcess(['config', 'set', 'a', 'novalue'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/expected KEY=VALUE/),
    });
    expect(await inProcess([])).toMatchObject({ code: 2 });
  });

  it('answers -h and --help for bizops, every noun and every verb, exit 0, without a token', async () => {
    const top = await bizops(['--help'], { env: { BIZ_TOKEN: undefined } });
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^usage: bizops <noun> <verb> \[options\]/);
    for (const verb of VERBS) {
      const words = verb.verb === '' ? [verb.noun] : [verb.noun, verb.verb];
      expect(top.stdout).toContain(`  ${words.join(' ')}`);
      const help = await inProcess([...words, '-h'], {});
      expect(help.code, words.join(' ')).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^usage: bizops ${words.join(' ')}`));
      expect(help.stdout).toContain('--base-url URL');
    }
    expect((await inProcess(['jobs', '--help'], {})).stdout).toMatch(/^usage: bizops jobs <verb>/);
    expect((await inProcess(['groups', 'add', '--help'], {})).stdout).toContain('one id at a time');
  });
});

describe('bizops and a busy service', () => {
  it('waits out a 503 with Retry-After and goes on when the service answers', async () => {
    fake = await fakeService((_request, index) =>
      index === 0
        ? {
            status: 503,
            headers: { 'retry-after': '1' },
            body: { error: 'temporarily_unavailable', error_description: 'store', request_id: 'r-1' },
          }
        : { status: 200, body: { jobs: [], next_cursor: null } },
    );
    const started = Date.now();
    const result = await bizops(['jobs', 'list', '--json'], { env: { BIZ_BASE_URL: fake.url, BIZ_TOKEN: 'tok' } });
    expect(result.code).toBe(0);
    expect(json(result)).toEqual({ jobs: [], next_cursor: null });
    expect(result.stderr).toBe('bizops: 503 from the service, trying again in 1.0 s (try 2 of 4)\n');
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests.every((r) => r.authorization === 'Bearer tok')).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('reports a 429 that does not pass after four tries, with the error and its request id', async () => {
    fake = await fakeService(() => ({
      status: 429,
      headers: { 'retry-after': '0', 'x-request-id': 'hdr-1' },
      body: { error: 'rate_limited', error_description: 'too many requests for this agent' },
    }));
    const result = await bizops(['jobs', 'get', 'j-1'], { env: { BIZ_BASE_URL: fake.url, BIZ_TOKEN: 'tok' } });
    expect(result.code).toBe(1);
    expect(fake.requests).toHaveLength(4);
    expect(result.stderr.split('\n').slice(-3)).toEqual([
      'bizops: GET /api/jobs/j-1: 429 rate_limited: too many requests for this agent',
      // No request_id in the body: the X-Request-Id header's.
      'bizops: request_id hdr-1',
      '',
    ]);
  });

  it('tells a service it cannot reach, exit 1', async () => {
    // A port just freed: nothing listens there.
    const closed = await fakeService(() => ({ status: 200 }));
    await closed.close();
    const result = await inProcess(['jobs', 'list'], { BIZ_TOKEN: 't', BIZ_BASE_URL: closed.url });
    expect(result).toMatchObject({ code: 1, stderr: `bizops: cannot reach ${closed.url}: ECONNREFUSED\n` });
  });
});

describe('the verbs of the newer routes, against their documented shapes (docs/api.md once merged)', () => {
  it('pause and resume send the reason; dry-run sends ?dry_run=true; history shows each transition', async () => {
    const paused = job('paused', { pending: 2 }, { pause_reason: 'canary looks bad' });
    fake = await fakeService((request) => {
      if (request.url === '/api/jobs/j-1/pause') return { status: 200, body: paused };
      if (request.url === '/api/jobs/j-1/resume') return { status: 200, body: job('in_progress', { pending: 2 }) };
      if (request.url === '/api/jobs?dry_run=true') {
        return { status: 200, body: { dry_run: true, targets: 3, by_group: { web: 2 }, agents_listed: 1, estimated_rollout_minutes: 3 } };
      }
      if (request.url === '/api/jobs/j-1/executions/a-1') {
        return {
          status: 200,
          body: {
            agent_id: 'a-1',
            command_id: 'j-1',
            status: 'completed',
            attempt: 2,
            history: [
              { status: 'delivered', at: '2026-01-01T00:00:00.000Z', attempt: 1 },
              { status: 'failed', at: '2026-01-01T00:00:05.000Z', attempt: 1, status_details: { step: 'unpack' } },
              { status: 'pending', at: '2026-01-01T00:00:05.000Z', attempt: 2, reason: 'retry' },
              { status: 'completed', at: '2026-01-01T00:01:00.000Z', attempt: 2 },
            ],
            history_truncated: true,
          },
        };
      }
      return { status: 404, body: { error: 'not_found', error_description: 'no such route', request_id: 'r' } };
    });
    const env = { BIZ_BASE_URL: fake.url, BIZ_TOKEN: 't' };
    const pause = await inProcess(['jobs', 'pause', 'j-1', '--reason', 'canary looks bad'], env);
    expect(pause).toMatchObject({ code: 0, stdout: expect.stringMatching(/^job job-1 {2}restart {2}paused \(canary looks bad\)\n/) });
    expect(JSON.parse((await inProcess(['jobs', 'resume', 'j-1', '--json'], env)).stdout)).toMatchObject({ status: 'in_progress' });
    const dry = await inProcess(['jobs', 'dry-run', '--command', 'echo', '--group', 'web', '--agent', 'a-9', '--max-per-minute', '1'], env);
    expect(dry.stdout).toBe('dry run: 3 target(s), 1 named\n  group web: 2\nestimated rollout: 3 min\n');
    const history = await inProcess(['jobs', 'history', 'j-1', 'a-1'], env);
    expect(history.stdout.split('\n')).toEqual([
      'a-1  j-1  completed  attempt 2',
      'AT                        STATUS     ATTEMPT  DETAILS',
      '2026-01-01T00:00:00.000Z  delivered  1        -',
      '2026-01-01T00:00:05.000Z  failed     1        step: unpack',
      '2026-01-01T00:00:05.000Z  pending    2        retry',
      '2026-01-01T00:01:00.000Z  completed  2        -',
      '(older entries dropped: the 50 most recent are kept)',
      '',
    ]);
    expect(fake.requests.map((r) => [r.method, r.url, r.body])).toEqual([
      ['POST', '/api/jobs/j-1/pause', '{"reason":"canary looks bad"}'],
      ['POST', '/api/jobs/j-1/resume', ''],
      ['POST', '/api/jobs?dry_run=true', '{"command":"echo","targets":{"agents":["a-9"],"groups":["web"]},"rollout":{"max_per_minute":1}}'],
      ['GET', '/api/jobs/j-1/executions/a-1', ''],
    ]);
  });

  it('jobs create sends every option as the documented body, with an Idempotency-Key', async () => {
    const answer = job('scheduled', { pending: 1 }, {
      rollout: {
        max_per_minute: 100,
        current_per_minute: 5,
        exponential: { base_per_minute: 5, increment_factor: 2, increase_after: { succeeded: 10 } },
      },
      abort: { criteria: [{ failure_type: 'timed_out', threshold_percent: 10, min_executed: 20 }] },
      retry: { criteria: [{ failure_type: 'failed', max_attempts: 3 }] },
      schedule: { start_at: '2027-01-01T00:00:00.000Z', end_at: null, end_behavior: 'stop_rollout' },
    } as Partial<JobView>);
    fake = await fakeService(() => ({ status: 201, body: answer }));
    const created = await inProcess(
      [
        'jobs',
        'create',
        '--command',
        'upgrade',
        '--args',
        '{"to":"2.0"}',
        '--agent',
        'a-1',
        '--group',
        'web',
        '--ttl',
        '3600',
        '--timeout',
        '600',
        '--exponential',
        '5:2.0:succeeded:10',
        '--max-per-minute',
        '100',
        '--abort-criterion',
        'timed_out:10:20',
        '--abort-criterion',
        'all:30:5',
        '--retry',
        'failed:3',
        '--start-at',
        '2027-01-01T00:00:00Z',
        '--end-at',
        '2027-01-02T00:00:00Z',
        '--end-behavior',
        'cancel',
        '--continuous',
      ],
      { BIZ_BASE_URL: fake.url, BIZ_TOKEN: 't' },
    );
    expect(created.code).toBe(0);
    expect(created.stdout.split('\n').slice(4, 8)).toEqual([
      'rollout: max 100/min, now 5/min, exponential from 5/min ×2 every 10 succeeded',
      'abort: timed_out at 10% after 20 executed',
      'retry: failed up to 3 attempts',
      'schedule: start_at: 2027-01-01T00:00:00.000Z; end_at: null; end_behavior: stop_rollout',
    ]);
    expect(fake.requests[0]?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(fake.requests[0]?.body ?? '')).toEqual({
      command: 'upgrade',
      args: { to: '2.0' },
      targets: { agents: ['a-1'], groups: ['web'] },
      ttl_seconds: 3600,
      timeout_seconds: 600,
      continuous: true,
      rollout: { max_per_minute: 100, exponential: { base_per_minute: 5, increment_factor: 2, increase_after: { succeeded: 10 } } },
      abort: {
        criteria: [
          { failure_type: 'timed_out', threshold_percent: 10, min_executed: 20 },
          { failure_type: 'all', threshold_percent: 30, min_executed: 5 },
        ],
      },
      retry: { criteria: [{ failure_type: 'failed', max_attempts: 3 }] },
      schedule: { start_at: '2027-01-01T00:00:00Z', end_at: '2027-01-02T00:00:00Z', end_behavior: 'cancel' },
    });
  });
});

describe('bulk membership', () => {
  it('sends 2,500 ids in requests of at most 1,000 and adds up the answers', async () => {
    fake = await fakeService((request) => {
      const ids = JSON.parse(request.body).add as string[];
      return { status: 200, body: { added: ids.length - 1, removed: 0, unchanged: 1, refused: [] } };
    });
    const ids = Array.from({ length: 2500 }, (_, i) => `a-${i}`);
    const result = await bizops(['groups', 'add', 'web', '-', '--json'], {
      env: { BIZ_BASE_URL: fake.url, BIZ_TOKEN: 't' },
      input: `${ids.join('\n')}\na-0\n`,
    });
    expect(json(result)).toEqual({ added: 2497, removed: 0, unchanged: 3, refused: [] });
    expect(fake.requests.map((r) => [r.method, r.url, JSON.parse(r.body).add.length])).toEqual([
      ['POST', '/api/groups/web/members', 1000],
      ['POST', '/api/groups/web/members', 1000],
      ['POST', '/api/groups/web/members', 500],
    ]);
    expect(fake.requests.flatMap((r) => JSON.parse(r.body).add)).toEqual(ids);
    expect(chunks([1, 2, 3], 2)).toEqual([[1, 2], [3]]);
  });

  it('goes one id at a time where the service has no bulk route, and says how', async () => {
    fake = await fakeService((request) =>
      request.method === 'POST'
        ? { status: 404, body: { error: 'not_found', error_description: 'no such route', request_id: 'r' } }
        : request.url.endsWith('/full')
          ? { status: 409, body: { error: 'conflict', error_description: 'the agent is in 64 groups', request_id: 'r' } }
          : { status: 204 },
    );
    const result = await bizops(['groups', 'remove', 'web', 'a', 'b', 'c'], { env: { BIZ_BASE_URL: fake.url, BIZ_TOKEN: 't' } });
    expect(result).toMatchObject({ code: 0, stdout: 'web: 3 removed, 0 refused (one by one)\n' });
    expect(fake.requests.map((r) => `${r.method} ${r.url}`).sort()).toEqual([
      'DELETE /api/groups/web/agents/a',
      'DELETE /api/groups/web/agents/b',
      'DELETE /api/groups/web/agents/c',
      'POST /api/groups/web/members',
    ]);
    const refused = await bizops(['groups', 'add', 'web', 'ok', 'full', '--one-by-one', '--json'], {
      env: { BIZ_BASE_URL: fake.url, BIZ_TOKEN: 't' },
    });
    expect(refused.code).toBe(1);
    expect(json(refused)).toEqual({
      added: 1,
      removed: 0,
      unchanged: null,
      refused: [{ agent_id: 'full', reason: 'group_limit' }],
      one_by_one: true,
    });
  });
});

describe('the watch', () => {
  it('summarizes: terminal/total, rate from the samples, the share against each criterion, an estimate', () => {
    const now = Date.parse('2026-01-01T00:02:00.000Z');
    const view = job(
      'in_progress',
      { pending: 50, in_progress: 10, completed: 30, failed: 6, timed_out: 4 },
      {
        rollout: { max_per_minute: 100, current_per_minute: 20 },
        abort: {
          criteria: [
            { failure_type: 'timed_out', threshold_percent: 10, min_executed: 20 },
            { failure_type: 'all', threshold_percent: 50, min_executed: 5 },
          ],
        },
      },
    );
    const samples = [
      { at: now - 60_000, terminal: 20, started: 30 },
      { at: now, terminal: 40, started: 50 },
    ];
    const summary = summarize(view, samples, now);
    expect(summary).toMatchObject({ total: 100, terminal: 40, endedPerMinute: 20, startedPerMinute: 20, elapsedMs: 120_000 });
    expect(summary.criteria).toEqual([
      { type: 'timed_out', thresholdPercent: 10, minExecuted: 20, failures: 4, sharePercent: 10, judged: 40, met: true },
      { type: 'all', thresholdPercent: 50, minExecuted: 5, failures: 10, sharePercent: 25, judged: 40, met: false },
    ]);
    // 60 left at 20 a minute: 3 minutes; 50 pending at 20 a minute: 2.5 minutes; the longer.
    expect(summary.remainingMs).toBe(180_000);

    const lines = frame(summary, paint(false), 80);
    expect(lines).toEqual([
      'job job-1  restart  in_progress',
      `${'['}${'#'.repeat(20)}${'.'.repeat(30)}] 40/100 terminal (40%)`,
      'pending 50 · in_progress 10 · completed 30 · failed 6 · timed_out 4',
      'rollout 20/min (max 100) · ending 20/min · first deliveries 20/min',
      'abort timed_out: 10.0% of 40 judged, threshold 10% after 20  MET',
      'abort all: 25.0% of 40 judged, threshold 50% after 5',
      'elapsed 2m00s · left 3m00s',
    ]);
    expect(changeLine(summary, now)).toBe(
      '00:02:00  job-1  in_progress  40/100  pending 50 · in_progress 10 · completed 30 · failed 6 · timed_out 4  abort timed_out 10.0%/10% abort all 25.0%/50%',
    );
    // The older abort form is one criterion of type all.
    const older = summarize(
      job('in_progress', { failed: 1, completed: 1 }, { abort: { failure_threshold_percent: 50, min_executed: 2 } }),
      [],
      now,
    );
    expect(older.criteria).toEqual([
      { type: 'all', thresholdPercent: 50, minExecuted: 2, failures: 1, sharePercent: 50, judged: 2, met: true },
    ]);
    expect(older.endedPerMinute).toBeNull();
  });

  it('colours only a terminal without NO_COLOR', () => {
    expect(paintFor({ isTTY: true }, {}).enabled).toBe(true);
    expect(paintFor({ isTTY: true }, { NO_COLOR: '1' }).enabled).toBe(false);
    expect(paintFor({ isTTY: false }, {}).enabled).toBe(false);
    expect(frame(summarize(job('completed', { completed: 1 }), [], Date.now()), paint(true))[0]).toBe(
      '\x1b[1mjob job-1\x1b[22m  restart  \x1b[32mcompleted\x1b[39m',
    );
  });

  it("goes on through a service unavailable past its retries, and ends on the job's end (exit 0)", async () => {
    fake = await fakeService((_request, index) =>
      index === 0
        ? { status: 200, body: job('in_progress', { pending: 1 }) }
        : index <= 4
          ? { status: 503, headers: { 'retry-after': '0' }, body: { error: 'temporarily_unavailable', request_id: 'r' } }
          : { status: 200, body: job('completed', { completed: 1 }, { completed_at: '2026-01-01T00:00:10.000Z' }) },
    );
    let out = '';
    const warnings: string[] = [];
    const code = await watchJob(new Api({ baseUrl: fake.url, tokens: fixedToken('t') }), 'job-1', 10, {
      out: (text) => (out += text),
      warn: (line) => warnings.push(line),
      tty: false,
      json: false,
      paint: paint(false),
    });
    expect(code).toBe(0);
    expect(fake.requests).toHaveLength(6);
    expect(warnings).toEqual(['bizops: 503 temporarily_unavailable; reading again in 0.01 s']);
    expect(out).toMatch(/in_progress {2}0\/1 {2}pending 1\n.*completed {2}1\/1 {2}completed 1\njob completed\n$/);
  });

  it('in a terminal, redraws the view in place until the job ends, and exits 3 on an abort', async () => {
    const states = [
      job('in_progress', { pending: 2 }),
      job('in_progress', { pending: 2 }),
      job('in_progress', { pending: 1, failed: 1 }),
      job('aborted', { failed: 1, canceled: 1 }, { cancel_reason: 'job_aborted', completed_at: '2026-01-01T00:01:00.000Z' }),
    ];
    fake = await fakeService((_request, index) => ({ status: 200, body: states[Math.min(index, states.length - 1)] }));
    let out = '';
    const code = await watchJob(new Api({ baseUrl: fake.url, tokens: fixedToken('t') }), 'job-1', 10, {
      out: (text) => (out += text),
      tty: true,
      json: false,
      paint: paint(false),
    });
    expect(code).toBe(3);
    expect(fake.requests).toHaveLength(4);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the ANSI escape the view redraws with
    const frames = out.split(/\u001b\[\d+F\u001b\[J/);
    // Four frames: the first drawn as is, each next one after moving back over the last and clearing.
    expect(frames).toHaveLength(4);
    expect(frames[0]).toMatch(/^job job-1 {2}restart {2}in_progress\n\[\.+\] 0\/2 terminal/);
    expect(out).toContain('\x1b[5F\x1b[J');
    expect(frames[3]).toMatch(/aborted \(job_aborted\)\n\[#+\] 2\/2 terminal \(100%\)/);
    expect(frames[3]).toMatch(/elapsed 1m00s · left -\njob aborted \(job_aborted\)\n$/);
  });
});

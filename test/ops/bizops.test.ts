/**
 * bizops as a child process over real HTTP against the real local server (dev/server.ts), on the
 * in-memory store and on Redis through the bridge, with real tokens: every verb whose route the
 * service has, the --json shapes, exit codes (2 for bad usage; 0, 3 and 4 from `jobs watch`
 * without a terminal through a real job to completion, to an abort and to a cancel, agents driven
 * by direct HTTP calls), and errors told with their request_id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { type StoreTarget, storeTargets } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';
import { bizops, inProcess, json, type Run, started } from './helpers.ts';

const targets = storeTargets('ops');
const OPERATOR_SCOPES = 'admin:commands admin:config admin:revoke admin:groups admin:jobs';
const REQUEST_ID = /request_id [0-9a-f-]{36}/;

describe.each(targets)('bizops against the local server on the $name store', (target: StoreTarget) => {
  let server: LocalServer;
  let operator: string;

  const api = async (method: string, url: string, token: string, body?: unknown) => {
    const response = await fetch(`${server.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? null : JSON.parse(text)) as any };
  };
  const ops = (args: readonly string[], options: { env?: Record<string, string | undefined>; input?: string } = {}) =>
    bizops(args, { ...options, env: { BIZ_BASE_URL: server.url, BIZ_TOKEN: operator, ...options.env } });
  /** The same in this process: for the checks after a verb's first run as a child. */
  const inp = (args: readonly string[], options: { env?: Record<string, string | undefined>; input?: string } = {}) =>
    inProcess(args, { BIZ_BASE_URL: server.url, BIZ_TOKEN: operator, ...options.env }, options.input);
  /** `jobs watch` started, once it has printed its first reading. */
  const watch = async (args: readonly string[]) => {
    const run = started(['jobs', 'watch', ...args], { env: { BIZ_BASE_URL: server.url, BIZ_TOKEN: operator } });
    await run.until(/\n/);
    return { done: run.result };
  };
  /** An agent's poll and report, as the agent would make them. */
  const poll = async (agent: string) => (await api('GET', '/api/commands', await signToken({ sub: agent }))).body.commands as any[];
  const report = async (agent: string, commandId: string, status: string, extra: Record<string, unknown> = {}) => {
    const answer = await api('POST', '/api/results', await signToken({ sub: agent }), { command_id: commandId, status, ...extra });
    expect(answer).toMatchObject({ status: 200 });
  };
  const ok = (run: Run) => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return run;
  };
  const createJob = async (args: readonly string[]) =>
    json(ok(await ops(['jobs', 'create', '--json', '--command', 'echo', ...args]))) as any;

  beforeAll(async () => {
    server = await startServer({ env: { ...TEST_ENV, ...target.env() }, port: 0 });
    operator = await signToken({ sub: 'ops-1', scope: OPERATOR_SCOPES }, { expiresIn: 600 });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('groups add takes ids as arguments, from a file and from stdin; list and remove read them back', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'bizops-')), 'agents.txt');
    writeFileSync(file, 'g-3\ng-4\n\ng-3\n');

    const added = json(ok(await ops(['groups', 'add', 'web', 'g-1', 'g-2', '-', '--file', file, '--json'], { input: 'g-5, g-6\n' })));
    expect(added).toMatchObject({ added: 6, refused: [] });
    expect(added.removed).toBe(0);
    expect(added.unchanged).toBe(0);

    const listed = json(ok(await ops(['groups', 'list', 'web', '--json'])));
    expect(listed).toEqual({ group: 'web', agents: ['g-1', 'g-2', 'g-5', 'g-6', 'g-3', 'g-4'], next_cursor: null });
    const paged = json(ok(await inp(['groups', 'list', 'web', '--limit', '6', '--json'])));
    expect(paged.agents).toHaveLength(6);
    const some = json(ok(await inp(['groups', 'list', 'web', '--limit', '4', '--json'])));
    expect(some.agents).toEqual(['g-1', 'g-2', 'g-5', 'g-6']);
    expect(some.next_cursor).toEqual(expect.any(String));
    expect(ok(await ops(['groups', 'list', '--agent', 'g-1'])).stdout).toBe('web\n');

    const removed = json(ok(await ops(['groups', 'remove', 'web', 'g-1', 'g-2', '--json'])));
    expect(removed).toMatchObject({ added: 0, removed: 2, refused: [] });
    expect(ok(await inp(['groups', 'list', 'web'])).stdout).toBe('g-5\ng-6\ng-3\ng-4\n');
    // One by one, as on a service without the bulk route: the same outcome.
    expect(json(ok(await inp(['groups', 'add', 'web', 'g-1', '--one-by-one', '--json'])))).toEqual({
      added: 1,
      removed: 0,
      unchanged: null,
      refused: [],
      one_by_one: true,
    });
    expect(ok(await inp(['groups', 'list', 'web'])).stdout).toBe('g-5\ng-6\ng-3\ng-4\ng-1\n');
  });

  it('groups add refuses an agent in 64 groups already and exits 1, adding the others', async () => {
    for (let i = 0; i < 64; i += 1) expect((await api('PUT', `/api/groups/full-${i}/agents/crowded`, operator)).status).toBe(204);
    const run = await ops(['groups', 'add', 'one-more', 'crowded', 'fresh', '--json']);
    expect(run.code).toBe(1);
    expect(json(run)).toMatchObject({ added: 1, refused: [{ agent_id: 'crowded', reason: 'group_limit' }] });
    expect(ok(await inp(['groups', 'list', 'one-more'])).stdout).toBe('fresh\n');
  });

  it('groups add sends 2,500 ids from stdin in requests of at most 1,000 (the bulk route)', async () => {
    const ids = Array.from({ length: 2500 }, (_, i) => `bulk-${i}`);
    expect(json(ok(await ops(['groups', 'add', 'big', '-', '--json'], { input: ids.join('\n') })))).toEqual({
      added: 2500,
      removed: 0,
      unchanged: 0,
      refused: [],
    });
    expect(json(ok(await ops(['groups', 'add', 'big', '-', '--json'], { input: ids.join('\n') })))).toMatchObject({
      added: 0,
      unchanged: 2500,
    });
    expect(json(ok(await inp(['groups', 'list', 'big', '--all', '--json']))).agents).toEqual(ids);
  });

  it('commands enqueue, list, get, history and cancel', async () => {
    const enqueued = json(
      ok(await ops(['commands', 'enqueue', 'c-1', '--command', 'restart', '--args', '{"service":"nginx"}', '--ttl', '600', '--json'])),
    );
    expect(enqueued).toMatchObject({ agent_id: 'c-1', command: 'restart', args: { service: 'nginx' }, status: 'pending' });
    const id = enqueued.command_id as string;

    const listed = json(ok(await ops(['commands', 'list', 'c-1', '--json'])));
    expect(listed).toMatchObject({ agent_id: 'c-1', next_cursor: null });
    expect(listed.commands.map((c: any) => c.command_id)).toEqual([id]);
    expect(ok(await inp(['commands', 'list', 'c-1'])).stdout).toMatch(new RegExp(`^COMMAND_ID .*\\n${id}\\s+restart\\s+pending`));

    await poll('c-1');
    await report('c-1', id, 'in_progress', { status_details: { step: 'stopping' } });
    const got = json(ok(await ops(['commands', 'get', 'c-1', id, '--json'])));
    expect(got).toMatchObject({ command_id: id, status: 'in_progress', status_details: { step: 'stopping' } });
    expect(ok(await inp(['commands', 'get', 'c-1', id])).stdout).toMatch(/status\s+in_progress/);

    const history = ok(await ops(['commands', 'history', 'c-1', id])).stdout;
    expect(history).toMatch(/delivered/);
    expect(history).toMatch(/in_progress/);
    expect(json(ok(await inp(['commands', 'history', 'c-1', id, '--json'])))).toMatchObject({ command_id: id, status: 'in_progress' });

    const canceled = json(ok(await ops(['commands', 'cancel', 'c-1', id, '--reason', 'wrong host', '--json'])));
    expect(canceled).toMatchObject({ status: 'canceled', cancel_reason: 'wrong host' });
    const again = await ops(['commands', 'cancel', 'c-1', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/409 conflict: the command was canceled/);
    expect(again.stderr).toMatch(REQUEST_ID);
  });

  it('config set replaces the overrides and answers the merged configuration; config get reads it as the agent', async () => {
    const set = json(ok(await ops(['config', 'set', 'cfg-1', 'poll_interval_seconds=10', 'region=eu', '--json'])));
    expect(set).toMatchObject({ agent_id: 'cfg-1', config: { poll_interval_seconds: 10, region: 'eu', commands_per_fetch: 10 } });
    const agent = await signToken({ sub: 'cfg-1' });
    expect(json(ok(await ops(['config', 'get', '--json'], { env: { BIZ_TOKEN: agent } })))).toMatchObject({
      agent_id: 'cfg-1',
      config: { poll_interval_seconds: 10, region: 'eu' },
    });
    expect(ok(await inp(['config', 'set', 'cfg-1', '--file', '-'], { input: '{"region":"us"}' })).stdout).toMatch(/region\s+us/);
    expect(ok(await inp(['config', 'get'], { env: { BIZ_TOKEN: agent } })).stdout).toMatch(/poll_interval_seconds\s+30/);
    // An operator's read of one agent's configuration, where the service has no such route (405: PUT only).
    const byOperator = await inp(['config', 'get', 'cfg-1']);
    expect(byOperator.code).toBe(1);
    expect(byOperator.stderr).toMatch(/405 method_not_allowed: this service has no operator read of an agent's configuration/);
  });

  it('revoke: every token of a subject, and one token read from stdin', async () => {
    const before = await signToken({ sub: 'rev-1' });
    expect((await api('GET', '/api/commands', before)).status).toBe(200);
    expect(ok(await ops(['revoke', '--sub', 'rev-1'])).stdout).toBe('revoked every token of rev-1 issued until now\n');
    expect((await api('GET', '/api/commands', before)).body).toMatchObject({ error: 'invalid_token', error_description: 'token_revoked' });

    const one = await signToken({ sub: 'rev-2' });
    const run = ok(await ops(['revoke', '--token-file', '-', '--json'], { input: `${one}\n` }));
    expect(run.stdout).not.toContain(one);
    expect(json(run)).toEqual({ revoked: true });
    expect((await api('GET', '/api/commands', one)).status).toBe(401);
    expect((await inp(['revoke', '--sub', 'a', '--jti', 'b'])).code).toBe(2);
  });

  it('jobs create, get, list and executions: the API JSON with --json, tables without', async () => {
    await inp(['groups', 'add', 'jobs-web', 'j-1', 'j-2', 'j-3']);
    const job = await createJob([
      '--args',
      '{"n":1}',
      '--group',
      'jobs-web',
      '--agent',
      'j-9',
      '--max-per-minute',
      '100',
      '--abort-percent',
      '90',
      '--abort-min',
      '5',
      '--description',
      'first',
    ]);
    expect(job).toMatchObject({
      command: 'echo',
      args: { n: 1 },
      targets: { agents: ['j-9'], groups: ['jobs-web'] },
      status: 'in_progress',
      counts: { pending: 4 },
      abort: { min_executed: 5 },
      description: 'first',
    });
    expect(job.rollout.max_per_minute).toBe(100);

    const got = json(ok(await ops(['jobs', 'get', job.job_id, '--json'])));
    expect(got.job_id).toBe(job.job_id);
    const human = ok(await inp(['jobs', 'get', job.job_id])).stdout;
    expect(human).toContain(`job ${job.job_id}  echo  in_progress`);
    expect(human).toContain('0/4 terminal');
    expect(human).toMatch(/abort: all at 90% after 5 executed/);

    const listed = json(ok(await ops(['jobs', 'list', '--status', 'in_progress', '--json'])));
    expect(listed.jobs.map((j: any) => j.job_id)).toContain(job.job_id);
    expect(listed).toHaveProperty('next_cursor');
    expect(ok(await inp(['jobs', 'list'])).stdout).toMatch(new RegExp(`${job.job_id}\\s+in_progress\\s+echo\\s+0/4`));

    // j-1 fails after a progress note; j-2 completes; the rest wait.
    await poll('j-1');
    await report('j-1', job.job_id, 'in_progress', { status_details: { step: 'unpacking' } });
    await report('j-1', job.job_id, 'failed', { result: { reason: 'disk full' } });
    await poll('j-2');
    await report('j-2', job.job_id, 'completed', { result: { ok: true } });

    const all = json(ok(await inp(['jobs', 'executions', job.job_id, '--json'])));
    // Target order: the groups' members, then the named agents.
    expect(all.executions.map((e: any) => [e.agent_id, e.status])).toEqual([
      ['j-1', 'failed'],
      ['j-2', 'completed'],
      ['j-3', 'pending'],
      ['j-9', 'pending'],
    ]);
    const failed = json(ok(await ops(['jobs', 'executions', job.job_id, '--status', 'failed,timed_out', '--json'])));
    expect(failed).toMatchObject({ job_id: job.job_id, next_cursor: null });
    expect(failed.executions).toEqual([expect.objectContaining({ agent_id: 'j-1', status: 'failed' })]);

    const table = ok(await ops(['jobs', 'executions', job.job_id, '--status', 'failed,timed_out'])).stdout.split('\n');
    expect(table[0]).toMatch(/^AGENT\s+ATTEMPT\s+STATUS\s+WHEN\s+REASON$/);
    expect(table[1]).toMatch(/^j-1\s+1\s+failed\s+\d{4}-\d\d-\d\dT\S+Z\s+/);
    // The reason: the latest status_details and the start of the result (from the listing, or,
    // on a service whose listing lacks them, read from the execution's command).
    expect(table[1]).toMatch(/step: unpacking \| \{"reason":"disk full"\}$/);
  });

  it('jobs watch without a terminal: one line per change, exit 0 when the job completes', async () => {
    const job = await createJob(['--agent', 'w-1', '--agent', 'w-2']);
    const watching = await watch([job.job_id, '--interval', '0.2']);
    for (const agent of ['w-1', 'w-2']) {
      await poll(agent);
      await report(agent, job.job_id, 'completed', { result: { ok: true } });
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    const run = ok(await watching.done);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d  ${job.job_id}  in_progress  0/2  pending 2$`));
    expect(lines).toContainEqual(expect.stringMatching(/in_progress {2}1\/2 {2}pending 1 · completed 1$/));
    expect(lines.at(-2)).toMatch(/completed {2}2\/2 {2}completed 2$/);
    expect(lines.at(-1)).toBe('job completed');
    // No line repeats the one before: a line per change only.
    expect(new Set(lines.map((line) => line.slice(10))).size).toBe(lines.length);
  });

  it('jobs watch exits 3 when the job aborts, with the failure share against its criterion', async () => {
    const job = await createJob(['--agent', 'x-1', '--agent', 'x-2', '--agent', 'x-3', '--abort-percent', '50', '--abort-min', '1']);
    const watching = await watch([job.job_id, '--interval', '0.2']);
    await poll('x-1');
    await report('x-1', job.job_id, 'failed', { result: { reason: 'boom' } });
    const run = await watching.done;
    expect(run.code).toBe(3);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/in_progress {2}0\/3 {2}pending 3 {2}abort all -\/50%$/);
    expect(lines.at(-2)).toMatch(/aborted \(job_aborted\) {2}3\/3 {2}failed 1 · canceled 2 {2}abort all 100\.0%\/50%$/);
    expect(lines.at(-1)).toBe('job aborted (job_aborted)');
  });

  it('jobs watch exits 4 when the job is canceled (by jobs cancel)', async () => {
    const job = await createJob(['--agent', 'y-1']);
    const watching = await watch([job.job_id, '--interval', '0.2', '--json']);
    const canceled = json(ok(await ops(['jobs', 'cancel', job.job_id, '--reason', 'wrong build', '--json'])));
    expect(canceled).toMatchObject({ status: 'canceled', cancel_reason: 'wrong build', force: false });
    const run = await watching.done;
    expect(run.code).toBe(4);
    // --json: the job as the API answers it, one line per change.
    const seen = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(seen[0]).toMatchObject({ job_id: job.job_id, status: 'in_progress' });
    expect(seen.at(-1)).toMatchObject({ status: 'canceled', cancel_reason: 'wrong build', counts: { canceled: 1 } });

    const again = await ops(['jobs', 'cancel', job.job_id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /^bizops: POST \/api\/jobs\/\S+\/cancel: 409 conflict: the job was canceled\nbizops: request_id [0-9a-f-]{36}\n$/,
    );
    const unknown = await ops(['jobs', 'watch', 'no-such-job', '--json']);
    expect(unknown.code).toBe(1);
    expect(json(unknown)).toMatchObject({ error: 'not_found', request_id: expect.any(String) });
  });

  it('errors: the API error, its description and request_id; a bad token is 401 with its reason', async () => {
    const run = await ops(['jobs', 'get', 'nope']);
    expect(run).toMatchObject({ code: 1, stdout: '' });
    expect(run.stderr).toMatch(/^bizops: GET \/api\/jobs\/nope: 404 not_found: no such job\nbizops: request_id [0-9a-f-]{36}\n$/);
    const bad = await ops(['jobs', 'list'], { env: { BIZ_TOKEN: 'not-a-token' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/401 invalid_token: malformed_token/);
    expect(bad.stderr).toMatch(REQUEST_ID);
    const scope = await inp(['jobs', 'list'], { env: { BIZ_TOKEN: await signToken({ sub: 'ops-2', scope: 'admin:commands' }) } });
    expect(scope.stderr).toMatch(/403 insufficient_scope/);
    // The token from a command: a wrong one fails at the API, not in bizops.
    const fromCommand = await ops(['jobs', 'list', '--token-command', `echo ${operator}`, '--json'], { env: { BIZ_TOKEN: undefined } });
    expect(fromCommand.code).toBe(0);
    expect(json(fromCommand)).toHaveProperty('jobs');
  });

  it('jobs pause and resume, with a reason', async () => {
    const job = await createJob(['--agent', 'p-1', '--agent', 'p-2']);
    const paused = json(ok(await ops(['jobs', 'pause', job.job_id, '--reason', 'canary looks bad', '--json'])));
    expect(paused).toMatchObject({ status: 'paused', pause_reason: 'canary looks bad' });
    expect(await poll('p-1')).toEqual([]);
    expect(ok(await inp(['jobs', 'get', job.job_id])).stdout).toMatch(/paused \(canary looks bad\)/);
    expect(json(ok(await inp(['jobs', 'resume', job.job_id, '--json'])))).toMatchObject({ status: 'in_progress' });
    expect((await poll('p-1')).map((c) => c.command_id)).toEqual([job.job_id]);
  });

  it('jobs dry-run shows the targets per group and writes nothing', async () => {
    await inp(['groups', 'add', 'dry-web', 'd-1', 'd-2']);
    const dry = json(
      ok(
        await ops([
          'jobs',
          'dry-run',
          '--command',
          'echo',
          '--group',
          'dry-web',
          '--agent',
          'd-9',
          '--max-per-minute',
          '1',
          '--description',
          'dry',
          '--json',
        ]),
      ),
    );
    expect(dry).toMatchObject({ dry_run: true, targets: 3, by_group: { 'dry-web': 2 }, agents_listed: 1 });
    const human = ok(await inp(['jobs', 'dry-run', '--command', 'echo', '--group', 'dry-web', '--description', 'dry'])).stdout;
    expect(human).toMatch(/^dry run: 2 target\(s\), 0 named\n {2}group dry-web: 2\n/);
    // Nothing written: no job of that description, nothing for its agents.
    expect(json(ok(await inp(['jobs', 'list', '--all', '--json']))).jobs.filter((j: any) => j.description === 'dry')).toEqual([]);
    expect(await poll('d-1')).toEqual([]);
  });

  it("jobs history: one agent's execution with every transition", async () => {
    const job = await createJob(['--agent', 'h-1']);
    await poll('h-1');
    await report('h-1', job.job_id, 'in_progress', { status_details: { step: 'one' } });
    await report('h-1', job.job_id, 'completed', { result: {} });
    const history = json(ok(await ops(['jobs', 'history', job.job_id, 'h-1', '--json'])));
    expect(history.history.map((h: any) => h.status)).toEqual(['delivered', 'in_progress', 'completed']);
    const human = ok(await inp(['jobs', 'history', job.job_id, 'h-1'])).stdout;
    expect(human).toMatch(/in_progress\s+1\s+step: one/);
    const absent = await ops(['jobs', 'history', job.job_id, 'not-a-target']);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toMatch(REQUEST_ID);
  });
});

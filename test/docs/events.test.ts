/**
 * The sample events in events/ stay valid: one per route of the route table (and one for the
 * fallback), each a well-formed HTTP API payload 2.0 event that dev/invoke.ts feeds to
 * its handler with a fresh token, getting the status the route should answer.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import jwt from 'jsonwebtoken';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { functionForEvent, invokeEvent, prepareEvent, readEvent, scopesFor, TOKEN_PLACEHOLDER } from '../../dev/invoke.ts';
import { fallbackRoute, routes } from '../../lib/http/routes.ts';
import { findRoute } from '../../lib/http/router.ts';
import { deletePrefix, HAS_REDIS, REDIS_HOST, REDIS_PORT, tcpClient, uniquePrefix } from '../helpers/redis.ts';
import { useTestRuntime } from '../helpers/runtime.ts';
import { TEST_ENV } from '../helpers/tokens.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EVENTS = path.join(ROOT, 'events');
const PREFIX = uniquePrefix('events');
const files = readdirSync(EVENTS)
  .filter((file) => file.endsWith('.json'))
  .sort();

/** What each sample answers on a fresh in-memory store. */
const EXPECTED_STATUS: Record<string, number> = {
  'health.json': 200,
  'command-keys.json': 200,
  'ready.json': 200,
  'get-commands.json': 200,
  'post-results.json': 404, // no such command yet (the command line enqueues one first)
  'get-config.json': 200,
  'token-info.json': 200,
  'whoami.json': 200,
  'enqueue-command.json': 201,
  'get-command.json': 404, // no such command yet (the command line enqueues one first)
  'list-commands.json': 200,
  'cancel-command.json': 404, // no such command yet (the command line enqueues one first)
  'put-config.json': 200,
  'post-revocations.json': 204,
  'put-group-member.json': 204,
  'post-group-members.json': 200,
  'delete-group-member.json': 204, // idempotent: no member is fine
  'get-group-members.json': 200,
  'get-agent-groups.json': 200,
  'create-job.json': 201,
  'list-jobs.json': 200,
  'get-job.json': 404, // no such job yet (the command line creates one first)
  'list-job-executions.json': 404, // no such job yet (the command line creates one first)
  'get-job-execution.json': 404, // no such job yet (the command line creates one first)
  'cancel-job.json': 404, // no such job yet (the command line creates one first)
  'pause-job.json': 404, // no such job yet (the command line creates one first)
  'resume-job.json': 404, // no such job yet (the command line creates one first)
  'console-page.json': 200,
  'console-file.json': 404, // the script's and stylesheet's names carry their content's hash: the page names the current ones
  'fallback.json': 405, // DELETE on a GET-only path
};

describe('events/', () => {
  it('has one event per route of the route table and one for the fallback, named after the handler', () => {
    expect(files).toEqual([...routes.map((route) => `${route.handler}.json`), `${fallbackRoute.handler}.json`].sort());
    expect(Object.keys(EXPECTED_STATUS).sort()).toEqual(files);
  });

  it.each(files)('%s is a payload 2.0 event for its route', async (file) => {
    const event = await readEvent(path.join(EVENTS, file));
    expect(functionForEvent(event)).toBe(file.replace(/\.json$/, ''));
    expect(event.version).toBe('2.0');
    expect(event.requestContext.routeKey).toBe(event.routeKey);
    expect(event.requestContext.http.path).toBe(event.rawPath);
    const match = findRoute(event.requestContext.http.method, event.rawPath);
    if (event.routeKey === '$default') {
      expect(match).toBeUndefined();
    } else {
      expect(match && `${match.route.method} ${match.route.path}`).toBe(event.routeKey);
      expect(event.pathParameters ?? {}).toEqual(match?.pathParameters);
    }
    if (event.body !== undefined) expect(() => JSON.parse(event.body as string)).not.toThrow();
    const route = routes.find((candidate) => candidate.handler === file.replace(/\.json$/, ''));
    if (route?.scopes !== undefined) expect(event.headers.authorization).toBe(`Bearer ${TOKEN_PLACEHOLDER}`);
  });
});

describe('dev/invoke.ts', () => {
  beforeEach(() => {
    useTestRuntime();
  });

  it.each(files)('runs %s through its handler and gets the expected status', async (file) => {
    const result = await invokeEvent(await readEvent(path.join(EVENTS, file)), undefined, { env: TEST_ENV });
    expect(result.functionName).toBe(file.replace(/\.json$/, ''));
    expect(result.statusCode, JSON.stringify(result.body)).toBe(EXPECTED_STATUS[file]);
  });

  it('replaces the token placeholder with a fresh token carrying the route scopes', async () => {
    const event = await readEvent(path.join(EVENTS, 'enqueue-command.json'));
    const prepared = await prepareEvent(event, 'enqueue-command', { env: TEST_ENV });
    const token = prepared.headers.authorization?.replace(/^Bearer /, '') ?? '';
    const claims = jwt.verify(token, TEST_ENV.JWT_SECRET_KEY, {
      issuer: TEST_ENV.JWT_ISSUER,
      audience: TEST_ENV.JWT_AUDIENCE,
    }) as jwt.JwtPayload;
    expect(claims.scope).toBe(scopesFor('enqueue-command').join(' '));
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);
    expect(event.headers.authorization).toBe(`Bearer ${TOKEN_PLACEHOLDER}`);
  });

  it('runs from the command line and prints the answer', async () => {
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, ['dev/invoke.ts', 'health', 'events/health.json'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', POWERTOOLS_LOG_LEVEL: 'SILENT' },
    });
    expect(JSON.parse(stdout)).toMatchObject({ functionName: 'health', statusCode: 200, body: { status: 'ok' } });
  });

  // The store npm start uses: memory, and with USE_REDIS=true the local bridge in front of Redis.
  const stores = [
    { name: 'memory', env: {} },
    ...(HAS_REDIS
      ? [{ name: 'redis', env: { USE_REDIS: 'true', REDIS_HOST, REDIS_PORT: String(REDIS_PORT), REDIS_KEY_PREFIX: PREFIX } }]
      : []),
  ];
  it.each(stores)(
    'on the $name store, enqueues a command first for the samples about one command, which then answer 200',
    async ({ env }) => {
      const run = promisify(execFile);
      const call = (file: string) =>
        run(process.execPath, ['dev/invoke.ts', file], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', POWERTOOLS_LOG_LEVEL: 'SILENT', ...env },
        });
      const [read, posted, canceled] = await Promise.all([
        call('events/get-command.json'),
        call('events/post-results.json'),
        call('events/cancel-command.json'),
      ]);
      expect(JSON.parse(canceled.stdout)).toMatchObject({ functionName: 'cancel-command', statusCode: 200 });
      expect(JSON.parse(read.stdout)).toMatchObject({
        functionName: 'get-command',
        statusCode: 200,
        body: { status: 'pending', command: 'restart' },
      });
      expect(read.stderr).toMatch(/^invoke: enqueued command [0-9a-f-]{36} first/);
      const id = /command ([0-9a-f-]{36})/.exec(posted.stderr)?.[1];
      expect(JSON.parse(posted.stdout)).toMatchObject({ statusCode: 200, body: { command_id: id, accepted: true } });
    },
  );

  it.each(stores)('on the $name store, creates a job first for the samples about one job, which then answer 200', async ({ env }) => {
    const run = promisify(execFile);
    const call = (file: string) =>
      run(process.execPath, ['dev/invoke.ts', file], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', POWERTOOLS_LOG_LEVEL: 'SILENT', ...env },
      });
    const [read, listed, one, canceled] = await Promise.all([
      call('events/get-job.json'),
      call('events/list-job-executions.json'),
      call('events/get-job-execution.json'),
      call('events/cancel-job.json'),
    ]);
    const id = /job ([0-9a-f-]{36})/.exec(read.stderr)?.[1];
    expect(read.stderr).toMatch(/^invoke: created job [0-9a-f-]{36} first/);
    expect(JSON.parse(read.stdout)).toMatchObject({
      functionName: 'get-job',
      statusCode: 200,
      body: { job_id: id, command: 'restart', status: 'in_progress', targets: { agents: ['agent-001'], groups: ['web-eu'] } },
    });
    // The sample asks for failed and timed-out executions: none yet.
    expect(JSON.parse(listed.stdout)).toMatchObject({ functionName: 'list-job-executions', statusCode: 200, body: { executions: [] } });
    expect(JSON.parse(one.stdout)).toMatchObject({
      functionName: 'get-job-execution',
      statusCode: 200,
      body: { agent_id: 'agent-001', status: 'pending', command_id: null, history: [], history_truncated: false },
    });
    expect(JSON.parse(canceled.stdout)).toMatchObject({
      functionName: 'cancel-job',
      statusCode: 200,
      body: { status: 'canceled', force: false, cancel_reason: 'rollback: 1.4.2 breaks the health check' },
    });
  });

  it.each(stores)('on the $name store, creates a job first for the pause and resume samples, which then answer 200', async ({ env }) => {
    const run = promisify(execFile);
    const call = (file: string) =>
      run(process.execPath, ['dev/invoke.ts', file], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', POWERTOOLS_LOG_LEVEL: 'SILENT', ...env },
      });
    const [paused, resumed] = await Promise.all([call('events/pause-job.json'), call('events/resume-job.json')]);
    expect(JSON.parse(paused.stdout)).toMatchObject({
      functionName: 'pause-job',
      statusCode: 200,
      body: { status: 'paused', pause_reason: 'canary failures: hold while we look' },
    });
    // Each sample gets a job of its own: one not paused is resumed unchanged, in progress.
    expect(JSON.parse(resumed.stdout)).toMatchObject({ functionName: 'resume-job', statusCode: 200, body: { status: 'in_progress' } });
  });
});

afterAll(async () => {
  if (!HAS_REDIS) return;
  const redis = await tcpClient();
  await deletePrefix(redis, PREFIX);
  redis.destroy();
});

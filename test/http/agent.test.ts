/**
 * The reference agent (dev/agent.ts) against the real local server over real HTTP, on both
 * stores: it fetches, runs and reports; runs a command delivered twice once; posts a result again
 * after a 503 until it is accepted, once; waits out Retry-After on a 429; fetches a new token
 * before the old one expires. Plus its pure parts: back-off, Retry-After, token times, arguments.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Agent,
  type AgentEvent,
  backoffMs,
  type CommandHandler,
  commandExecutor,
  DEMO_COMMANDS,
  fixedToken,
  parseAgentArgs,
  refreshAtMs,
  retryAfterSeconds,
  tokenCommand,
  UsageError,
} from '../../dev/agent.ts';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { createRuntime, createStoreBackend, setRuntime } from '../../lib/runtime.ts';
import { type Actions, type CommandStore, StoreUnavailableError } from '../../lib/store/types.ts';
import { type StoreTarget, storeTargets } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';
import { jsonCall } from '../helpers/http-json.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const targets = storeTargets('agent');

/** The store, with the next `times` results failing as an outage: after the write (the answer lost) or before it. */
function losingResults(store: Actions<CommandStore>, times: number, when: 'after-write' | 'before-write'): Actions<CommandStore> {
  let left = times;
  return new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'complete') {
        return async (...args: Parameters<Actions<CommandStore>['complete']>) => {
          if (left > 0) {
            left -= 1;
            if (when === 'after-write') await target.complete(...args);
            throw new StoreUnavailableError('injected outage');
          }
          return target.complete(...args);
        };
      }
      const value = Reflect.get(target, name, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe.each(targets)('the reference agent on the $name store', (target: StoreTarget) => {
  let server: LocalServer | undefined;
  let operator: string;

  async function start(extra: Record<string, string> = {}, commands?: (store: Actions<CommandStore>) => Actions<CommandStore>) {
    server = await startServer({ env: { ...TEST_ENV, ...target.env(extra) }, port: 0 });
    if (commands) {
      const stores = createStoreBackend(server.config);
      setRuntime(createRuntime(server.config, { stores: { ...stores, commands: commands(stores.commands) } }));
    }
    operator = await signToken({ sub: 'ops', scope: 'admin:commands' });
    return server;
  }

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const api = (method: string, url: string, token: string, body?: unknown) => jsonCall(server?.url ?? '', method, url, token, body);
  const enqueue = async (agent: string, command: string, args: Record<string, unknown> = {}) => {
    const created = await api('POST', `/api/agents/${agent}/commands`, operator, { command, args });
    expect(created.status).toBe(201);
    return created.body.command_id as string;
  };
  const readBack = async (agent: string, id: string) => (await api('GET', `/api/agents/${agent}/commands/${id}`, operator)).body;

  /** An agent whose events are kept, with short back-off steps. */
  const agentFor = (sub: string, options: { token?: string; handlers?: Record<string, CommandHandler>; maxAttempts?: number } = {}) => {
    const events: AgentEvent[] = [];
    const runs: string[] = [];
    const counted = Object.fromEntries(
      Object.entries({ ...DEMO_COMMANDS, ...options.handlers }).map(([name, run]) => [
        name,
        ((args, signal, command) => {
          runs.push(command.command_id);
          return run(args, signal, command);
        }) satisfies CommandHandler,
      ]),
    );
    return (async () => {
      const agent = new Agent({
        baseUrl: server?.url ?? '',
        tokens: fixedToken(options.token ?? (await signToken({ sub }, { expiresIn: 600 }))),
        executor: commandExecutor(counted),
        log: (event) => events.push(event),
        pollIntervalSeconds: 0.2,
        backoffBaseMs: 100,
        backoffCapMs: 2_000,
        ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
      });
      return { agent, events, runs };
    })();
  };

  it('fetches, runs and reports: echo completes with its args, fail and an unknown command are failed with a reason', async () => {
    await start();
    const echo = await enqueue('agent-a1', 'echo', { text: 'hi', n: 2 });
    const fail = await enqueue('agent-a1', 'fail', { reason: 'disk full' });
    const unknown = await enqueue('agent-a1', 'reboot');

    const { agent, runs } = await agentFor('agent-a1');
    const summary = await agent.run({ once: true });

    expect(summary).toMatchObject({ polls: 1, ran: 3, accepted: 3, dropped: 0, unreported: 0, errors: 0 });
    // The unknown command reaches no handler.
    expect(runs).toEqual([echo, fail]);
    expect(await readBack('agent-a1', echo)).toMatchObject({ status: 'completed', result: { text: 'hi', n: 2 } });
    expect(await readBack('agent-a1', fail)).toMatchObject({ status: 'failed', result: { reason: 'error', message: 'disk full' } });
    expect(await readBack('agent-a1', unknown)).toMatchObject({
      status: 'failed',
      result: { reason: 'unknown_command', command: 'reboot' },
    });
  });

  it('asks for commands_per_fetch commands per fetch and polls again at once after a full page', async () => {
    await start();
    const ops = await signToken({ sub: 'ops', scope: 'admin:config' });
    expect((await api('PUT', '/api/agents/agent-a2/config', ops, { commands_per_fetch: 2 })).status).toBe(200);
    for (let i = 0; i < 3; i += 1) await enqueue('agent-a2', 'echo', { i });

    const { agent, events } = await agentFor('agent-a2');
    const summary = await agent.run({ maxCommands: 3 });

    expect(summary).toMatchObject({ ran: 3, accepted: 3 });
    const fetches = events.filter((e) => e.type === 'response' && e.path.startsWith('/api/commands'));
    expect(fetches.every((e) => e.type === 'response' && e.path === '/api/commands?limit=2')).toBe(true);
    expect(events.filter((e) => e.type === 'fetched').map((e) => (e.type === 'fetched' ? e.count : -1))).toEqual([2, 1]);
  });

  it('posts a result again after a 503 whose write went through, and the command is completed once', async () => {
    await start({}, (store) => losingResults(store, 1, 'after-write'));
    const id = await enqueue('agent-a3', 'echo', { v: 1 });

    const { agent, events, runs } = await agentFor('agent-a3');
    const summary = await agent.run({ once: true });

    const posts = events
      .filter((e) => e.type === 'response' && e.path === '/api/results')
      .map((e) => (e.type === 'response' ? e.status : 0));
    expect(posts).toEqual([503, 200]);
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ status: 503, retryAfterSeconds: 1 });
    expect(summary).toMatchObject({ ran: 1, accepted: 1, dropped: 0, unreported: 0 });
    expect(runs).toEqual([id]);
    expect(await readBack('agent-a3', id)).toMatchObject({ status: 'completed', result: { v: 1 } });
  });

  it('runs a command delivered again once, and keeps posting its result until it is accepted', async () => {
    // Two results lost before the write, one try per request: the command comes back on the next fetch.
    await start({}, (store) => losingResults(store, 2, 'before-write'));
    const id = await enqueue('agent-a4', 'echo', { v: 2 });

    const { agent, events, runs } = await agentFor('agent-a4', { maxAttempts: 1 });
    const summary = await agent.run({ maxCommands: 1 });

    expect(runs).toEqual([id]);
    expect(events).toContainEqual({ type: 'duplicate', commandId: id });
    expect(summary).toMatchObject({ ran: 1, accepted: 1, unreported: 0 });
    expect(await readBack('agent-a4', id)).toMatchObject({ status: 'completed', result: { v: 2 } });
  });

  it('drops a result answered 409 (another result won) and does not retry it', async () => {
    await start();
    const id = await enqueue('agent-a5', 'echo', { v: 3 });
    const agentToken = await signToken({ sub: 'agent-a5' }, { expiresIn: 600 });
    // Another process of the same agent answered first, differently.
    const { handlers } = {
      handlers: {
        echo: (async () => {
          await api('POST', '/api/results', agentToken, { command_id: id, status: 'failed', result: { by: 'other' } });
          return { by: 'me' };
        }) satisfies CommandHandler,
      },
    };
    const { agent, events } = await agentFor('agent-a5', { token: agentToken, handlers });
    const summary = await agent.run({ once: true });

    expect(summary).toMatchObject({ ran: 1, accepted: 0, dropped: 1, unreported: 0 });
    expect(events.filter((e) => e.type === 'response' && e.path === '/api/results')).toHaveLength(1);
    expect(events).toContainEqual({ type: 'dropped', commandId: id, status: 409, error: 'conflict' });
    expect(await readBack('agent-a5', id)).toMatchObject({ status: 'failed', result: { by: 'other' } });
  });

  it('waits at least Retry-After after a 429 before trying again', async () => {
    await start({ RATE_LIMIT_REQUESTS: '2', RATE_LIMIT_WINDOW_SECONDS: '2' });
    const id = await enqueue('agent-a6', 'echo', { v: 4 });

    const { agent, events } = await agentFor('agent-a6', { maxAttempts: 10 });
    const summary = await agent.run({ once: true });

    expect(summary).toMatchObject({ ran: 1, accepted: 1 });
    const responses = events.filter((e): e is Extract<AgentEvent, { type: 'response' }> => e.type === 'response');
    const limited = responses.findIndex((e) => e.status === 429);
    expect(limited).toBeGreaterThanOrEqual(0);
    const retry = events.find((e): e is Extract<AgentEvent, { type: 'retry' }> => e.type === 'retry' && e.status === 429);
    expect(retry?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    const first = responses[limited];
    const next = responses[limited + 1];
    if (first === undefined || next === undefined) throw new Error('no request after the 429');
    expect(next.sentAt - first.at).toBeGreaterThanOrEqual((retry?.retryAfterSeconds ?? 1) * 1000);
    expect(await readBack('agent-a6', id)).toMatchObject({ status: 'completed' });
  });

  it('runs the token command again before the token expires, so no request is refused', async () => {
    // No leeway: a token sent after its exp would be refused with 401.
    await start({ JWT_CLOCK_TOLERANCE_SECONDS: '0' });
    const minted: { at: number; exp: number }[] = [];
    const tokens = tokenCommand(`"${process.execPath}" "${path.join(ROOT, 'dev', 'token.ts')}" --sub agent-a7 --ttl 3`, {
      env: { PATH: process.env.PATH ?? '', ...TEST_ENV },
      onToken: (token) => {
        const exp = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).exp as number;
        minted.push({ at: Date.now(), exp });
      },
    });
    const events: AgentEvent[] = [];
    const agent = new Agent({ baseUrl: server?.url ?? '', tokens, log: (event) => events.push(event), pollIntervalSeconds: 0.25 });
    const stop = AbortSignal.timeout(5_500);
    const late = setTimeout(() => void enqueue('agent-a7', 'echo', { late: true }), 4_000);

    const summary = await agent.run({ signal: stop });
    clearTimeout(late);

    expect(minted.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < minted.length; i += 1) expect(minted[i]?.at).toBeLessThan((minted[i - 1]?.exp ?? 0) * 1000);
    const statuses = new Set(events.flatMap((e) => (e.type === 'response' ? [e.status] : [])));
    expect([...statuses]).toEqual([200]);
    expect(summary).toMatchObject({ ran: 1, accepted: 1, errors: 0 });
  }, 20_000);

  if (target.name === 'redis') {
    it('posts a result again while Redis hangs until it answers, and it is accepted once', async () => {
      const bridge = target.bridge;
      await start({ REDIS_TIMEOUT_MS: '300' });
      const id = await enqueue('agent-a8', 'outage', {});
      const handlers: Record<string, CommandHandler> = {
        outage: () => {
          bridge.setDelay(600);
          setTimeout(() => bridge.setDelay(0), 1_500);
          return { ok: true };
        },
      };
      const { agent, events, runs } = await agentFor('agent-a8', { handlers, maxAttempts: 10 });
      const summary = await agent.run({ once: true });
      bridge.setDelay(0);

      const posts = events
        .filter((e) => e.type === 'response' && e.path === '/api/results')
        .map((e) => (e.type === 'response' ? e.status : 0));
      expect(posts[0]).toBe(503);
      expect(posts.at(-1)).toBe(200);
      expect(runs).toEqual([id]);
      expect(summary).toMatchObject({ ran: 1, accepted: 1, unreported: 0 });
      expect(await readBack('agent-a8', id)).toMatchObject({ status: 'completed', result: { ok: true } });
    });
  }
});

describe('the reference agent, its parts', () => {
  it('backs off exponentially with jitter, capped, and never sooner than Retry-After', () => {
    const at = (attempt: number, random: number, retryAfterSeconds?: number) =>
      backoffMs(attempt, {
        baseMs: 500,
        capMs: 30_000,
        random: () => random,
        ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
      });
    expect([0, 1, 2, 3].map((attempt) => at(attempt, 1))).toEqual([500, 1000, 2000, 4000]);
    expect(at(3, 0)).toBe(2000);
    expect(at(20, 1)).toBe(30_000);
    expect(at(0, 0, 5)).toBe(5000);
    expect(at(0, 1, 5)).toBe(5500);
    expect(at(10, 1, 1)).toBe(30_000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    expect(retryAfterSeconds('7', now)).toBe(7);
    expect(retryAfterSeconds('Tue, 01 Dec 2026 10:00:30 GMT', now)).toBe(30);
    expect(retryAfterSeconds(null, now)).toBeUndefined();
    expect(retryAfterSeconds('soon', now)).toBeUndefined();
    expect(retryAfterSeconds('999999', now)).toBe(3600);
  });

  it('refreshes at 80 % of a token lifetime, at most 60 s and at least 1 s before exp', async () => {
    const now = 1_000_000;
    const token = async (ttl: number) => signToken({}, { now, expiresIn: ttl });
    expect(refreshAtMs(await token(300), now * 1000)).toBe((now + 240) * 1000);
    expect(refreshAtMs(await token(3600), now * 1000)).toBe((now + 3540) * 1000);
    expect(refreshAtMs(await token(3), now * 1000)).toBe((now + 2) * 1000);
    expect(refreshAtMs('not a token', now * 1000)).toBe(Number.POSITIVE_INFINITY);
  });

  it('takes its options from the command line', () => {
    expect(parseAgentArgs(['--base-url', 'http://127.0.0.1:5000', '--token', 't', '--once'])).toEqual({
      baseUrl: 'http://127.0.0.1:5000',
      token: 't',
      once: true,
      push: false,
      acceptNewKeys: false,
    });
    expect(parseAgentArgs(['--base-url', 'http://h', '--token', 't', '--push'])).toMatchObject({ push: true });
    expect(parseAgentArgs(['--base-url', 'http://h', '--token-command', 'echo t', '--max-commands', '3'])).toMatchObject({
      tokenCommand: 'echo t',
      maxCommands: 3,
    });
    expect(parseAgentArgs(['-h'])).toBe('help');
    for (const bad of [
      ['--token', 't'],
      ['--base-url', 'ftp://h', '--token', 't'],
      ['--base-url', 'http://h'],
      ['--base-url', 'http://h', '--token', 't', '--token-command', 'c'],
      ['--base-url', 'http://h', '--token', 't', '--max-commands', '0'],
      ['--base-url', 'http://h', '--token', 't', '--bogus'],
    ]) {
      expect(() => parseAgentArgs(bad), bad.join(' ')).toThrow(UsageError);
    }
  });

  it('fails the token command with its stderr when it prints nothing', async () => {
    const tokens = tokenCommand('echo oops >&2; exit 3');
    await expect(tokens.token()).rejects.toThrow(/--token-command failed: .*oops/);
  });
});

describe('the command-line tools', () => {
  const run = promisify(execFile);
  const tools = [
    { name: 'agent', file: 'dev/agent.ts' },
    { name: 'token', file: 'dev/token.ts' },
    { name: 'revoke', file: 'dev/revoke.ts' },
    { name: 'invoke', file: 'dev/invoke.ts' },
    { name: 'bench', file: 'bench/run.ts' },
  ];
  const call = async (file: string, args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [file, ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', POWERTOOLS_LOG_LEVEL: 'SILENT' },
        timeout: 15_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it.each(tools)(
    'npm run $name answers -h and --help with its usage (exit 0), an unknown option with it on stderr (exit 2)',
    async ({ name, file }) => {
      const [short, long, unknown] = await Promise.all([call(file, ['-h']), call(file, ['--help']), call(file, ['--bogus'])]);
      expect(short).toMatchObject({ code: 0 });
      expect(short.stdout).toMatch(new RegExp(`^usage: npm run ${name} `));
      expect(long.stdout).toBe(short.stdout);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('--bogus');
      expect(unknown.stderr).toContain(`usage: npm run ${name} `);
    },
  );

  it('npm run token -- --kid signs with the one JWT_SECRET_KEY, as the service verifies it', async () => {
    const answer = await call('dev/token.ts', ['--sub', 'agent-001', '--kid', 'k9']);
    expect(answer.code).toBe(0);
    const header = JSON.parse(Buffer.from(answer.stdout.trim().split('.')[0] ?? '', 'base64url').toString()) as { kid?: string };
    expect(header.kid).toBe('k9');
  });

  it('npm run token -- --kid with JWT_SECRET_KEYS names the kids there are', async () => {
    const { stderr, code } = await run(process.execPath, ['dev/token.ts', '--sub', 'a', '--kid', 'k9'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', JWT_SECRET_KEYS: 'k1=one-secret-0123456789abcdef0123,k2=two-secret-0123456789abcdef0123' },
    }).then(
      () => ({ stderr: '', code: 0 }),
      (error: { stderr: string; code: number }) => error,
    );
    expect(code).toBe(2);
    expect(stderr).toContain('no secret has kid "k9"; its kids are k1, k2');
  });
});

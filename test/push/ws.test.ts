/**
 * The push channel over real WebSockets (`ws` clients) against the real local server, on both
 * stores: $connect with good, expired, revoked, wrong-scope and missing tokens (refused as the
 * HTTP answer to the upgrade); ping/pong; a wake on each event (command, cancel of a delivered
 * command, config, job creation, a continuous join); a revocation closes within a second; a
 * fifth connection closes the oldest; the 10 min idle timeout and the 2 h limit on a manual
 * clock; a store that cannot answer refuses the connection with 503.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { ManualClock } from '../../lib/clock.ts';
import { IDLE_TIMEOUT_MS } from '../../lib/push/messages.ts';
import { MAX_CONNECTION_MS } from '../../lib/store/connections.ts';
import { type StoreTarget, storeTargets } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

const OPERATOR_SCOPES = 'admin:commands admin:config admin:revoke admin:groups admin:jobs';

/** An open push connection, every frame it received kept in order. */
interface Client {
  readonly ws: WebSocket;
  readonly frames: Record<string, unknown>[];
  /** The next frame of `type` (one already received counts), within `ms`. */
  next(type: string, ms?: number): Promise<Record<string, unknown>>;
  /** The close code, within `ms`. */
  closed(ms?: number): Promise<number>;
}

type Opened = { client: Client; status?: undefined } | { client?: undefined; status: number; body: string };

function open(url: string, token: string | undefined): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } });
    const frames: Record<string, unknown>[] = [];
    const waiters: (() => void)[] = [];
    let closeCode: number | undefined;
    ws.on('message', (data) => {
      frames.push(JSON.parse(data.toString()) as Record<string, unknown>);
      for (const waiter of waiters.splice(0)) waiter();
    });
    ws.on('close', (code) => {
      closeCode = code;
      for (const waiter of waiters.splice(0)) waiter();
    });
    const until = (done: () => boolean, ms: number, what: string) =>
      new Promise<void>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`no ${what} within ${ms} ms`)), ms);
        const check = () => {
          if (done()) {
            clearTimeout(timer);
            ok();
          } else waiters.push(check);
        };
        check();
      });
    const client: Client = {
      ws,
      frames,
      next: async (type, ms = 2_000) => {
        let found: Record<string, unknown> | undefined;
        await until(
          () => {
            const index = frames.findIndex((frame) => frame.type === type);
            if (index === -1) return false;
            found = frames.splice(index, 1)[0];
            return true;
          },
          ms,
          `${type} frame`,
        );
        return found as Record<string, unknown>;
      },
      closed: async (ms = 2_000) => {
        await until(() => closeCode !== undefined, ms, 'close');
        return closeCode as number;
      },
    };
    ws.once('open', () => resolve({ client }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (error) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(error);
    });
  });
}

describe.each(storeTargets('push-ws'))('the push channel on the $name store', (target: StoreTarget) => {
  let server: LocalServer | undefined;
  const clients: WebSocket[] = [];
  let clock: ManualClock;
  let operator: string;

  async function start(extra: Record<string, string> = {}) {
    clock = new ManualClock(Date.now());
    server = await startServer({ env: { ...TEST_ENV, ...target.env(extra) }, port: 0, clock });
    operator = await signToken({ sub: 'ops', scope: OPERATOR_SCOPES }, { now: nowS() });
    return server;
  }
  const nowS = () => Math.floor(clock.now() / 1000);
  const wsUrl = () => `${server?.url.replace('http', 'ws')}/ws`;
  const agentToken = (sub: string, claims: Record<string, unknown> = {}) => signToken({ sub, ...claims }, { now: nowS(), expiresIn: 3600 });
  const connect = async (token: string | undefined) => {
    const opened = await open(wsUrl(), token);
    if (opened.client === undefined) throw new Error(`refused: ${opened.status} ${opened.body}`);
    clients.push(opened.client.ws);
    return opened.client;
  };
  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${server?.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
  };

  afterEach(async () => {
    for (const ws of clients.splice(0)) ws.terminate();
    await server?.close();
    server = undefined;
  });

  it('accepts a good agent token and answers a ping with a pong', async () => {
    await start();
    const client = await connect(await agentToken(`agent-${randomUUID()}`));

    client.ws.send(JSON.stringify({ type: 'ping' }));

    expect(await client.next('pong')).toEqual({ type: 'pong' });
    expect(server?.push.server.size).toBe(1);
  });

  it('refuses the upgrade with 401 for a missing, expired or revoked token and 403 for a token without agent:commands', async () => {
    await start();
    const agent = `agent-${randomUUID()}`;
    const revokedJti = randomUUID();
    const revoked = await agentToken(agent, { jti: revokedJti });
    expect((await api('POST', '/api/revocations', operator, { jti: revokedJti, exp: nowS() + 3600 })).status).toBe(204);

    const missing = await open(wsUrl(), undefined);
    const expired = await open(wsUrl(), await signToken({ sub: agent }, { now: nowS() - 7200, expiresIn: 60 }));
    const wasRevoked = await open(wsUrl(), revoked);
    const wrongScope = await open(wsUrl(), await signToken({ sub: agent, scope: 'agent:results' }, { now: nowS() }));

    expect([missing.status, expired.status, wasRevoked.status, wrongScope.status]).toEqual([401, 401, 401, 403]);
    expect(JSON.parse(wasRevoked.status === undefined ? '{}' : wasRevoked.body)).toMatchObject({ error: 'invalid_token' });
    expect(JSON.parse(wrongScope.status === undefined ? '{}' : wrongScope.body)).toMatchObject({ error: 'insufficient_scope' });
    expect(server?.push.server.size).toBe(0);
  });

  it('accepts a certificate-bound token without a certificate (none can reach $connect), refuses a DPoP-bound one, and an unbound one when bound tokens are required', async () => {
    await start({ REQUIRE_BOUND_TOKENS: 'true' });
    const agent = `agent-${randomUUID()}`;

    const bound = await open(wsUrl(), await agentToken(agent, { cnf: { 'x5t#S256': 'q3P1xJ9sJ7dKJ8bH0y0pXq8Jrq0Y3Z6x9Yp3m5Q2n1A' } }));
    const dpop = await open(wsUrl(), await agentToken(agent, { cnf: { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' } }));
    const unbound = await open(wsUrl(), await agentToken(agent));

    expect(bound.status).toBeUndefined();
    bound.client?.ws.terminate();
    expect([dpop.status, unbound.status]).toEqual([401, 401]);
  });

  it('wakes the agent when a command is enqueued for it, and the poll it makes holds the command', async () => {
    await start();
    const agent = `agent-${randomUUID()}`;
    const token = await agentToken(agent);
    const client = await connect(token);

    const created = await api('POST', `/api/agents/${agent}/commands`, operator, { command: 'echo', args: {} });
    const woke = await client.next('wake');
    const polled = await api('GET', '/api/commands', token);

    expect(created.status).toBe(201);
    expect(woke).toEqual({ type: 'wake', reason: 'command', at: new Date(clock.now()).toISOString() });
    expect((polled.body.commands as { command_id: string }[]).map((c) => c.command_id)).toEqual([created.body.command_id]);
  });

  it('wakes the agent on a cancel of a command it holds, and on a change of its config; not on a cancel of one it never received', async () => {
    await start();
    const agent = `agent-${randomUUID()}`;
    const token = await agentToken(agent);
    const client = await connect(token);
    const first = await api('POST', `/api/agents/${agent}/commands`, operator, { command: 'echo', args: {} });
    await client.next('wake');
    await api('GET', '/api/commands', token);
    const second = await api('POST', `/api/agents/${agent}/commands`, operator, { command: 'echo', args: {} });
    await client.next('wake');

    const undelivered = await api('POST', `/api/agents/${agent}/commands/${second.body.command_id}/cancel`, operator, {});
    await server?.push.queue.idle();
    expect(client.frames).toEqual([]);
    const delivered = await api('POST', `/api/agents/${agent}/commands/${first.body.command_id}/cancel`, operator, {});
    const onCancel = await client.next('wake');
    const config = await api('PUT', `/api/agents/${agent}/config`, operator, { poll_interval_seconds: 60 });
    const onConfig = await client.next('wake');

    expect([undelivered.status, delivered.status, config.status]).toEqual([200, 200, 200]);
    expect([onCancel.reason, onConfig.reason]).toEqual(['cancel', 'config']);
  });

  it('wakes the targets of a new job that are connected, and an agent that joins a group with a continuous job', async () => {
    await start();
    const [named, member, joiner] = [randomUUID(), randomUUID(), randomUUID()].map((id) => `agent-${id}`) as [string, string, string];
    const group = `group-${randomUUID()}`;
    expect((await api('PUT', `/api/groups/${group}/agents/${member}`, operator)).status).toBe(204);
    const clients = await Promise.all([named, member, joiner].map(async (agent) => connect(await agentToken(agent))));

    const job = await api('POST', '/api/jobs', operator, {
      command: 'echo',
      args: {},
      targets: { agents: [named], groups: [group] },
      continuous: true,
    });
    const woken = await Promise.all([clients[0]?.next('wake'), clients[1]?.next('wake')]);
    const joined = await api('PUT', `/api/groups/${group}/agents/${joiner}`, operator);
    const onJoin = await clients[2]?.next('wake');
    const polled = await api('GET', '/api/commands', await agentToken(joiner));

    expect([job.status, joined.status]).toEqual([201, 204]);
    expect(woken.map((frame) => frame?.reason)).toEqual(['job', 'job']);
    expect(onJoin?.reason).toBe('job');
    expect((polled.body.commands as { command_id: string }[]).map((c) => c.command_id)).toEqual([job.body.job_id]);
  });

  it("closes the agent's connections within a second of a revocation of its token, and of its subject", async () => {
    await start();
    const agent = `agent-${randomUUID()}`;
    const jti = randomUUID();
    const byJti = await connect(await agentToken(agent, { jti }));
    const other = await connect(await agentToken(agent));

    const started = performance.now();
    expect((await api('POST', '/api/revocations', operator, { jti, exp: nowS() + 3600 })).status).toBe(204);
    expect(await byJti.closed(1_000)).toBe(1000);
    const jtiMs = performance.now() - started;
    expect(other.ws.readyState).toBe(WebSocket.OPEN);
    clock.advance(2_000);
    expect((await api('POST', '/api/revocations', operator, { sub: agent })).status).toBe(204);
    expect(await other.closed(1_000)).toBe(1000);

    expect(jtiMs).toBeLessThan(1_000);
    await expect.poll(() => server?.push.server.size, { timeout: 1_000 }).toBe(0);
  });

  it('closes the oldest connection when an agent opens a fifth', async () => {
    await start();
    const agent = `agent-${randomUUID()}`;
    const token = await agentToken(agent);
    const opened: Client[] = [];
    for (let i = 0; i < 4; i += 1) {
      opened.push(await connect(token));
      clock.advance(1_000);
    }

    const fifth = await connect(token);

    expect(await opened[0]?.closed()).toBe(1000);
    expect(opened.slice(1).map((c) => c.ws.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN, WebSocket.OPEN]);
    expect(fifth.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes a connection idle for 10 minutes, and one open for 2 hours however busy, on the runtime clock', async () => {
    await start();
    const idle = await connect(await agentToken(`agent-${randomUUID()}`));
    const busy = await connect(await agentToken(`agent-${randomUUID()}`));

    clock.advance(IDLE_TIMEOUT_MS - 1_000);
    busy.ws.send(JSON.stringify({ type: 'ping' }));
    await busy.next('pong');
    server?.push.server.sweep();
    expect(idle.ws.readyState).toBe(WebSocket.OPEN);
    clock.advance(1_000);
    server?.push.server.sweep();
    expect(await idle.closed()).toBe(1001);
    for (let at = IDLE_TIMEOUT_MS; at < MAX_CONNECTION_MS; at += IDLE_TIMEOUT_MS / 2) {
      clock.advance(IDLE_TIMEOUT_MS / 2);
      busy.ws.send(JSON.stringify({ type: 'ping' }));
      await busy.next('pong');
      server?.push.server.sweep();
    }
    expect(await busy.closed()).toBe(1001);
  });

  if (target.name === 'redis') {
    it('refuses the upgrade with 503 when the store cannot answer, and registers nothing', async () => {
      await start({ UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' });

      const refused = await open(wsUrl(), await agentToken(`agent-${randomUUID()}`));

      expect(refused.status).toBe(503);
      expect(server?.push.server.size).toBe(0);
    });
  }
});

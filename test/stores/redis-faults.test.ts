/**
 * Fail closed, fast, and recover by itself: Redis stopped (a TCP hop to the real Redis that we
 * take down and bring back), a bridge that hangs longer than REDIS_TIMEOUT_MS, and a database
 * that answers with an HTTP error. Never a 200 while the revocation state is unknown.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import { loadConfig } from '../../lib/config.ts';
import type { UpstashBridge } from '../../dev/upstash-bridge.ts';
import { createStoreBackend } from '../../lib/runtime.ts';
import { invoke } from '../helpers/lambda.ts';
import { HAS_REDIS, REDIS_HOST, REDIS_PORT, redisEnv, startBridge } from '../helpers/redis.ts';
import { memoryTestBackend, useTestRuntime } from '../helpers/runtime.ts';
import { redisTarget } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

const TIMEOUT_MS = 400;
/** Slack for scheduling, the handler chain and the loopback hop on a busy test machine. */
const SLACK_MS = 400;

/** A stand-in for "the Redis server": a TCP hop to the real one that can be stopped and started. */
class RedisHop {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect({ host: REDIS_HOST, port: REDIS_PORT });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Like a Redis that dies: open connections are cut, new ones refused. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
}

describe.skipIf(!HAS_REDIS)('Redis faults', () => {
  const target = redisTarget('faults');
  const { prefix } = target;
  const hop = new RedisHop();
  /** A bridge to Redis through the hop, which the tests cut. */
  let hopBridge: UpstashBridge;
  let bridge: UpstashBridge;
  let token: string;

  beforeAll(async () => {
    ({ bridge } = target);
    await hop.start();
    hopBridge = await startBridge({ redisPort: hop.port });
    token = await signToken({ sub: 'agent-faults', scope: 'agent:commands' });
  });
  afterAll(async () => {
    bridge.setDelay(0);
    await Promise.all([hopBridge.close(), hop.stop()]);
  });

  const env = (over: UpstashBridge, extra: Record<string, string> = {}) =>
    redisEnv(over, prefix, { REDIS_TIMEOUT_MS: String(TIMEOUT_MS), ...extra });

  function expectUnavailable(answer: Awaited<ReturnType<typeof invoke>>): void {
    expect(answer.status).toBe(503);
    expect(answer.body.error).toBe('temporarily_unavailable');
    expect(answer.headers['retry-after']).toMatch(/^\d+$/);
  }

  it('answers 503 fast while Redis is stopped, and 200 again by itself once it is back', async () => {
    useTestRuntime(env(hopBridge));
    expect((await invoke(getCommands, { path: '/api/commands', token })).status).toBe(200);

    await hop.stop();
    const down = await timed(() => invoke(getCommands, { path: '/api/commands', token }));
    const again = await timed(() => invoke(whoami, { path: '/api/whoami', token }));

    expectUnavailable(down.value);
    expectUnavailable(again.value);
    expect(down.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    expect(again.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);

    await hop.start();
    const statuses: number[] = [];
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const answer = await invoke(getCommands, { path: '/api/commands', token });
      statuses.push(answer.status);
      if (answer.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(statuses.at(-1)).toBe(200);
    expect(statuses.slice(0, -1).every((status) => status === 503)).toBe(true);
  });

  it('answers 503 within about the timeout when the database hangs, never 200, and recovers when it answers', async () => {
    useTestRuntime(env(bridge));
    expect((await invoke(whoami, { path: '/api/whoami', token })).status).toBe(200);
    bridge.setDelay(TIMEOUT_MS * 5);

    const answers = await Promise.all(Array.from({ length: 5 }, () => timed(() => invoke(whoami, { path: '/api/whoami', token }))));
    bridge.setDelay(0);
    const recovered = await invoke(whoami, { path: '/api/whoami', token });

    for (const { value, ms } of answers) {
      expectUnavailable(value);
      expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
      expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
    expect(recovered.status).toBe(200);
  });

  it('turns a command store that cannot answer into 503 (StoreUnavailableError at the edge)', async () => {
    await hop.stop();
    try {
      const config = loadConfig({ ...TEST_ENV, ...env(hopBridge) });
      const { commands } = createStoreBackend(config);
      // Revocation answers from memory here, so the failure comes from the command store.
      useTestRuntime(env(hopBridge), { stores: { ...memoryTestBackend(), commands } });

      const answer = await invoke(getCommands, { path: '/api/commands', token });

      expectUnavailable(answer);
      expect(answer.body.error_description).toMatch(/data store/);
    } finally {
      await hop.start();
    }
  });

  it('answers 503 fast when nothing listens at the REST URL (network error, one retry)', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    useTestRuntime({ ...env(bridge), UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${port}` });

    const { value, ms } = await timed(() => invoke(whoami, { path: '/api/whoami', token }));

    expectUnavailable(value);
    // One retry after 50 ms, not the client's default five with growing back-off (cut at the timeout).
    expect(ms).toBeLessThan(250);
  });

  it('fails closed when the database answers with an HTTP error (a wrong token)', async () => {
    useTestRuntime({ ...env(bridge), UPSTASH_REDIS_REST_TOKEN: `${bridge.token}-wrong` });

    const answer = await invoke(whoami, { path: '/api/whoami', token });

    expectUnavailable(answer);
  });
});

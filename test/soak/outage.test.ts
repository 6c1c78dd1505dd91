/**
 * Faults under load. The server runs in its own process (as `npm start`) on a Redis of this
 * test's own (a redis-server child on a free port, never the machine's shared one), through a
 * local Upstash bridge in this process (so that it can be slowed down).
 *
 * - Redis killed in the middle of the load, then started again on the same port: while it is
 *   down, only 503s (never a 200 for a revoked token, never a 500); full service again within
 *   seconds without restarting the server; every result answered 200, before or after, is
 *   still there. The Redis keeps an append-only file with fsync on every write, so what it
 *   acknowledged survives its own crash: a lost result would then be ours.
 * - Redis slow (the bridge holds every request longer than REDIS_TIMEOUT_MS): every request
 *   is a 503 within the timeout, and service comes back when Redis is fast again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../dev/own-redis.ts';
import { startUpstashBridge, type UpstashBridge } from '../../dev/upstash-bridge.ts';
import { agentWorker, Ledger, makeFleet, operatorWorker, readBack, type ServerProcess, startServerProcess } from '../helpers/load.ts';
import { HAS_REDIS } from '../helpers/redis.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

/** REDIS_TIMEOUT_MS of the server in the slow-Redis test. */
const TIMEOUT_MS = 500;
/**
 * REDIS_TIMEOUT_MS of the server in the kill test: a stopped Redis fails at once (connection
 * refused), so the timeout plays no part there; a generous one keeps a CPU-starved moment on a
 * shared test machine from passing for an outage in the "full service again" window.
 */
const KILL_TEST_TIMEOUT_MS = 3_000;
const AGENTS = Number(process.env.OUTAGE_AGENTS || 20);

/** A redis-server of our own: killed and restarted by the test. */
class OwnRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'biz-outage-redis-'));
  port = 0;
  private child: ChildProcess | undefined;

  async start(): Promise<void> {
    this.port ||= await freePort();
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--dir',
        this.dir,
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const client = createClient({ socket: { host: '127.0.0.1', port: this.port, reconnectStrategy: false, connectTimeout: 500 } });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.ping();
        client.destroy();
        return;
      } catch {
        if (client.isOpen) client.destroy();
        if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not start`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** SIGKILL: a crash, not a clean shutdown. Resolves when the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  async remove(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!HAS_REDIS)('faults under load', () => {
  const redis = new OwnRedis();
  let bridge: UpstashBridge;
  let server: ServerProcess | undefined;

  /** The service on our Redis, through our bridge. */
  const serve = async (timeoutMs: number) => {
    await server?.stop();
    server = await startServerProcess({
      ...TEST_ENV,
      USE_REDIS: 'true',
      UPSTASH_REDIS_REST_URL: bridge.url,
      UPSTASH_REDIS_REST_TOKEN: bridge.token,
      REDIS_TIMEOUT_MS: String(timeoutMs),
    });
    return server;
  };

  beforeAll(async () => {
    await redis.start();
    bridge = await startUpstashBridge({ redisHost: '127.0.0.1', redisPort: redis.port });
  });

  afterAll(async () => {
    await server?.stop();
    await bridge?.close();
    await redis.remove();
  });

  it('Redis killed mid-load: only 503s while it is down, never a 200 for a revoked token, full service within seconds of its return, nothing accepted is lost', async () => {
    const server = await serve(KILL_TEST_TIMEOUT_MS);
    const fleet = await makeFleet(AGENTS);
    const ledger = new Ledger({ keepSamples: true });

    // A revoked token that keeps knocking: 401 while Redis answers, 503 while it does not, never 200.
    const revoked = await signToken({ sub: 'stolen-agent', jti: 'stolen-1' }, { expiresIn: 3600 });
    const revocation = await fetch(`${server.url}/api/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fleet.operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jti: 'stolen-1', exp: Math.floor(Date.now() / 1000) + 3600 }),
    });
    expect(revocation.status).toBe(204);
    const revokedAnswers: { status: number; sent: number }[] = [];

    const started = performance.now();
    const until = started + 8_000;
    let killedAt = Number.POSITIVE_INFINITY;
    let restartedAt = Number.POSITIVE_INFINITY;
    const faults = (async () => {
      await wait(1_500);
      await redis.kill();
      killedAt = performance.now();
      await wait(2_000);
      await redis.start();
      restartedAt = performance.now();
    })();
    const knocker = (async () => {
      while (performance.now() < until) {
        const sent = performance.now();
        const response = await fetch(`${server.url}/api/whoami`, { headers: { authorization: `Bearer ${revoked}` } });
        await response.text();
        revokedAnswers.push({ status: response.status, sent });
        await wait(20);
      }
    })();
    await Promise.all([
      faults,
      knocker,
      operatorWorker(server.url, fleet, ledger, until, 5),
      ...fleet.agents.map((agent) => agentWorker(server.url, fleet, agent, ledger, until)),
    ]);

    const during = ledger.samples.filter((s) => s.sent >= killedAt && s.done <= restartedAt);
    const afterRestart = ledger.samples.filter((s) => s.sent >= restartedAt).sort((a, b) => a.done - b.done);
    const firstOk = afterRestart.find((s) => s.status === 200 || s.status === 201);
    const lastSecond = ledger.samples.filter((s) => s.sent >= until - 1_000);
    const problems = await readBack(server.url, fleet, ledger);

    console.info(
      [
        `outage: ${ledger.samples.length} requests; killed at ${(killedAt - started).toFixed(0)} ms, back at ${(restartedAt - started).toFixed(0)} ms`,
        `  answers: ${JSON.stringify(ledger.tally())}`,
        `  while down: ${during.length} answers, statuses ${JSON.stringify([...new Set(during.map((s) => s.status))])}`,
        `  first success ${firstOk ? (firstOk.done - restartedAt).toFixed(0) : '-'} ms after the restart; last second: ${lastSecond.length} answers, statuses ${JSON.stringify([...new Set(lastSecond.map((s) => s.status))])}`,
        `  revoked token: ${JSON.stringify(Object.fromEntries([...new Set(revokedAnswers.map((a) => a.status))].map((st) => [st, revokedAnswers.filter((a) => a.status === st).length])))}`,
        `  results accepted ${ledger.accepted.size}, read back: ${problems.length} problems`,
      ].join('\n'),
    );

    expect(Number.isFinite(restartedAt)).toBe(true);
    expect(ledger.errors.slice(0, 5), 'requests without an HTTP answer').toEqual([]);
    // While Redis is down: 503 and nothing else.
    expect(during.length).toBeGreaterThan(AGENTS);
    expect([...new Set(during.map((s) => s.status))]).toEqual([503]);
    // Never a 500 at any time; the only 5xx is 503.
    expect(ledger.samples.filter((s) => s.status >= 500 && s.status !== 503)).toEqual([]);
    // The revoked token: never 200; 401 before and after, 503 while the check cannot be made.
    expect(revokedAnswers.filter((a) => a.status === 200)).toEqual([]);
    expect(revokedAnswers.some((a) => a.status === 401 && a.sent < killedAt)).toBe(true);
    expect(revokedAnswers.some((a) => a.status === 503 && a.sent > killedAt && a.sent < restartedAt)).toBe(true);
    expect(revokedAnswers.some((a) => a.status === 401 && a.sent > restartedAt)).toBe(true);
    // Back within seconds, without restarting the server; the last second is all successes.
    expect(firstOk, 'no success after the restart').toBeDefined();
    expect((firstOk?.done ?? Number.POSITIVE_INFINITY) - restartedAt).toBeLessThan(3_000);
    expect(lastSecond.length).toBeGreaterThan(AGENTS);
    expect(lastSecond.filter((s) => s.status !== 200 && s.status !== 201)).toEqual([]);
    // Nothing lost, nothing doubled, nothing crossed over.
    expect(ledger.violations.slice(0, 5)).toEqual([]);
    expect(problems.slice(0, 5)).toEqual([]);
    expect(ledger.accepted.size).toBeGreaterThan(0);
  }, 60_000);

  it('Redis slow: every request is a 503 within the timeout, and service comes back when Redis is fast again', async () => {
    const server = await serve(TIMEOUT_MS);
    const fleet = await makeFleet(AGENTS);
    const ledger = new Ledger({ keepSamples: true });
    bridge.setDelay(TIMEOUT_MS * 4);
    const slowUntil = performance.now() + 2_000;
    await Promise.all(fleet.agents.map((agent) => agentWorker(server.url, fleet, agent, ledger, slowUntil)));
    const slow = ledger.samples.slice();
    bridge.setDelay(0);
    await wait(TIMEOUT_MS * 4); // requests the bridge was still holding finish
    const fastFrom = performance.now();
    await Promise.all([
      operatorWorker(server.url, fleet, ledger, fastFrom + 2_000),
      ...fleet.agents.map((agent) => agentWorker(server.url, fleet, agent, ledger, fastFrom + 2_000)),
    ]);
    const fast = ledger.samples.filter((s) => s.sent >= fastFrom);
    const slowest = Math.max(...slow.map((s) => s.done - s.sent));

    console.info(
      `slow Redis: ${slow.length} answers while slow, statuses ${JSON.stringify([...new Set(slow.map((s) => s.status))])}, slowest ${slowest.toFixed(0)} ms (timeout ${TIMEOUT_MS} ms); then ${fast.length} answers, statuses ${JSON.stringify([...new Set(fast.map((s) => s.status))])}`,
    );
    expect(slow.length).toBeGreaterThanOrEqual(AGENTS);
    expect([...new Set(slow.map((s) => s.status))]).toEqual([503]);
    // One store call per request on the failure path: the timeout plus scheduling on a busy machine.
    expect(slowest).toBeLessThan(TIMEOUT_MS + 1_000);
    expect(fast.length).toBeGreaterThan(AGENTS);
    expect(fast.filter((s) => s.status !== 200 && s.status !== 201)).toEqual([]);
    expect(await readBack(server.url, fleet, ledger)).toEqual([]);
  }, 60_000);
});

/**
 * The per-agent rate limit: the pure sliding window, then on both stores (in memory, and real
 * Redis through the local Upstash bridge and the real @upstash/redis client) through the real
 * handlers: 429 rate_limited with Retry-After, counted per `sub`, counted only for requests that
 * pass signature, binding, scope and revocation, and carried in the request's one Upstash command.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as getConfig } from '../../functions/get-config.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import type { UpstashBridge } from '../../dev/upstash-bridge.ts';
import { MemoryRateLimiter, slidingWindow } from '../../lib/store/ratelimit.ts';
import { invoke } from '../helpers/lambda.ts';
import { deletePrefix, HAS_REDIS, redisEnv, startBridge, type TcpClient, tcpClient, uniquePrefix } from '../helpers/redis.ts';
import { storeTargets } from '../helpers/targets.ts';
import { signToken } from '../helpers/tokens.ts';
import { useTestRuntime } from '../helpers/runtime.ts';

const fresh = () => `agent-${Math.random().toString(36).slice(2)}`;
const ask = async (sub: string, token?: string) => invoke(whoami, { path: '/api/whoami', token: token ?? (await signToken({ sub })) });

describe('the sliding window', () => {
  it('lets `requests` through per window and key, then refuses until the window frees up', () => {
    let now = 1_000_000 * 60_000; // the start of a window
    const limiter = new MemoryRateLimiter({ requests: 3, windowSeconds: 60 });
    for (let i = 0; i < 3; i += 1) expect(limiter.limit('a', now).allowed).toBe(true);
    expect(limiter.limit('a', now)).toEqual({ allowed: false, reset: now + 60_000 });
    expect(limiter.limit('b', now).allowed).toBe(true);
    now += 60_000 + 15_000; // 1/4 into the next window: 3/4 of the previous 3 (floored: 2) still count
    expect(limiter.limit('a', now).allowed).toBe(true);
    expect(limiter.limit('a', now).allowed).toBe(false);
    now += 30_000; // 3/4 into it: floor(3/4) = 0 of the previous, 1 of this one
    expect(limiter.limit('a', now).allowed).toBe(true);
    expect(limiter.limit('a', now).allowed).toBe(true);
    expect(limiter.limit('a', now).allowed).toBe(false);
  });

  it('weights the previous window by how much of it the sliding window still covers', () => {
    expect(slidingWindow({ current: 0, previous: 10 }, 1_000, 1_000, 5)).toEqual({ allowed: false, reset: 2_000 });
    expect(slidingWindow({ current: 0, previous: 10 }, 1_600, 1_000, 5)).toEqual({ allowed: true, reset: 2_000 });
  });
});

const targets = storeTargets('ratelimit-handlers');

describe.each(targets)('the rate limit through the handlers ($name store)', (store) => {
  it('is off unless RATE_LIMIT_REQUESTS is set', async () => {
    store.use();
    const agent = fresh();
    for (let i = 0; i < 30; i += 1) expect((await ask(agent)).status).toBe(200);
  });

  it('answers 429 rate_limited with Retry-After once an agent is over its budget, and counts each agent apart', async () => {
    store.use({ RATE_LIMIT_REQUESTS: '3', RATE_LIMIT_WINDOW_SECONDS: '30' });
    const agent = fresh();
    for (let i = 0; i < 3; i += 1) expect((await ask(agent)).status).toBe(200);
    const answer = await ask(agent);
    expect(answer.status).toBe(429);
    expect(answer.body).toMatchObject({ error: 'rate_limited', error_description: expect.stringMatching(/retry after \d+ s/) });
    const retryAfter = Number(answer.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(answer.headers['content-type']).toBe('application/json');
    expect((await ask(fresh())).status).toBe(200);
  });

  it('counts against sub, not against the token, and the same budget on every route', async () => {
    store.use({ RATE_LIMIT_REQUESTS: '3' });
    const agent = fresh();
    expect((await ask(agent)).status).toBe(200);
    expect((await invoke(getCommands, { path: '/api/commands', token: await signToken({ sub: agent }) })).status).toBe(200);
    expect((await invoke(getConfig, { path: '/api/config', token: await signToken({ sub: agent }) })).status).toBe(200);
    expect((await invoke(getCommands, { path: '/api/commands', token: await signToken({ sub: agent }) })).status).toBe(429);
  });

  it('never counts a token that fails verification, is revoked or lacks the scope', async () => {
    const rt = store.use({ RATE_LIMIT_REQUESTS: '2' });
    const agent = fresh();
    const revoked = await signToken({ sub: agent, jti: `${agent}-stolen` });
    await rt.stores.unchecked.revocations.revokeToken(`${agent}-stolen`, Math.floor(Date.now() / 1000) + 600);
    const noScope = await signToken({ sub: agent, scope: 'agent:results' });
    for (let i = 0; i < 5; i += 1) {
      expect((await ask(agent, `${await signToken({ sub: agent })}x`)).status).toBe(401);
      expect((await ask(agent, revoked)).body.error_description).toBe('token_revoked');
      expect((await invoke(getCommands, { path: '/api/commands', token: revoked })).body.error_description).toBe('token_revoked');
      expect((await invoke(getCommands, { path: '/api/commands', token: noScope })).status).toBe(403);
    }
    // The agent's own fresh tokens still have the whole budget.
    expect((await ask(agent)).status).toBe(200);
    expect((await ask(agent)).status).toBe(200);
    expect((await ask(agent)).status).toBe(429);
  });

  it('answers 401 token_revoked, not 429, for a revoked token of an agent over its budget', async () => {
    const rt = store.use({ RATE_LIMIT_REQUESTS: '1' });
    const agent = fresh();
    expect((await ask(agent)).status).toBe(200);
    expect((await ask(agent)).status).toBe(429);
    const token = await signToken({ sub: agent, jti: `${agent}-r` });
    await rt.stores.unchecked.revocations.revokeToken(`${agent}-r`, Math.floor(Date.now() / 1000) + 600);
    expect((await ask(agent, token)).body.error_description).toBe('token_revoked');
  });

  it('frees up when the window has passed (the runtime clock decides, in Lua as in memory)', async () => {
    const rt = store.use({ RATE_LIMIT_REQUESTS: '2', RATE_LIMIT_WINDOW_SECONDS: '10' });
    const agent = fresh();
    rt.clock.set(Math.ceil(rt.clock.now() / 10_000) * 10_000 + 1); // just after a window starts
    for (let i = 0; i < 2; i += 1) expect((await ask(agent)).status).toBe(200);
    expect((await ask(agent)).status).toBe(429);
    rt.clock.advance(20_000);
    expect((await ask(agent)).status).toBe(200);
  });

  it('refuses bad settings, naming the variable', async () => {
    expect(() => store.use({ RATE_LIMIT_REQUESTS: 'many' })).toThrow(/^RATE_LIMIT_REQUESTS:/);
    expect(() => store.use({ RATE_LIMIT_REQUESTS: '5', RATE_LIMIT_WINDOW_SECONDS: '0' })).toThrow(/^RATE_LIMIT_WINDOW_SECONDS:/);
  });
});

describe.skipIf(!HAS_REDIS)('the rate limit on real Redis (the gate script, through the bridge)', () => {
  let bridge: UpstashBridge;
  let tcp: TcpClient;
  const prefix = uniquePrefix('ratelimit');

  beforeAll(async () => {
    bridge = await startBridge();
    tcp = await tcpClient();
  });

  afterEach(() => bridge.setDelay(0));

  afterAll(async () => {
    await deletePrefix(tcp, prefix);
    tcp.destroy();
    await bridge.close();
  });

  const useRedis = (extra: Record<string, string> = {}) =>
    useTestRuntime(redisEnv(bridge, prefix, { RATE_LIMIT_REQUESTS: '3', RATE_LIMIT_WINDOW_SECONDS: '20', ...extra }));

  it('counts in one key per agent and window, which goes once the next window has ended', async () => {
    useRedis();
    const agent = fresh();
    expect((await ask(agent)).status).toBe(200);
    const keys = await tcp.keys(`${prefix}ratelimit:${agent}:*`);
    expect(keys).toHaveLength(1);
    expect(await tcp.get(keys[0] as string)).toBe('1');
    const ttl = await tcp.pTTL(keys[0] as string);
    expect(ttl).toBeGreaterThan(20_000);
    expect(ttl).toBeLessThanOrEqual(40_000);
  });

  it('shares the budget across instances: two runtimes (two Lambda containers) count together', async () => {
    const agent = fresh();
    useRedis({ RATE_LIMIT_REQUESTS: '4' });
    expect((await ask(agent)).status).toBe(200);
    expect((await ask(agent)).status).toBe(200);
    useRedis({ RATE_LIMIT_REQUESTS: '4' }); // a fresh runtime and client
    expect((await ask(agent)).status).toBe(200);
    expect((await ask(agent)).status).toBe(200);
    expect((await ask(agent)).status).toBe(429);
  });

  it('lets exactly the budget through when an agent fires many requests at once', async () => {
    useRedis({ RATE_LIMIT_REQUESTS: '5' });
    const agent = fresh();
    const tokens = await Promise.all(Array.from({ length: 20 }, () => signToken({ sub: agent })));
    const answers = await Promise.all(tokens.map((token) => invoke(getCommands, { path: '/api/commands', token })));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(15);
  });

  it('costs one Upstash request per call with the limit on, refused or not', async () => {
    useRedis({ RATE_LIMIT_REQUESTS: '2' });
    const agent = fresh();
    expect((await ask(agent)).status).toBe(200); // scripts loaded (EVALSHA, NOSCRIPT, EVAL)
    for (const expected of [200, 429, 429]) {
      const token = await signToken({ sub: agent });
      const before = bridge.requests;
      expect((await invoke(getCommands, { path: '/api/commands', token })).status).toBe(expected === 200 ? 200 : 429);
      expect(bridge.requests - before).toBe(1);
    }
  });

  it('answers 503 within the timeout when Redis is slow, and does not let the request through', async () => {
    useRedis({ REDIS_TIMEOUT_MS: '200' });
    bridge.setDelay(2000);
    const started = performance.now();
    const answer = await invoke(getCommands, { path: '/api/commands', token: await signToken() });
    expect(answer.status).toBe(503);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

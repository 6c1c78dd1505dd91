/**
 * The per-agent rate limit: @upstash/ratelimit's sliding window on real Redis, through the local
 * Upstash bridge and the real @upstash/redis client, answered 429 rate_limited with Retry-After,
 * counted per `sub`, checked in the same round-trip time as the revocation check; and the
 * in-memory window used with the in-memory store.
 */
import { Redis } from '@upstash/redis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { handler as getCommands } from '../functions/get-commands.ts';
import { handler as whoami } from '../functions/whoami.ts';
import type { UpstashBridge } from '../dev/upstash-bridge.ts';
import { MemoryRateLimiter } from '../lib/store/ratelimit.ts';
import type { RateLimiter } from '../lib/store/types.ts';
import { invoke } from './helpers/lambda.ts';
import { HAS_REDIS, type TcpClient } from './helpers/redis.ts';
import { useTestRuntime } from './helpers/runtime.ts';
import { redisTarget } from './helpers/targets.ts';
import { signToken } from './helpers/tokens.ts';

const ask = async (sub = 'agent-001', token?: string) =>
  invoke(whoami, { path: '/api/whoami', token: token ?? (await signToken({ sub })) });

describe('the in-memory sliding window', () => {
  it('lets `requests` through per window and key, then refuses until the window frees up', async () => {
    let now = 1_000_000 * 60_000; // the start of a window
    const limiter = new MemoryRateLimiter({ requests: 3, windowSeconds: 60, now: () => now });
    for (let i = 0; i < 3; i += 1) expect((await limiter.limit('a')).success).toBe(true);
    const refused = await limiter.limit('a');
    expect(refused).toEqual({ success: false, reset: now + 60_000 });
    expect((await limiter.limit('b')).success).toBe(true);
    now += 60_000 + 15_000; // 1/4 into the next window: 3/4 of the previous 3 (floored: 2) still count
    expect((await limiter.limit('a')).success).toBe(true);
    expect((await limiter.limit('a')).success).toBe(false);
    now += 30_000; // 3/4 into it: floor(3/4) = 0 of the previous, 1 of this one
    expect((await limiter.limit('a')).success).toBe(true);
    expect((await limiter.limit('a')).success).toBe(true);
    expect((await limiter.limit('a')).success).toBe(false);
  });
});

describe('the rate limit through the auth middleware (in-memory store)', () => {
  it('is off unless RATE_LIMIT_REQUESTS is set', async () => {
    expect(useTestRuntime().rateLimiter).toBeUndefined();
    for (let i = 0; i < 50; i += 1) expect((await ask()).status).toBe(200);
  });

  it('answers 429 rate_limited with Retry-After once an agent is over its budget, and counts each agent apart', async () => {
    useTestRuntime({ RATE_LIMIT_REQUESTS: '3', RATE_LIMIT_WINDOW_SECONDS: '30' });
    for (let i = 0; i < 3; i += 1) expect((await ask('agent-001')).status).toBe(200);
    const answer = await ask('agent-001');
    expect(answer.status).toBe(429);
    expect(answer.body).toEqual({
      error: 'rate_limited',
      error_description: expect.stringMatching(/retry after \d+ s/),
      request_id: expect.any(String),
    });
    const retryAfter = Number(answer.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(answer.headers['content-type']).toBe('application/json');
    expect((await ask('agent-002')).status).toBe(200);
  });

  it('counts against sub, not against the token: new tokens of the same agent share the budget', async () => {
    useTestRuntime({ RATE_LIMIT_REQUESTS: '2' });
    expect((await ask('agent-001', await signToken({ sub: 'agent-001' }))).status).toBe(200);
    expect((await ask('agent-001', await signToken({ sub: 'agent-001' }))).status).toBe(200);
    expect((await ask('agent-001', await signToken({ sub: 'agent-001' }))).status).toBe(429);
  });

  it('never counts a request whose token fails verification', async () => {
    const calls: string[] = [];
    const limiter: RateLimiter = {
      limit: async (key) => {
        calls.push(key);
        return { success: true, reset: Date.now() };
      },
    };
    useTestRuntime({}, { rateLimiter: limiter });
    expect((await ask('agent-001', `${await signToken()}x`)).status).toBe(401);
    expect(calls).toEqual([]);
  });

  it('still answers 401 token_revoked, not 429, for a revoked token', async () => {
    const rt = useTestRuntime({}, { rateLimiter: { limit: async () => ({ success: false, reset: Date.now() + 5000 }) } });
    const token = await signToken({ jti: 'revoked-1' });
    await rt.revocations.revokeToken('revoked-1', Math.floor(Date.now() / 1000) + 600);
    expect((await ask('agent-001', token)).body.error_description).toBe('token_revoked');
  });

  it('fails open when only the limiter fails (logged), and closed when the revocation check fails', async () => {
    const broken: RateLimiter = { limit: async () => Promise.reject(new Error('limiter down')) };
    const rt = useTestRuntime({}, { rateLimiter: broken });
    expect((await ask()).status).toBe(200);
    (rt.revocations as { isRevoked: unknown }).isRevoked = async () => Promise.reject(new Error('store down'));
    const answer = await ask();
    expect(answer.status).toBe(503);
    expect(answer.body.error).toBe('temporarily_unavailable');
    expect(answer.headers['retry-after']).toBeDefined();
  });

  it('refuses bad settings, naming the variable', async () => {
    expect(() => useTestRuntime({ RATE_LIMIT_REQUESTS: 'many' })).toThrow(/^RATE_LIMIT_REQUESTS:/);
    expect(() => useTestRuntime({ RATE_LIMIT_REQUESTS: '5', RATE_LIMIT_WINDOW_SECONDS: '0' })).toThrow(/^RATE_LIMIT_WINDOW_SECONDS:/);
  });
});

describe.skipIf(!HAS_REDIS)('the rate limit on real Redis (@upstash/ratelimit through the bridge)', () => {
  const target = redisTarget('ratelimit');
  let bridge: UpstashBridge;
  let tcp: TcpClient;
  /** One prefix for the whole file: runtimes made one after the other share their budgets. */
  const prefix = `${target.prefix}shared:`;

  beforeAll(() => {
    ({ bridge, redis: tcp } = target);
  });

  afterEach(() => bridge.setDelay(0));

  const useRedis = (extra: Record<string, string> = {}) =>
    target.use({ REDIS_KEY_PREFIX: prefix, RATE_LIMIT_REQUESTS: '3', RATE_LIMIT_WINDOW_SECONDS: '20', ...extra });

  it('lets 3 requests of an agent through, then 429 with Retry-After; another agent is not affected', async () => {
    useRedis();
    const agent = `agent-${Math.random().toString(36).slice(2)}`;
    for (let i = 0; i < 3; i += 1) expect((await ask(agent)).status).toBe(200);
    const answer = await ask(agent);
    expect(answer.status).toBe(429);
    expect(answer.body.error).toBe('rate_limited');
    expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(answer.headers['retry-after'])).toBeLessThanOrEqual(20);
    expect((await ask(`${agent}-other`)).status).toBe(200);
    const keys = await tcp.keys(`${prefix}ratelimit:${agent}:*`);
    expect(keys.length).toBeGreaterThan(0);
  });

  it('shares the budget across instances: two runtimes (two Lambda containers) count together', async () => {
    const agent = `agent-${Math.random().toString(36).slice(2)}`;
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
    const agent = `agent-${Math.random().toString(36).slice(2)}`;
    const tokens = await Promise.all(Array.from({ length: 20 }, () => signToken({ sub: agent })));
    const answers = await Promise.all(tokens.map((token) => ask(agent, token)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(15);
  });

  it('checks the limit and revocation concurrently: one round trip of time, even when Redis is slow', async () => {
    useRedis({ RATE_LIMIT_REQUESTS: '100', REDIS_TIMEOUT_MS: '3000' });
    const agent = `agent-${Math.random().toString(36).slice(2)}`;
    expect((await ask(agent)).status).toBe(200); // scripts loaded
    const delay = 300;
    bridge.setDelay(delay);
    const token = await signToken({ sub: agent });
    const before = bridge.requests;
    const started = performance.now();
    const answer = await ask(agent, token);
    const elapsed = performance.now() - started;
    expect(answer.status).toBe(200);
    // Two HTTP requests (the revocation MGET, the limiter's EVALSHA), sent at the same time.
    expect(bridge.requests - before).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(delay);
    expect(elapsed).toBeLessThan(2 * delay);
  });

  it('falls back from EVALSHA to EVAL once per instance (NOSCRIPT), then uses EVALSHA again', async () => {
    // A new instance does not know the hash of the script as sent (without the Upstash-only
    // flag), so its first EVALSHA meets NOSCRIPT, exactly as after a SCRIPT FLUSH or a Redis
    // restart. (No SCRIPT FLUSH here: other test files share this Redis and count round trips.)
    useRedis({ RATE_LIMIT_REQUESTS: '100' });
    const agent = `agent-${Math.random().toString(36).slice(2)}`;
    const first = bridge.requests;
    expect((await ask(agent)).status).toBe(200);
    expect(bridge.requests - first).toBe(3); // MGET, EVALSHA (NOSCRIPT), EVAL
    const second = bridge.requests;
    expect((await ask(agent)).status).toBe(200);
    expect(bridge.requests - second).toBe(2); // MGET, EVALSHA
    useRedis({ RATE_LIMIT_REQUESTS: '3' });
    expect((await ask(agent)).status).toBe(200); // the same window: 2 counted by the other instance
    expect((await ask(agent)).status).toBe(429);
  });

  it('answers 503 within the timeout when Redis is slow, and does not let the request through', async () => {
    useRedis({ REDIS_TIMEOUT_MS: '200' });
    bridge.setDelay(2000);
    const started = performance.now();
    const answer = await invoke(getCommands, { path: '/api/commands', token: await signToken() });
    expect(answer.status).toBe(503);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('explains why the two commands are two requests: @upstash/redis auto-pipelining keeps reads and writes apart', async () => {
    // Not our code: a record of the client's behaviour that lib/store/ratelimit.ts and SECURITY.md rely on.
    const redis = new Redis({ url: bridge.url, token: bridge.token, enableAutoPipelining: true, enableTelemetry: false });
    const before = bridge.requests;
    await Promise.all([redis.mget(`${prefix}a`, `${prefix}b`), redis.get(`${prefix}c`)]);
    expect(bridge.requests - before).toBe(1); // two reads: one pipeline
    const between = bridge.requests;
    await Promise.all([redis.mget(`${prefix}a`), redis.eval('return 1', [], [])]);
    expect(bridge.requests - between).toBe(2); // a read and a write: two pipelines, sent together
  });
});

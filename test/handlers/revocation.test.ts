/**
 * Real-time revocation end to end: real handlers, the real @upstash/redis client, the bridge,
 * a real Redis. Revoke by jti (API and CLI), by subject cut-off, allowlist mode, expiry of the
 * revocation keys, and tokens without jti.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as postRevocations } from '../../functions/post-revocations.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import type { UpstashBridge } from '../../dev/upstash-bridge.ts';
import type { Runtime } from '../../lib/runtime.ts';
import { invoke } from '../helpers/lambda.ts';
import { HAS_REDIS, REDIS_HOST, REDIS_PORT, type TcpClient } from '../helpers/redis.ts';
import { redisTarget, type TestRuntime } from '../helpers/targets.ts';
import { parseRevokeArgs, UsageError } from '../../dev/revoke.ts';
import { signToken } from '../helpers/tokens.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function claims(token: string): { jti: string; exp: number; iat: number; sub: string } {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
    jti: string;
    exp: number;
    iat: number;
    sub: string;
  };
}

describe('the revoke command arguments', () => {
  it('wants the exp with --jti (no guessed lifetime), and takes --token or --sub alone', () => {
    expect(() => parseRevokeArgs(['--jti', 'abc'])).toThrow(/--jti needs --exp/);
    expect(parseRevokeArgs(['--jti', 'abc', '--exp', '2000000000'])).toEqual({ jti: 'abc', exp: 2000000000 });
    expect(parseRevokeArgs(['--token', 'a.b.c'])).toEqual({ token: 'a.b.c' });
    expect(() => parseRevokeArgs(['--token', 'a.b.c', '--exp', '1'])).toThrow(UsageError);
    expect(() => parseRevokeArgs(['--token', 'a.b.c', '--sub', 'x'])).toThrow(/exactly one/);
    expect(parseRevokeArgs(['--sub', 'agent-001'])).toEqual({ sub: 'agent-001' });
  });
});

describe('the revoke command without Redis', () => {
  it('explains that in-memory revocations live in the server process, points at the API, and exits non-zero', async () => {
    const env = { ...process.env, USE_REDIS: 'false' };

    const failure = await run(process.execPath, ['dev/revoke.ts', '--sub', 'agent-001'], { env }).catch((error: unknown) => error);

    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toMatch(/inside the running server process/);
    expect((failure as { stderr: string }).stderr).toContain('POST');
    expect((failure as { stderr: string }).stderr).toContain('/api/revocations');
  });
});

describe.skipIf(!HAS_REDIS)('revocation with Redis', () => {
  const target = redisTarget('revocation');
  let bridge: UpstashBridge;
  let redis: TcpClient;
  /** The keys of the runtime installed last. */
  let prefix: string;
  let admin: string;

  beforeAll(() => {
    ({ bridge, redis } = target);
  });

  const install = (env: Record<string, string> = {}): TestRuntime => {
    const rt = target.use(env);
    prefix = rt.config.redisKeyPrefix;
    return rt;
  };
  const agentToken = (sub: string, options: Parameters<typeof signToken>[1] = {}) => signToken({ sub, scope: 'agent:commands' }, options);
  const fetchWith = (token: string) => invoke(getCommands, { path: '/api/commands', token });
  const revoke = (body: unknown) => invoke(postRevocations, { method: 'POST', path: '/api/revocations', token: admin, body });

  function expectRevoked(answer: Awaited<ReturnType<typeof invoke>>): void {
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ error: 'invalid_token', error_description: 'token_revoked', request_id: expect.any(String) });
    expect(answer.headers['www-authenticate']).toBe('Bearer realm="biz-service", error="invalid_token", error_description="token_revoked"');
  }

  describe('denylist mode', () => {
    beforeEach(async () => {
      install();
      admin = await signToken({ sub: 'security-1', scope: 'admin:revoke' });
    });

    it('rejects a token on the very next request after POST /api/revocations with its jti', async () => {
      const token = await agentToken('agent-jti');
      const other = await agentToken('agent-jti');
      const { jti, exp } = claims(token);

      const before = await fetchWith(token);
      const revoked = await revoke({ jti, exp });
      const after = await fetchWith(token);

      expect(before.status).toBe(200);
      expect(revoked.status).toBe(204);
      expectRevoked(after);
      expect((await fetchWith(other)).status).toBe(200);
    });

    it("keeps the jti entry until the token's exp plus the clock leeway, then Redis drops it", async () => {
      const token = await agentToken('agent-ttl');
      const { jti, exp } = claims(token);

      await revoke({ jti, exp });

      // TEST_ENV keeps the default leeway, JWT_CLOCK_TOLERANCE_SECONDS=60.
      expect(await redis.expireTime(`${prefix}revoked:jti:${jti}`)).toBe(exp + 60);
    });

    it('lets a revocation entry expire by itself (real short TTL)', async () => {
      install({ JWT_CLOCK_TOLERANCE_SECONDS: '0' });
      const now = Math.floor(Date.now() / 1000);
      // Two seconds of margin: the entry must still be there right after the revoke on a busy machine.
      const token = await agentToken('agent-short', { now, expiresIn: 3 });
      const { jti, exp } = claims(token);

      expect((await revoke({ jti, exp })).status).toBe(204);
      expect(await redis.exists(`${prefix}revoked:jti:${jti}`)).toBe(1);
      await sleep((exp + 1) * 1000 - Date.now() + 100);

      expect(await redis.exists(`${prefix}revoked:jti:${jti}`)).toBe(0);
    });

    it('revokes by subject: tokens issued up to the cut-off (now + the leeway) are rejected, newer ones accepted', async () => {
      const rt = install();
      rt.clock.set(Math.floor(rt.clock.now() / 1000) * 1000); // a whole second, so the cut-off is exactly now + 60
      const nowS = Math.floor(rt.clock.now() / 1000);
      const old = await agentToken('agent-sub', { now: nowS - 30 });
      const sameSecond = await agentToken('agent-sub', { now: nowS });
      const otherAgent = await agentToken('agent-other', { now: nowS - 30 });

      expect((await revoke({ sub: 'agent-sub' })).status).toBe(204);
      const newer = await agentToken('agent-sub', { now: nowS + 61 });

      expectRevoked(await fetchWith(old));
      expectRevoked(await fetchWith(sameSecond));
      rt.clock.advance(61_000);
      expect((await fetchWith(newer)).status).toBe(200);
      expect((await fetchWith(otherAgent)).status).toBe(200);
      expect(await redis.get(`${prefix}revoked:sub:agent-sub`)).toBe(String(nowS + 60));
    });

    it('rejects a token without jti while Redis is on (missing_claim)', async () => {
      const token = await agentToken('agent-nojti', { omit: ['jti'] });

      const answer = await fetchWith(token);

      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: 'invalid_token', error_description: 'missing_claim', request_id: expect.any(String) });
    });

    it('makes the whole auth step one HTTP round trip to Redis', async () => {
      const token = await agentToken('agent-rt');
      await invoke(whoami, { path: '/api/whoami', token }); // warm: the runtime is made on first use
      const before = bridge.requests;

      const answer = await invoke(whoami, { path: '/api/whoami', token });

      expect(answer.status).toBe(200);
      expect(bridge.requests - before).toBe(1);
    });

    it('revokes from the command line (npm run revoke) for the very next request', async () => {
      const token = await agentToken('agent-cli');
      const { jti, exp } = claims(token);
      expect((await fetchWith(token)).status).toBe(200);
      const env = {
        ...process.env,
        USE_REDIS: 'true',
        REDIS_HOST,
        REDIS_PORT: String(REDIS_PORT),
        REDIS_KEY_PREFIX: prefix,
        UPSTASH_REDIS_REST_URL: '',
        UPSTASH_REDIS_REST_TOKEN: '',
      };

      const { stdout } = await run(process.execPath, ['dev/revoke.ts', '--jti', jti, '--exp', String(exp)], { env });

      expect(stdout).toContain(`revoked jti "${jti}"`);
      expectRevoked(await fetchWith(token));
      expect(await redis.expireTime(`${prefix}revoked:jti:${jti}`)).toBe(exp + 60);
    });

    it('makes the command line refuse bad arguments with a usage message and exit code 2', async () => {
      const failure = await run(process.execPath, ['dev/revoke.ts', '--jti', 'a', '--sub', 'b'], { env: process.env }).catch(
        (error: unknown) => error,
      );

      expect(failure).toMatchObject({ code: 2 });
      expect((failure as { stderr: string }).stderr).toContain('usage: npm run revoke');
    });
  });

  describe('allowlist mode', () => {
    let rt: Runtime;
    beforeEach(async () => {
      rt = install({ REVOCATION_MODE: 'allowlist' });
      admin = await signToken({ sub: 'security-1', scope: 'admin:revoke' });
      // The operator's own token must be registered too, or it is refused like any other.
      await rt.stores.unchecked.revocations.registerToken(claims(admin).jti, claims(admin).exp);
    });

    it('accepts a token only while its active:jti entry exists, and honours revocations on top', async () => {
      const token = await agentToken('agent-allow');
      const { jti, exp } = claims(token);
      const store = rt.stores.unchecked.revocations;

      expectRevoked(await fetchWith(token));
      await store.registerToken(jti, exp);
      expect((await fetchWith(token)).status).toBe(200);
      expect(await redis.expireTime(`${prefix}active:jti:${jti}`)).toBe(exp);

      await redis.del(`${prefix}active:jti:${jti}`);
      expectRevoked(await fetchWith(token));
      await store.registerToken(jti, exp);
      await store.revokeToken(jti, exp + 60);
      expectRevoked(await fetchWith(token));
    });

    it('rejects a registered token of a subject under a cut-off', async () => {
      const nowS = Math.floor(rt.clock.now() / 1000);
      const token = await agentToken('agent-allow-sub', { now: nowS - 5 });
      await rt.stores.unchecked.revocations.registerToken(claims(token).jti, claims(token).exp);
      expect((await fetchWith(token)).status).toBe(200);

      expect((await revoke({ sub: 'agent-allow-sub' })).status).toBe(204);

      expectRevoked(await fetchWith(token));
    });
  });
});

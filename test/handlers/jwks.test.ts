/**
 * Public-key tokens (RS256, PS256, ES256) verified from the issuer's JWKS, through the real
 * chain of /api/whoami and /api/commands: a real HTTPS issuer on loopback, real keys, tokens
 * signed with jose. Time moves on a manual clock; the issuer counts every fetch.
 */
import { UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import { type KeySetLog, RemoteKeySet } from '../../lib/auth/jwks.ts';
import { ManualClock } from '../../lib/clock.ts';
import { ConfigError, loadConfig } from '../../lib/config.ts';
import { createKeySet, createRuntime, setRuntime } from '../../lib/runtime.ts';
import {
  ecKey,
  ed25519Key,
  type IssuerAnswer,
  JWKS_PATH,
  type KeyPair,
  publicJwk,
  rsaKey,
  signWith,
  startIssuer,
  type TestIssuer,
} from '../helpers/jwks.ts';
import { type Answer, invoke } from '../helpers/lambda.ts';
import { signToken, TEST_ENV, TEST_ISSUER, TEST_SECRET } from '../helpers/tokens.ts';

const rsa = rsaKey('rsa-1');
const rsaNext = rsaKey('rsa-2');
const ec = ecKey('ec-1');
const ed = ed25519Key('ed-1');
/** Someone else's keys, presented under the issuer's kids or made-up ones. */
const stranger = rsaKey('rsa-1');
const strangerEc = ecKey('made-up');

const usualKeys = () => [publicJwk(rsa), publicJwk(ec)];

let issuer: TestIssuer;
/** The last test's key set: its fetch in flight, if any, lands before the next test counts. */
let lastKeySet: RemoteKeySet | undefined;

beforeAll(async () => {
  issuer = await startIssuer(usualKeys());
});
afterAll(() => issuer.close());
beforeEach(async () => {
  await lastKeySet?.pending();
  issuer.answer = { kind: 'json', body: { keys: usualKeys() } };
  issuer.hits.clear();
  issuer.routes.clear();
});

interface Setup {
  readonly clock: ManualClock;
  readonly keySet: RemoteKeySet;
  /** A token signed now (by the manual clock) with this key and algorithm. */
  sign(pair: KeyPair, alg: string, options?: Parameters<typeof signWith>[2]): Promise<string>;
}

/** A runtime configured from the environment as a deployment would be: JWKS only unless told. */
function useJwksRuntime(env: Record<string, string> = {}): Setup {
  const clock = new ManualClock(Date.now());
  const config = loadConfig({ ...TEST_ENV, JWT_SECRET_KEY: '', JWT_JWKS_URL: issuer.jwksUrl, JWT_ALGORITHMS: 'RS256,PS256,ES256', ...env });
  const keySet = createKeySet(config, clock) as RemoteKeySet;
  lastKeySet = keySet;
  setRuntime(createRuntime(config, { clock, keySet }));
  return {
    clock,
    keySet,
    sign: (pair, alg, options = {}) => signWith(pair, alg, { nowSeconds: Math.floor(clock.now() / 1000), ...options }),
  };
}

const call = (token: string) => invoke(whoami, { path: '/api/whoami', token });

function expectInvalid(answer: Answer, reason: string) {
  expect(answer.status).toBe(401);
  expect(answer.body).toEqual({ error: 'invalid_token', error_description: reason, request_id: expect.any(String) });
}

function expectUnavailable(answer: Answer) {
  expect(answer.status).toBe(503);
  expect(answer.body.error).toBe('temporarily_unavailable');
  expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(Number(answer.headers['retry-after'])).toBeLessThanOrEqual(30);
}

const seconds = (n: number) => n * 1000;

describe('tokens signed with the issuer’s keys', () => {
  it('accepts RS256, PS256 and ES256, with the key set fetched once, before the first token', async () => {
    const { sign } = useJwksRuntime();
    for (const [pair, alg] of [
      [rsa, 'RS256'],
      [rsa, 'PS256'],
      [ec, 'ES256'],
    ] as const) {
      const answer = await call(await sign(pair, alg));
      expect(answer.status, alg).toBe(200);
      expect(answer.body.agent_id).toBe('agent-001');
    }
    expect(issuer.jwksHits()).toBe(1);
  });

  it('serves a scoped endpoint with an RS256 token and refuses one without the scope', async () => {
    const { sign } = useJwksRuntime();
    const poll = await invoke(getCommands, { path: '/api/commands', token: await sign(rsa, 'RS256') });
    expect(poll.status).toBe(200);
    const unscoped = await invoke(getCommands, {
      path: '/api/commands',
      token: await sign(rsa, 'RS256', { claims: { scope: 'agent:results' } }),
    });
    expect(unscoped.status).toBe(403);
  });

  it('keeps every other token rule: an expired RS256 token, or one for another audience, is refused', async () => {
    const { sign } = useJwksRuntime();
    expectInvalid(await call(await sign(rsa, 'RS256', { expiresIn: -120 })), 'token_expired');
    expectInvalid(await call(await sign(rsa, 'RS256', { claims: { aud: 'another-service' } })), 'invalid_audience');
    expectInvalid(await call(await sign(rsa, 'RS256', { claims: { iss: 'https://other.issuer' } })), 'invalid_issuer');
  });

  it('refuses a token signed by another key under the issuer’s kid', async () => {
    const { sign } = useJwksRuntime();
    expectInvalid(await call(await sign(stranger, 'RS256')), 'invalid_signature');
  });

  it('accepts a token without kid when exactly one key fits its algorithm', async () => {
    const { sign } = useJwksRuntime();
    expect((await call(await sign(rsa, 'RS256', { header: { kid: undefined } }))).status).toBe(200);
    expect((await call(await sign(ec, 'ES256', { header: { kid: undefined } }))).status).toBe(200);
  });

  it('refuses a token without kid when several keys fit, and a kid that names two keys', async () => {
    issuer.answer = { kind: 'json', body: { keys: [publicJwk(rsa), publicJwk(rsaNext), publicJwk(rsaNext, { kid: 'rsa-1' })] } };
    const { sign } = useJwksRuntime();
    expectInvalid(await call(await sign(rsa, 'RS256', { header: { kid: undefined } })), 'invalid_signature');
    expectInvalid(await call(await sign(rsa, 'RS256')), 'invalid_signature');
    expect((await call(await sign(rsaNext, 'RS256'))).status).toBe(200);
  });
});

describe('algorithm confusion', () => {
  const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const asSecret = (text: string) => signToken({}, { secret: text, header: { kid: rsa.kid } });

  it('refuses an HS256 token made with the issuer’s RSA public key as the secret', async () => {
    useJwksRuntime();
    expectInvalid(await call(await asSecret(publicPem)), 'unsupported_algorithm');
    // During a migration HS256 is allowed, but never checked against a public key.
    useJwksRuntime({ JWT_SECRET_KEY: TEST_SECRET, JWT_ALGORITHMS: 'HS256,RS256' });
    expectInvalid(await call(await asSecret(publicPem)), 'unsupported_algorithm');
    expectInvalid(await call(await signToken({}, { secret: publicPem })), 'invalid_signature');
  });

  it('refuses an HS256 token that names a JWKS key, even signed with the real secret', async () => {
    useJwksRuntime({ JWT_SECRET_KEY: TEST_SECRET, JWT_ALGORITHMS: 'HS256,RS256' });
    expectInvalid(await call(await signToken({}, { header: { kid: rsa.kid } })), 'unsupported_algorithm');
    // The same secret without that kid: the migration works.
    expect((await call(await signToken())).status).toBe(200);
  });

  it('refuses an RS256 token whose kid names one of our secrets', async () => {
    const { sign } = useJwksRuntime({
      JWT_SECRET_KEYS: `k1=${TEST_SECRET},k2=${TEST_SECRET}-next`,
      JWT_ALGORITHMS: 'HS256,RS256',
    });
    expectInvalid(await call(await sign(rsa, 'RS256', { header: { kid: 'k1' } })), 'unsupported_algorithm');
  });

  it('refuses alg none', async () => {
    useJwksRuntime();
    const unsigned = new UnsecuredJWT({ iss: TEST_ISSUER, aud: 'biz-service', sub: 'agent-001', exp: Math.floor(Date.now() / 1000) + 300 });
    expectInvalid(await call(unsigned.encode()), 'unsupported_algorithm');
  });

  it('refuses a token whose kid names a key of another type or another alg', async () => {
    issuer.answer = {
      kind: 'json',
      body: { keys: [publicJwk(rsa, { alg: 'RS512' }), publicJwk(ec), publicJwk(rsaNext, { alg: 'RS256' })] },
    };
    const { sign } = useJwksRuntime();
    expectInvalid(await call(await sign(rsa, 'RS256')), 'unsupported_algorithm');
    expectInvalid(await call(await sign(rsa, 'RS256', { header: { kid: ec.kid } })), 'unsupported_algorithm');
    expectInvalid(await call(await sign(rsaNext, 'PS256')), 'unsupported_algorithm');
    expect((await call(await sign(rsaNext, 'RS256'))).status).toBe(200);
  });

  it('refuses EdDSA cleanly, with the Ed25519 key in the set', async () => {
    issuer.answer = { kind: 'json', body: { keys: [...usualKeys(), publicJwk(ed)] } };
    const { sign } = useJwksRuntime();
    expectInvalid(await call(await sign(ed, 'EdDSA')), 'unsupported_algorithm');
    expect(() => loadConfig({ JWT_JWKS_URL: issuer.jwksUrl, JWT_ALGORITHMS: 'EdDSA' })).toThrow(
      /^JWT_ALGORITHMS: EdDSA cannot be verified by jsonwebtoken 9/,
    );
  });
});

describe('key rotation at the issuer', () => {
  it('accepts a new kid after one fetch, and fetches no more for it', async () => {
    const { clock, sign } = useJwksRuntime();
    expect((await call(await sign(rsa, 'RS256'))).status).toBe(200);
    issuer.answer = { kind: 'json', body: { keys: [publicJwk(rsa), publicJwk(rsaNext)] } };
    clock.advance(seconds(31));
    expect((await call(await sign(rsaNext, 'RS256'))).status).toBe(200);
    expect((await call(await sign(rsaNext, 'RS256'))).status).toBe(200);
    expect(issuer.jwksHits()).toBe(2);
  });

  it('refuses the old kid once the cache period has passed, even a token it verified before', async () => {
    const { clock, sign } = useJwksRuntime();
    const old = await sign(rsa, 'RS256', { expiresIn: 3600 });
    expect((await call(old)).status).toBe(200);
    issuer.answer = { kind: 'json', body: { keys: [publicJwk(rsaNext)] } };
    clock.advance(seconds(599));
    expect((await call(old)).status).toBe(200);
    expect(issuer.jwksHits()).toBe(1);
    clock.advance(seconds(2));
    expectInvalid(await call(old), 'invalid_signature');
    expect(issuer.jwksHits()).toBe(2);
  });
});

describe('issuer outages', () => {
  const notUsable = [
    { kty: 'RSA', ...publicJwk(rsaNext), use: 'enc' },
    { ...(rsa.privateKey.export({ format: 'jwk' }) as object), kid: 'private' },
    { kty: 'oct', k: 'c2VjcmV0', kid: 'oct' },
    publicJwk(ed),
    publicJwk(rsaKey('small', 1024)),
    publicJwk(ecKey('k1', 'secp256k1')),
    publicJwk(rsaNext, { kid: 'ops', key_ops: ['encrypt'] }),
  ];
  const broken: [string, IssuerAnswer][] = [
    ['an HTTP 500', { kind: 'raw', status: 500, body: '{"error":"down"}' }],
    ['a redirect', { kind: 'raw', status: 302, body: '' }],
    ['a dropped connection', { kind: 'drop' }],
    ['a body that is not JSON', { kind: 'raw', body: '<html>maintenance</html>' }],
    ['JSON that is not a key set', { kind: 'json', body: { keys: 'none' } }],
    ['a key set with no usable key', { kind: 'json', body: { keys: notUsable } }],
    ['a key set over 150 KB', { kind: 'json', body: { keys: [...usualKeys(), { kty: 'oct', use: 'enc', k: 'A'.repeat(160_000) }] } }],
  ];

  it.each(broken)('answers 503 with Retry-After for %s at cold start, then recovers after the cooldown', async (_name, answer) => {
    issuer.answer = answer;
    const { clock, sign } = useJwksRuntime();
    const token = await sign(rsa, 'RS256', { expiresIn: 3600 });
    expectUnavailable(await call(token));
    expectUnavailable(await call(token));
    expect(issuer.jwksHits()).toBe(1);

    issuer.answer = { kind: 'json', body: { keys: usualKeys() } };
    clock.advance(seconds(29));
    expectUnavailable(await call(token));
    clock.advance(seconds(1));
    expect((await call(token)).status).toBe(200);
    expect(issuer.jwksHits()).toBe(2);
  });

  it('keeps the last good keys until JWT_JWKS_MAX_STALE_SECONDS, and answers 503 for a key it cannot know', async () => {
    const { clock, sign } = useJwksRuntime({ JWT_JWKS_MAX_STALE_SECONDS: '3600' });
    const known = await sign(rsa, 'RS256', { expiresIn: 7200 });
    const fresh = await sign(rsa, 'RS256', { expiresIn: 7200 });
    const unknown = await sign(rsaNext, 'RS256', { expiresIn: 7200 });
    expect((await call(known)).status).toBe(200);

    issuer.answer = { kind: 'raw', status: 503, body: '' };
    clock.advance(seconds(601));
    expect((await call(known)).status).toBe(200); // the refresh failed; the stale set still serves
    expect((await call(fresh)).status).toBe(200);
    expect(issuer.jwksHits()).toBe(2);
    expectUnavailable(await call(unknown)); // never invalid_signature while the issuer is down
    expect(issuer.jwksHits()).toBe(2);
    clock.advance(seconds(31));
    expectUnavailable(await call(unknown));
    expect(issuer.jwksHits()).toBe(3);

    clock.advance(seconds(3600 - 601 - 31 + 1)); // past max stale since the last good fetch
    expectUnavailable(await call(known));
    expectUnavailable(await call(fresh));

    issuer.answer = { kind: 'json', body: { keys: [publicJwk(rsa), publicJwk(rsaNext)] } };
    clock.advance(seconds(30));
    expect((await call(known)).status).toBe(200);
    expect((await call(unknown)).status).toBe(200);
  });

  it('gives up on a slow issuer after JWT_JWKS_TIMEOUT_MS and answers 503', async () => {
    issuer.answer = { kind: 'slow', ms: 8000, body: { keys: usualKeys() } };
    const { clock, sign } = useJwksRuntime({ JWT_JWKS_TIMEOUT_MS: '200' });
    const token = await sign(rsa, 'RS256');
    const started = performance.now();
    expectUnavailable(await call(token));
    // Well before the issuer would have answered.
    expect(performance.now() - started).toBeLessThan(6000);

    issuer.answer = { kind: 'json', body: { keys: usualKeys() } };
    clock.advance(seconds(30));
    expect((await call(token)).status).toBe(200);
  });
});

describe('unknown-kid floods', () => {
  const madeUp = (setup: Setup, count: number) =>
    Promise.all(
      Array.from({ length: count }, (_, i) =>
        setup.sign(strangerEc, 'ES256', { header: { kid: `made-up-${i}-${Math.random()}` } }).then(call),
      ),
    );

  it('fetches at most once per cooldown however many made-up kids arrive', async () => {
    const setup = useJwksRuntime();
    expect((await call(await setup.sign(rsa, 'RS256'))).status).toBe(200);
    setup.clock.advance(seconds(31));

    for (const answer of await madeUp(setup, 200)) expectInvalid(answer, 'invalid_signature');
    expect(issuer.jwksHits()).toBe(2);
    setup.clock.advance(seconds(20));
    for (const answer of await madeUp(setup, 100)) expectInvalid(answer, 'invalid_signature');
    expect(issuer.jwksHits()).toBe(2);
    setup.clock.advance(seconds(10));
    await madeUp(setup, 100);
    expect(issuer.jwksHits()).toBe(3);
    // The issuer's own tokens go on working throughout.
    expect((await call(await setup.sign(ec, 'ES256'))).status).toBe(200);
  });

  it('fetches at most once per cooldown during an outage too, answering 503', async () => {
    const setup = useJwksRuntime();
    expect((await call(await setup.sign(rsa, 'RS256'))).status).toBe(200);
    issuer.answer = { kind: 'drop' };
    setup.clock.advance(seconds(31));
    for (const answer of await madeUp(setup, 100)) expectUnavailable(answer);
    setup.clock.advance(seconds(15));
    for (const answer of await madeUp(setup, 100)) expectUnavailable(answer);
    expect(issuer.jwksHits()).toBe(2);
  });
});

describe('issuer discovery (JWT_ISSUER_DISCOVERY)', () => {
  const realm = () => `${issuer.origin}/realms/fleet`;
  const discovered = (env: Record<string, string> = {}) =>
    useJwksRuntime({ JWT_JWKS_URL: '', JWT_ISSUER_DISCOVERY: 'true', JWT_ISSUER: realm(), ...env });

  it('takes jwks_uri from the OpenID configuration of JWT_ISSUER', async () => {
    issuer.routes.set('/realms/fleet/.well-known/openid-configuration', () => ({
      kind: 'json',
      body: { issuer: realm(), jwks_uri: issuer.jwksUrl },
    }));
    const { sign } = discovered();
    expect((await call(await sign(rsa, 'RS256', { claims: { iss: realm() } }))).status).toBe(200);
    expect(issuer.hits.get('/realms/fleet/.well-known/openid-configuration')).toBe(1);
    expect(issuer.jwksHits()).toBe(1);
  });

  it('falls back to the OAuth 2.0 authorization server metadata (RFC 8414)', async () => {
    issuer.routes.set('/.well-known/oauth-authorization-server/realms/fleet', () => ({
      kind: 'json',
      body: { issuer: realm(), jwks_uri: issuer.jwksUrl },
    }));
    const { sign } = discovered();
    expect((await call(await sign(ec, 'ES256', { claims: { iss: realm() } }))).status).toBe(200);
  });

  it('answers 503 when the metadata names another issuer or a plain-http jwks_uri', async () => {
    for (const body of [
      { issuer: 'https://elsewhere.example', jwks_uri: issuer.jwksUrl },
      { issuer: realm(), jwks_uri: `http://keys.example${JWKS_PATH}` },
    ]) {
      issuer.routes.set('/realms/fleet/.well-known/openid-configuration', () => ({ kind: 'json', body }));
      const { sign } = discovered();
      expectUnavailable(await call(await sign(rsa, 'RS256', { claims: { iss: realm() } })));
    }
    expect(issuer.jwksHits()).toBe(0);
  });
});

describe('the key set by itself', () => {
  const keySet = (log: KeySetLog) =>
    new RemoteKeySet({ jwksUrl: issuer.jwksUrl, cacheSeconds: 600, maxStaleSeconds: 86400, now: new ManualClock(Date.now()).now, log });

  it('ignores keys not for signatures, private keys and types it does not verify; one log line per fetch', async () => {
    const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
    issuer.answer = {
      kind: 'json',
      body: {
        keys: [
          publicJwk(rsa),
          publicJwk(rsaNext, { use: 'enc' }),
          { ...(ec.privateKey.export({ format: 'jwk' }) as object), kid: 'ec-private' },
          { kty: 'oct', k: 'c2VjcmV0', kid: 'oct' },
          publicJwk(ed),
          'not an object',
        ],
      },
    };
    const keys = keySet((level, message, fields) => lines.push({ level, message, fields }));
    await keys.start();
    expect(lines).toEqual([{ level: 'info', message: 'JWKS fetched', fields: { jwks_url: issuer.jwksUrl, keys: 1, ignored: 5 } }]);
    expect(keys.lookup('RS256', 'rsa-1').status).toBe('found');
    expect(keys.lookup('RS256', 'rsa-2').status).toBe('missing');
    expect(keys.lookup('ES256', 'ec-private').status).toBe('missing');
  });

  it('logs a failed fetch once, with its reason', async () => {
    const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
    issuer.answer = { kind: 'raw', body: 'not json' };
    const keys = keySet((level, message, fields) => lines.push({ level, message, fields }));
    await Promise.all([keys.start(), keys.refresh(), keys.refresh()]);
    expect(lines).toEqual([
      {
        level: 'error',
        message: 'JWKS fetch failed',
        fields: { jwks_url: issuer.jwksUrl, reason: 'not JSON', stale_keys_usable_for_s: 0 },
      },
    ]);
    expect(issuer.jwksHits()).toBe(1);
  });
});

describe('configuration of the key set', () => {
  const base = { JWT_JWKS_URL: 'https://issuer.example/oauth2/jwks' };

  it('defaults to RS256 and no secret with a JWKS, and to HS256 and RS256 with a secret too', () => {
    const jwksOnly = loadConfig({ ...base, AWS_LAMBDA_FUNCTION_NAME: 'fn' });
    expect(jwksOnly.algorithms).toEqual(['RS256']);
    expect(jwksOnly.secrets.size).toBe(0);
    expect(jwksOnly.jwks).toEqual({ url: base.JWT_JWKS_URL, discovery: false, cacheSeconds: 600, maxStaleSeconds: 86400, timeoutMs: 1500 });
    expect(loadConfig({ ...base, JWT_SECRET_KEY: TEST_SECRET }).algorithms).toEqual(['HS256', 'RS256']);
    expect(loadConfig({ JWT_JWKS_URL: 'http://127.0.0.1:9000/jwks' }).jwks?.url).toBe('http://127.0.0.1:9000/jwks');
    expect(loadConfig({}).jwks).toBeUndefined();
  });

  it.each([
    [{ JWT_JWKS_URL: 'http://issuer.example/jwks' }, 'JWT_JWKS_URL'],
    [{ JWT_JWKS_URL: 'not a url' }, 'JWT_JWKS_URL'],
    [{ ...base, JWT_ALGORITHMS: 'EdDSA' }, 'JWT_ALGORITHMS'],
    [{ ...base, JWT_ALGORITHMS: 'HS256,RS256' }, 'JWT_ALGORITHMS'],
    [{ JWT_ALGORITHMS: 'ES256' }, 'JWT_ALGORITHMS'],
    [{ ...base, JWT_JWKS_CACHE_SECONDS: '10m' }, 'JWT_JWKS_CACHE_SECONDS'],
    [{ ...base, JWT_JWKS_CACHE_SECONDS: '5' }, 'JWT_JWKS_CACHE_SECONDS'],
    [{ ...base, JWT_JWKS_MAX_STALE_SECONDS: '60' }, 'JWT_JWKS_MAX_STALE_SECONDS'],
    [{ ...base, JWT_JWKS_TIMEOUT_MS: '0' }, 'JWT_JWKS_TIMEOUT_MS'],
    [{ ...base, JWT_ISSUER_DISCOVERY: 'maybe' }, 'JWT_ISSUER_DISCOVERY'],
    [{ ...base, JWT_ISSUER_DISCOVERY: 'true' }, 'JWT_ISSUER_DISCOVERY'],
    [{ JWT_ISSUER_DISCOVERY: 'true', JWT_ISSUER: 'http://issuer.example' }, 'JWT_ISSUER'],
  ] as [Record<string, string>, string][])('refuses %o, naming %s', (env, variable) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as Error).message.startsWith(`${variable}: `)).toBe(true);
  });
});

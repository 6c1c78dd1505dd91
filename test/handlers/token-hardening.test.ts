/**
 * Token rules found missing by the second red-team round (issue 10): bounded, sanitised log
 * details; the signature checked before the payload is parsed; well-formed Unicode only; ids that
 * the revocation API can revoke; an optional required `typ`; a verified-token cache bounded by
 * memory as well as by entries. Through the real chain where an answer is asserted.
 */
import { CompactSign } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler as whoami } from '../../functions/whoami.ts';
import { MAX_ID_LENGTH, TokenVerifier } from '../../lib/auth/verifier.ts';
import { ConfigError, loadConfig } from '../../lib/config.ts';
import { logger } from '../../lib/logger.ts';
import { type Answer, invoke } from '../helpers/lambda.ts';
import { useTestRuntime } from '../helpers/runtime.ts';
import { signToken, TEST_AUDIENCE, TEST_ENV, TEST_ISSUER, TEST_SECRET } from '../helpers/tokens.ts';

const now = () => Math.floor(Date.now() / 1000);
const key = new TextEncoder().encode(TEST_SECRET);
const call = (token: string) => invoke(whoami, { path: '/api/whoami', token });

function expectReason(answer: Answer, reason: string) {
  expect(answer.status).toBe(401);
  expect(answer.body).toEqual({ error: 'invalid_token', error_description: reason, request_id: expect.any(String) });
}

/** A signed JWS over arbitrary payload bytes (jose signs bytes as given). */
function signBytes(payload: Uint8Array, header: Record<string, unknown> = {}): Promise<string> {
  return new CompactSign(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header }).sign(key);
}

function claims(extra: Record<string, unknown> = {}) {
  return { iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: 'agent-001', iat: now(), exp: now() + 300, jti: 'j-1', ...extra };
}

beforeEach(() => {
  useTestRuntime();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('log lines about refused tokens', () => {
  it('never echo a long or odd alg: a 7.5 KB alg gives a short line', async () => {
    const info = vi.spyOn(logger, 'info').mockImplementation(() => {});
    const header = Buffer.from(JSON.stringify({ alg: 'X'.repeat(5500), typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify(claims())).toString('base64url');

    expectReason(await call(`${header}.${payload}.c2ln`), 'unsupported_algorithm');

    const line = JSON.stringify(info.mock.calls);
    expect(line).toContain('unsupported_algorithm');
    expect(line).not.toContain('XXXXXXXXXXXXXXXX');
    expect(line.length).toBeLessThan(600);
  });

  it('still name an ordinary unsupported alg', async () => {
    const info = vi.spyOn(logger, 'info').mockImplementation(() => {});
    expectReason(await call(await signToken({}, { alg: 'HS384' })), 'unsupported_algorithm');
    expect(JSON.stringify(info.mock.calls)).toContain('unsupported_algorithm: HS384');
  });
});

describe('the signature comes before the payload', () => {
  it('refuses a forged token full of nested arrays without parsing its payload', async () => {
    const nested = `{"sub":"x","a":${'['.repeat(1500)}${']'.repeat(1500)}}`;
    const genuine = await signBytes(new TextEncoder().encode(nested), {});
    const [h, p] = genuine.split('.');
    const forged = `${h}.${p}.${Buffer.alloc(32, 7).toString('base64url')}`;
    const verifier = new TokenVerifier({ ...loadConfig({ ...TEST_ENV }), cacheSize: 0 });
    const parse = vi.spyOn(JSON, 'parse');

    expect(() => verifier.verify(forged)).toThrow(/^invalid_signature/);

    // Only the header (and its member names) was parsed: no call saw the payload's text.
    expect(parse.mock.calls.length).toBeGreaterThan(0);
    expect(parse.mock.calls.filter(([text]) => String(text).includes('[[['))).toEqual([]);
  });
});

describe('well-formed Unicode only', () => {
  it('refuses a claim with a lone surrogate (it would meet another id in a Redis key)', async () => {
    expectReason(await call(await signToken({ sub: 'x\uD800' })), 'malformed_token');
    expectReason(await call(await signToken({ sub: 'x\uDFFF' })), 'malformed_token');
    expectReason(await call(await signToken({ extra: { deep: ['\uD83D'] } })), 'malformed_token');
  });

  it('refuses a payload that is not valid UTF-8, instead of replacing the bytes', async () => {
    const text = Buffer.from(JSON.stringify(claims({ sub: 'agent-@@' })));
    const at = text.indexOf('@@');
    text[at] = 0xff;
    text[at + 1] = 0xfe;
    expectReason(await call(await signBytes(text)), 'malformed_token');
  });

  it('accepts ordinary non-ASCII claims', async () => {
    expect((await call(await signToken({ sub: 'agent-é-😀' }))).status).toBe(200);
  });
});

describe('ids the revocation API can revoke', () => {
  it(`refuses sub or jti longer than ${MAX_ID_LENGTH} characters, accepts ${MAX_ID_LENGTH}`, async () => {
    expectReason(await call(await signToken({ sub: 's'.repeat(MAX_ID_LENGTH + 1) })), 'malformed_token');
    expectReason(await call(await signToken({ jti: 'j'.repeat(MAX_ID_LENGTH + 1) })), 'malformed_token');
    expect((await call(await signToken({ sub: 's'.repeat(MAX_ID_LENGTH), jti: 'j'.repeat(MAX_ID_LENGTH) }))).status).toBe(200);
  });

  it('refuses an empty jti', async () => {
    expectReason(await call(await signToken({ jti: '' })), 'malformed_token');
  });
});

describe('JWT_REQUIRED_TYP', () => {
  it('is off by default: any typ, or none, is accepted', async () => {
    expect((await call(await signToken({}, { header: { typ: 'JWT' } }))).status).toBe(200);
    expect((await call(await signToken({}, { header: { typ: 'at+jwt' } }))).status).toBe(200);
  });

  it('with at+jwt, takes at+jwt in any case and with application/, refuses JWT and none', async () => {
    useTestRuntime({ JWT_REQUIRED_TYP: 'at+jwt' });
    expect((await call(await signToken({}, { header: { typ: 'at+jwt' } }))).status).toBe(200);
    expect((await call(await signToken({}, { header: { typ: 'application/AT+JWT' } }))).status).toBe(200);
    expectReason(await call(await signToken({}, { header: { typ: 'JWT' } })), 'malformed_token');
    const noTyp = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims()))).setProtectedHeader({ alg: 'HS256' }).sign(key);
    expectReason(await call(noTyp), 'malformed_token');
  });

  it('refuses a value that is no media type, naming the variable', () => {
    expect(() => loadConfig({ JWT_REQUIRED_TYP: 'at jwt' })).toThrow(ConfigError);
    expect(() => loadConfig({ JWT_REQUIRED_TYP: 'at jwt' })).toThrow(/^JWT_REQUIRED_TYP:/);
  });
});

describe('the verified-token cache', () => {
  it('is bounded by memory as well as by entries: large tokens do not fill the heap', async () => {
    const verifier = new TokenVerifier({ ...loadConfig({ ...TEST_ENV }), cacheSize: 10_000, cacheBytes: 1024 * 1024 });
    const nested = JSON.parse(`[${Array.from({ length: 200 }, () => '[[1,2],[3,4]]').join(',')}]`) as unknown;
    for (let i = 0; i < 300; i += 1) verifier.verify(await signToken({ jti: `big-${i}`, blob: nested }));

    const stats = verifier.cacheStats();
    expect(stats.bytes).toBeLessThanOrEqual(1024 * 1024);
    expect(stats.entries).toBeGreaterThan(0);
    expect(stats.entries).toBeLessThan(300);
  });

  it('evicts the oldest entry when full, keeping the newest', async () => {
    const verifier = new TokenVerifier({ ...loadConfig({ ...TEST_ENV }), cacheSize: 3 });
    const tokens = await Promise.all([1, 2, 3, 4].map((i) => signToken({ jti: `t-${i}` })));
    const first = tokens.map((token) => verifier.verify(token));

    expect(verifier.cacheStats().entries).toBe(3);
    // The newest three come back as the very objects remembered; the first was evicted and is verified anew.
    expect(verifier.verify(tokens[3] as string)).toBe(first[3]);
    expect(verifier.verify(tokens[1] as string)).toBe(first[1]);
    expect(verifier.verify(tokens[0] as string)).not.toBe(first[0]);
  });
});

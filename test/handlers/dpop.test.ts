/**
 * DPoP (RFC 9449) on the resource server, through the real handlers on both stores: a token bound
 * to a key (`cnf.jkt`) is good only as `Authorization: DPoP <token>` with one proof that passes
 * every check of 4.3. Each check fails alone here, on a proof that is otherwise good; the clock
 * edges of the iat window are met exactly; htu is compared behind a stage path and a custom
 * domain; a replayed jti is refused by the admission's one store command, also when the two
 * requests go through two store clients sharing one Redis. Proofs and tokens are signed with
 * jose (dev/dpop.ts, dev/token.ts), not with the verifier's library.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { type DpopKey, dpopKey, dpopProof, generateDpopKey } from '../../dev/dpop.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import { accessTokenHash, jwkThumbprint, normalizedHtu, proofId, proofKeepUntil, proofReplayed, requestUrl } from '../../lib/auth/dpop.ts';
import { loadConfig } from '../../lib/config.ts';
import { redisKeys } from '../../lib/store/keys.ts';
import { type Answer, invoke } from '../helpers/lambda.ts';
import { Contract } from '../helpers/openapi.ts';
import { HAS_REDIS } from '../helpers/redis.ts';
import { redisTarget, storeTargets, type TestRuntime } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

const HOST = 'api.test.local';
/** With no PUBLIC_BASE_URL, the URL the service takes is https:// + the request's domain + its path. */
const URL_COMMANDS = `https://${HOST}/api/commands`;

let key: DpopKey;
/** Every refusal is checked against docs/openapi.yaml as well (body and WWW-Authenticate). */
const contract = Contract.load();

beforeEach(async () => {
  key ??= await generateDpopKey();
});

interface CallOptions {
  readonly scheme?: string;
  readonly dpop?: string | undefined;
  readonly path?: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
}

function call(token: string, options: CallOptions = {}, handler = getCommands): Promise<Answer> {
  const headers: Record<string, string> = { host: HOST, authorization: `${options.scheme ?? 'DPoP'} ${token}`, ...options.headers };
  if (options.dpop !== undefined) headers.dpop = options.dpop;
  return invoke(handler, { method: options.method ?? 'GET', path: options.path ?? '/api/commands', headers });
}

/** A token bound to `key` (cnf.jkt), iat/exp by the runtime's clock. */
function boundToken(rt: TestRuntime, bound: DpopKey = key, claims: Record<string, unknown> = {}): Promise<string> {
  return signToken({ cnf: { jkt: bound.jkt }, ...claims }, { now: Math.floor(rt.clock.now() / 1000) });
}

const seconds = (rt: TestRuntime) => Math.floor(rt.clock.now() / 1000);

function expectProofRefused(answer: Answer, reason: string, algs = 'ES256 RS256 PS256 EdDSA'): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(401);
  expect(answer.body).toEqual({ error: 'invalid_dpop_proof', error_description: reason, request_id: expect.any(String) });
  expect(answer.headers['www-authenticate']).toBe(
    `DPoP realm="biz-service", error="invalid_dpop_proof", error_description="${reason}", algs="${algs}"`,
  );
  expect(contract.answerProblems('get', '/api/commands', answer)).toEqual([]);
}

function expectTokenRefused(answer: Answer, reason: string, challenge: 'DPoP' | 'Bearer' = 'DPoP'): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(401);
  expect(answer.body).toEqual({ error: 'invalid_token', error_description: reason, request_id: expect.any(String) });
  expect(answer.headers['www-authenticate']).toMatch(new RegExp(`^${challenge} realm="biz-service", error="invalid_token"`));
  expect(contract.answerProblems('get', '/api/commands', answer)).toEqual([]);
}

/** Replaces a proof's header (its signature kept): for the checks that come before the signature. */
function withHeader(proof: string, change: Record<string, unknown>): string {
  const [head = '', payload = '', signature = ''] = proof.split('.');
  const header = { ...JSON.parse(Buffer.from(head, 'base64url').toString()), ...change };
  return [Buffer.from(JSON.stringify(header)).toString('base64url'), payload, signature].join('.');
}

describe('the pure rules', () => {
  it('takes the RFC 7638 thumbprint of the example key of RFC 7638 3.1', () => {
    const jwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(jwkThumbprint(jwk)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('gives the same thumbprint as jose for each key type', async () => {
    for (const type of ['ec', 'rsa', 'ed25519'] as const) {
      const made = await generateDpopKey(type);
      expect(jwkThumbprint(made.jwk as Record<string, unknown>), type).toBe(made.jkt);
    }
  });

  it('normalises htu as RFC 3986 6.2.2 and 6.2.3 say, and drops query and fragment', () => {
    const same = [
      'https://api.example.com/api/commands',
      'HTTPS://API.Example.COM/api/commands',
      'https://api.example.com:443/api/commands',
      'https://api.example.com/%61pi/commands',
      'https://api.example.com/x/../api/commands',
      'https://api.example.com/api/commands?limit=5#top',
    ];
    for (const url of same) expect(normalizedHtu(url), url).toBe('https://api.example.com/api/commands');
    expect(normalizedHtu('https://api.example.com/a%2fb')).toBe('https://api.example.com/a%2Fb');
    expect(normalizedHtu('https://api.example.com')).toBe('https://api.example.com/');
    expect(normalizedHtu('http://api.example.com:80/a')).toBe('http://api.example.com/a');
    for (const other of [
      'http://api.example.com/api/commands',
      'https://api.example.com:8443/api/commands',
      'https://api.example.com/api/Commands',
    ]) {
      expect(normalizedHtu(other), other).not.toBe('https://api.example.com/api/commands');
    }
    expect(normalizedHtu('/api/commands')).toBeUndefined();
    expect(normalizedHtu('ftp://api.example.com/x')).toBeUndefined();
  });

  it('builds the URL called from PUBLIC_BASE_URL, or the request, a base path in the request counted once', () => {
    const request = (path: string) => ({ scheme: 'https', host: 'x.execute-api.eu-west-1.amazonaws.com', path });
    expect(requestUrl(undefined, request('/api/commands'))).toBe('https://x.execute-api.eu-west-1.amazonaws.com/api/commands');
    expect(requestUrl('https://api.example.com', request('/api/commands'))).toBe('https://api.example.com/api/commands');
    expect(requestUrl('https://api.example.com/v1', request('/api/commands'))).toBe('https://api.example.com/v1/api/commands');
    expect(requestUrl('https://api.example.com/v1', request('/v1/api/commands'))).toBe('https://api.example.com/v1/api/commands');
    expect(requestUrl('https://api.example.com/v1', request('/v10/api'))).toBe('https://api.example.com/v1/v10/api');
  });

  it('remembers a proof to one window past the last instant its iat is accepted', () => {
    expect(proofKeepUntil(1_000, 60)).toBe(1_120_001);
    expect(proofReplayed(undefined, 'r1')).toBe(false);
    expect(proofReplayed('r1', 'r1')).toBe(false);
    expect(proofReplayed('r1', 'r2')).toBe(true);
    expect(proofId({ jkt: 'a', jti: 'b.c' })).not.toBe(proofId({ jkt: 'a.b', jti: 'c' }));
  });

  it('reads its configuration with the defaults, and names a bad variable', () => {
    const dpop = loadConfig(TEST_ENV).dpop;
    expect(dpop).toEqual({
      algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      required: false,
      iatWindowSeconds: 60,
      publicBaseUrl: undefined,
    });
    expect(loadConfig({ ...TEST_ENV, PUBLIC_BASE_URL: 'HTTPS://Api.Example.com/prod/' }).dpop.publicBaseUrl).toBe(
      'https://api.example.com/prod',
    );
    expect(() => loadConfig({ ...TEST_ENV, DPOP_ALGORITHMS: 'ES256,HS256' })).toThrow(/^DPOP_ALGORITHMS:/);
    expect(() => loadConfig({ ...TEST_ENV, DPOP_ALGORITHMS: 'none' })).toThrow(/^DPOP_ALGORITHMS:/);
    expect(() => loadConfig({ ...TEST_ENV, DPOP_REQUIRED: 'maybe' })).toThrow(/^DPOP_REQUIRED:/);
    expect(() => loadConfig({ ...TEST_ENV, DPOP_IAT_WINDOW_SECONDS: '0' })).toThrow(/^DPOP_IAT_WINDOW_SECONDS:/);
    expect(() => loadConfig({ ...TEST_ENV, PUBLIC_BASE_URL: 'api.example.com' })).toThrow(/^PUBLIC_BASE_URL:/);
    expect(() => loadConfig({ ...TEST_ENV, PUBLIC_BASE_URL: 'https://api.example.com/?stage=1' })).toThrow(/^PUBLIC_BASE_URL:/);
  });
});

describe.each(storeTargets('dpop'))('DPoP on the $name store', (target) => {
  let rt: TestRuntime;
  beforeEach(() => {
    rt = target.use();
  });

  const proof = (token: string, extra: Partial<Parameters<typeof dpopProof>[1]> = {}, signer: DpopKey = key) =>
    dpopProof(signer, { htm: 'GET', htu: URL_COMMANDS, accessToken: token, iat: seconds(rt), ...extra });

  it('accepts a bound token with a good proof, each default algorithm, proofs made by jose', async () => {
    for (const [type, alg] of [
      ['ec', 'ES256'],
      ['rsa', 'RS256'],
      ['rsa', 'PS256'],
      ['ed25519', 'EdDSA'],
    ] as const) {
      const signer = await generateDpopKey(type, alg);
      const token = await boundToken(rt, signer);
      const answer = await call(token, { dpop: await proof(token, {}, signer) });
      expect(answer.status, `${alg}: ${JSON.stringify(answer.body)}`).toBe(200);
    }
  });

  it('accepts a new proof on every request with the same token, and the scheme in any case', async () => {
    const token = await boundToken(rt);
    expect((await call(token, { dpop: await proof(token) })).status).toBe(200);
    expect((await call(token, { dpop: await proof(token), scheme: 'dpop' })).status).toBe(200);
  });

  it('refuses a replayed proof: the same jti from another request (proof_replayed)', async () => {
    const token = await boundToken(rt);
    const once = await proof(token);
    expect((await call(token, { dpop: once })).status).toBe(200);
    expectProofRefused(await call(token, { dpop: once }), 'proof_replayed');
    // The jti is what counts: another proof with the same jti and key is a replay too.
    const jti = JSON.parse(Buffer.from(once.split('.')[1] ?? '', 'base64url').toString()).jti as string;
    expectProofRefused(await call(token, { dpop: await proof(token, { jti, iat: seconds(rt) - 1 }) }), 'proof_replayed');
    // Refused on a route that admits without a store action as well.
    const other = await proof(token, { htu: `https://${HOST}/api/whoami` });
    expect((await call(token, { dpop: other, path: '/api/whoami' }, whoami)).status).toBe(200);
    expectProofRefused(await call(token, { dpop: other, path: '/api/whoami' }, whoami), 'proof_replayed');
  });

  it('refuses a request without a proof (missing_proof) and one with two (multiple_proofs)', async () => {
    const token = await boundToken(rt);
    expectProofRefused(await call(token), 'missing_proof');
    expectProofRefused(await call(token, { dpop: `${await proof(token)},${await proof(token)}` }), 'multiple_proofs');
  });

  it('refuses what is no compact JWS (malformed_proof)', async () => {
    const token = await boundToken(rt);
    for (const bad of ['abc', 'a.b', 'a.b.c.d', '!!.??.--', `${(await proof(token)).split('.').slice(0, 2).join('.')}.`]) {
      expectProofRefused(await call(token, { dpop: bad }), 'malformed_proof');
    }
  });

  it('refuses a typ other than dpop+jwt (wrong_typ)', async () => {
    const token = await boundToken(rt);
    expectProofRefused(await call(token, { dpop: await proof(token, { header: { typ: 'JWT' } }) }), 'wrong_typ');
    expectProofRefused(await call(token, { dpop: await proof(token, { header: { typ: undefined } }) }), 'wrong_typ');
  });

  it('refuses an alg outside DPOP_ALGORITHMS, none and HMAC included (unsupported_algorithm)', async () => {
    const token = await boundToken(rt);
    const es384 = await dpopKey(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, 'ES384');
    expectProofRefused(await call(token, { dpop: await proof(token, {}, es384) }), 'unsupported_algorithm');
    for (const alg of ['none', 'HS256']) {
      expectProofRefused(await call(token, { dpop: withHeader(await proof(token), { alg }) }), 'unsupported_algorithm');
    }
    // Configured narrower, a default algorithm is refused too, and the challenge says which are taken.
    rt = target.use({ DPOP_ALGORITHMS: 'ES256' });
    const rsa = await generateDpopKey('rsa');
    const rsaToken = await boundToken(rt, rsa);
    expectProofRefused(await call(rsaToken, { dpop: await proof(rsaToken, {}, rsa) }), 'unsupported_algorithm', 'ES256');
  });

  it('refuses a jwk that carries a private key (private_key)', async () => {
    const token = await boundToken(rt);
    const privateJwk = key.privateKey.export({ format: 'jwk' });
    expectProofRefused(await call(token, { dpop: await proof(token, { header: { jwk: privateJwk } }) }), 'private_key');
  });

  it('refuses a header without a usable public jwk (invalid_jwk)', async () => {
    const token = await boundToken(rt);
    expectProofRefused(await call(token, { dpop: await proof(token, { header: { jwk: undefined } }) }), 'invalid_jwk');
    expectProofRefused(
      await call(token, { dpop: await proof(token, { header: { jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } } }) }),
      'invalid_jwk',
    );
  });

  it('refuses a jwk that does not suit the alg, and an RSA key under 2048 bits (invalid_jwk)', async () => {
    const p384 = await dpopKey(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, 'ES384');
    const rsa = await generateDpopKey('rsa');
    const ed = await generateDpopKey('ed25519');
    // Each signed by its own key, the header naming an alg of another family or curve.
    for (const [signer, alg] of [
      [p384, 'ES256'],
      [key, 'RS256'],
      [rsa, 'ES256'],
      [key, 'EdDSA'],
      [ed, 'PS256'],
    ] as const) {
      const bound = await boundToken(rt, signer);
      expectProofRefused(await call(bound, { dpop: withHeader(await proof(bound, {}, signer), { alg }) }), 'invalid_jwk');
    }
    // jose will not sign with an RSA key under 2048 bits: the proof of that one is signed by node:crypto.
    const small = await dpopKey(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey, 'RS256');
    const smallToken = await boundToken(rt, small);
    const payload = (await proof(smallToken)).split('.')[1] ?? '';
    const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'RS256', jwk: small.jwk })).toString('base64url');
    const smallInput = `${header}.${payload}`;
    const signature = sign('sha256', Buffer.from(smallInput), small.privateKey).toString('base64url');
    expectProofRefused(await call(smallToken, { dpop: `${smallInput}.${signature}` }), 'invalid_jwk');
  });

  it('refuses a signature that does not verify with the header jwk (invalid_signature)', async () => {
    const token = await boundToken(rt);
    const other = await generateDpopKey();
    // Signed by another key, naming ours.
    expectProofRefused(await call(token, { dpop: await proof(token, { header: { jwk: key.jwk } }, other) }), 'invalid_signature');
    // A claim changed after signing.
    const [head = '', payload = '', signature = ''] = (await proof(token)).split('.');
    const claims = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), htm: 'GET ' };
    const changed = [head, Buffer.from(JSON.stringify({ ...claims, htm: 'GET', jti: 'changed' })).toString('base64url'), signature].join(
      '.',
    );
    expectProofRefused(await call(token, { dpop: changed }), 'invalid_signature');
  });

  it('refuses a proof for another method (htm_mismatch)', async () => {
    const token = await boundToken(rt);
    expectProofRefused(await call(token, { dpop: await proof(token, { htm: 'POST' }) }), 'htm_mismatch');
    expectProofRefused(await call(token, { dpop: await proof(token, { htm: 'get' }) }), 'htm_mismatch');
  });

  it('refuses a proof for another URL (htu_mismatch), and ignores query and fragment', async () => {
    const token = await boundToken(rt);
    for (const htu of [
      `https://${HOST}/api/config`,
      `http://${HOST}/api/commands`,
      'https://evil.example/api/commands',
      `https://${HOST}:8443/api/commands`,
    ]) {
      expectProofRefused(await call(token, { dpop: await proof(token, { htu }) }), 'htu_mismatch');
    }
    expect((await call(token, { dpop: await proof(token, { claims: { htu: `${URL_COMMANDS}?limit=1#x` } }) })).status).toBe(200);
    expect((await call(token, { dpop: await proof(token, { claims: { htu: `HTTPS://API.TEST.LOCAL:443/%61pi/commands` } }) })).status).toBe(
      200,
    );
  });

  it('takes iat exactly at both edges of the window, and refuses a second beyond either (iat_out_of_window)', async () => {
    const token = await boundToken(rt);
    // On a whole second, so that iat ± 60 is exactly now ∓ 60 s.
    rt.clock.set(Math.ceil(rt.clock.now() / 1000) * 1000);
    const now = seconds(rt);
    expect((await call(token, { dpop: await proof(token, { iat: now - 60 }) })).status).toBe(200);
    expect((await call(token, { dpop: await proof(token, { iat: now + 60 }) })).status).toBe(200);
    expectProofRefused(await call(token, { dpop: await proof(token, { iat: now - 61 }) }), 'iat_out_of_window');
    expectProofRefused(await call(token, { dpop: await proof(token, { iat: now + 61 }) }), 'iat_out_of_window');
    // A millisecond past the edge is past it.
    rt.clock.advance(1);
    expectProofRefused(await call(token, { dpop: await proof(token, { iat: now - 60 }) }), 'iat_out_of_window');
    // The window is configurable.
    rt = target.use({ DPOP_IAT_WINDOW_SECONDS: '5' });
    rt.clock.set(now * 1000);
    expect((await call(token, { dpop: await proof(token, { iat: now - 5 }) })).status).toBe(200);
    expectProofRefused(await call(token, { dpop: await proof(token, { iat: now - 6 }) }), 'iat_out_of_window');
  });

  it('refuses a proof bound to another token, or to none (ath_mismatch, missing_claim)', async () => {
    const token = await boundToken(rt);
    const otherToken = await boundToken(rt, key, { jti: 'another-token' });
    expectProofRefused(await call(token, { dpop: await proof(otherToken) }), 'ath_mismatch');
    expectProofRefused(await call(token, { dpop: await proof(token, { claims: { ath: undefined } }) }), 'missing_claim');
    expect(accessTokenHash(token)).not.toBe(accessTokenHash(otherToken));
  });

  it('refuses a proof without jti, htm, htu or iat (missing_claim)', async () => {
    const token = await boundToken(rt);
    for (const claim of ['jti', 'htm', 'htu', 'iat']) {
      expectProofRefused(await call(token, { dpop: await proof(token, { claims: { [claim]: undefined } }) }), 'missing_claim');
    }
  });

  it("refuses a proof by a key other than the token's cnf.jkt (jkt_mismatch)", async () => {
    const other = await generateDpopKey();
    const token = await boundToken(rt, other);
    expectProofRefused(await call(token, { dpop: await proof(token) }), 'jkt_mismatch');
  });

  it('refuses a DPoP-bound token sent as Bearer, even with a good proof (dpop_bound_token)', async () => {
    const token = await boundToken(rt);
    const answer = await call(token, { scheme: 'Bearer', dpop: await proof(token) });
    expectTokenRefused(answer, 'dpop_bound_token');
    expect(answer.headers['www-authenticate']).toContain('algs="ES256 RS256 PS256 EdDSA"');
  });

  it('refuses the DPoP scheme with a token that is not bound (not_dpop_bound)', async () => {
    const token = await signToken({}, { now: seconds(rt) });
    expectTokenRefused(await call(token, { dpop: await proof(token) }), 'not_dpop_bound');
  });

  it('keeps accepting unbound Bearer tokens by default, and refuses them with DPOP_REQUIRED=true (missing_claim)', async () => {
    const plain = await signToken({}, { now: seconds(rt) });
    expect((await call(plain, { scheme: 'Bearer' })).status).toBe(200);
    rt = target.use({ DPOP_REQUIRED: 'true' });
    expectTokenRefused(await call(plain, { scheme: 'Bearer' }), 'missing_claim');
    // No token at all: the challenge is DPoP's (RFC 9449 7.1), naming the algorithms.
    const missing = await invoke(getCommands, { path: '/api/commands', headers: { host: HOST } });
    expect(missing.status).toBe(401);
    expect(missing.body.error).toBe('missing_token');
    expect(missing.headers['www-authenticate']).toBe('DPoP realm="biz-service", algs="ES256 RS256 PS256 EdDSA"');
    expect(contract.answerProblems('get', '/api/commands', missing)).toEqual([]);
    const token = await boundToken(rt);
    expect((await call(token, { dpop: await proof(token) })).status).toBe(200);
  });

  it('compares htu with PUBLIC_BASE_URL behind a stage path', async () => {
    const stage = 'https://abc123def4.execute-api.eu-west-1.amazonaws.com/prod';
    rt = target.use({ PUBLIC_BASE_URL: stage });
    const token = await boundToken(rt);
    expect((await call(token, { dpop: await proof(token, { htu: `${stage}/api/commands` }) })).status).toBe(200);
    expectProofRefused(
      await call(token, { dpop: await proof(token, { htu: 'https://abc123def4.execute-api.eu-west-1.amazonaws.com/api/commands' }) }),
      'htu_mismatch',
    );
    // The request's own host no longer counts.
    expectProofRefused(await call(token, { dpop: await proof(token) }), 'htu_mismatch');
    // API Gateway keeps a named stage (or an API mapping's base path) in rawPath: not counted twice.
    const kept = { path: '/prod/api/commands' };
    expect((await call(token, { ...kept, dpop: await proof(token, { htu: `${stage}/api/commands` }) })).status).toBe(200);
    expectProofRefused(await call(token, { ...kept, dpop: await proof(token, { htu: `${stage}/prod/api/commands` }) }), 'htu_mismatch');
  });

  it('compares htu with PUBLIC_BASE_URL on a custom domain, normalised', async () => {
    rt = target.use({ PUBLIC_BASE_URL: 'https://Agents.Example.com/' });
    const token = await boundToken(rt);
    expect((await call(token, { dpop: await proof(token, { htu: 'https://agents.example.com/api/commands' }) })).status).toBe(200);
    expect((await call(token, { dpop: await proof(token, { htu: 'https://AGENTS.example.com:443/api/commands' }) })).status).toBe(200);
    expectProofRefused(
      await call(token, { dpop: await proof(token, { htu: 'https://agents.example.com/v1/api/commands' }) }),
      'htu_mismatch',
    );
  });

  it('remembers a proof only once the request is let through: a revoked or rate-limited request leaves its proof unused', async () => {
    rt = target.use({ RATE_LIMIT_REQUESTS: '1', RATE_LIMIT_WINDOW_SECONDS: '10' });
    // At the start of a window, so that the next one starts 10 s later and the proofs stay within their iat window.
    rt.clock.set(Math.ceil(rt.clock.now() / 10_000) * 10_000);
    const token = await boundToken(rt);
    const first = await proof(token);
    expect((await call(token, { dpop: first })).status).toBe(200);
    const held = await proof(token);
    expect((await call(token, { dpop: held })).status).toBe(429);
    // A replay is decided before the rate limit: 401, not 429.
    expectProofRefused(await call(token, { dpop: first }), 'proof_replayed');
    rt.clock.advance(20_000);
    expect((await call(token, { dpop: held })).status).toBe(200);
    expectProofRefused(await call(token, { dpop: held }), 'proof_replayed');
    expect((await call(token, { dpop: await proof(token, { iat: seconds(rt) }) })).status).toBe(429);

    // Revoked: decided before the proof's replay, and the proof is not remembered (token_revoked again, not proof_replayed).
    const revoked = await boundToken(rt, key, { jti: 'revoked-bound' });
    await rt.stores.unchecked.revocations.revokeToken('revoked-bound', seconds(rt) + 600);
    const unused = await proof(revoked, { iat: seconds(rt) });
    expectTokenRefused(await call(revoked, { dpop: unused }), 'token_revoked');
    expectTokenRefused(await call(revoked, { dpop: unused }), 'token_revoked');
  });

  it('checks the proof before the store is asked: a refused proof reads and writes nothing, and is not counted', async () => {
    rt = target.use({ RATE_LIMIT_REQUESTS: '2', RATE_LIMIT_WINDOW_SECONDS: '60' });
    const token = await boundToken(rt);
    for (let i = 0; i < 3; i += 1) expectProofRefused(await call(token, { dpop: await proof(token, { htm: 'POST' }) }), 'htm_mismatch');
    expect((await call(token, { dpop: await proof(token) })).status).toBe(200);
    expect((await call(token, { dpop: await proof(token) })).status).toBe(200);
    expect((await call(token, { dpop: await proof(token) })).status).toBe(429);
  });
});

describe.skipIf(!HAS_REDIS)('DPoP replay across store clients sharing one Redis', () => {
  const target = redisTarget('dpop-shared');

  it('refuses in one runtime a proof another runtime (its own Upstash client) took, in one store command each', async () => {
    const shared = { REDIS_KEY_PREFIX: `${target.prefix}shared:` };
    const first = target.use(shared);
    const token = await boundToken(first);
    const once = await dpopProof(key, { htm: 'GET', htu: URL_COMMANDS, accessToken: token, iat: seconds(first) });
    // Warm both clients (EVALSHA learns the script once), then count the bridge's requests.
    expect((await call(token, { dpop: await dpopProof(key, { htm: 'GET', htu: URL_COMMANDS, accessToken: token }) })).status).toBe(200);
    const before = target.bridge.requests;
    expect((await call(token, { dpop: once })).status).toBe(200);
    expect(target.bridge.requests - before).toBe(1);

    const second = target.use(shared);
    second.clock.set(first.clock.now());
    expect((await call(token, { dpop: await dpopProof(key, { htm: 'GET', htu: URL_COMMANDS, accessToken: token }) })).status).toBe(200);
    const again = target.bridge.requests;
    expectProofRefused(await call(token, { dpop: once }), 'proof_replayed');
    expect(target.bridge.requests - again).toBe(1);
  });

  it('keeps the jti under its own key until one window past its iat window', async () => {
    const shared = { REDIS_KEY_PREFIX: `${target.prefix}expiry:` };
    const rt = target.use(shared);
    const token = await boundToken(rt);
    const iat = seconds(rt);
    const jti = 'a-jti-to-look-for';
    expect(
      (await call(token, { dpop: await dpopProof(key, { htm: 'GET', htu: URL_COMMANDS, accessToken: token, iat, jti }) })).status,
    ).toBe(200);
    const name = redisKeys(shared.REDIS_KEY_PREFIX).dpopProof(proofId({ jkt: key.jkt, jti }));
    expect(await target.redis.exists(name)).toBe(1);
    expect(Number(await target.redis.sendCommand(['PEXPIRETIME', name]))).toBe(proofKeepUntil(iat, 60));
  });
});

/**
 * The token rules, through the real Middy chain of /api/whoami (any valid token) and
 * /api/commands (scope agent:commands). Tokens are signed with jose, not the verifying library.
 */
import { createHmac } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import { handler as tokenInfo } from '../../functions/token-info.ts';
import { invoke, type Answer } from '../helpers/lambda.ts';
import { useTestRuntime } from '../helpers/runtime.ts';
import { signToken, TEST_AUDIENCE, TEST_ISSUER, TEST_SECRET } from '../helpers/tokens.ts';

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A token built by hand, for shapes no signing library will produce. */
function handMade(header: Record<string, unknown>, payload: Record<string, unknown>, secret = TEST_SECRET, hash = 'sha256'): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

function basePayload(extra: Record<string, unknown> = {}) {
  return { iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: 'agent-001', iat: now(), exp: now() + 300, scope: 'agent:commands', ...extra };
}

function expectInvalid(answer: Answer, reason: string) {
  expect(answer.status).toBe(401);
  expect(answer.headers['content-type']).toBe('application/json');
  expect(answer.body).toEqual({ error: 'invalid_token', error_description: reason, request_id: expect.any(String) });
  expect(answer.headers['www-authenticate']).toBe(`Bearer realm="biz-service", error="invalid_token", error_description="${reason}"`);
}

const call = (token: string | undefined, headers: Record<string, string> = {}) =>
  invoke(whoami, { path: '/api/whoami', headers: token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers } });

beforeEach(() => {
  useTestRuntime();
});

describe('the Authorization header', () => {
  it('answers 401 missing_token with a bare Bearer challenge when there is no header', async () => {
    const answer = await call(undefined);
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ error: 'missing_token', error_description: expect.any(String), request_id: expect.any(String) });
    expect(answer.headers['www-authenticate']).toBe('Bearer realm="biz-service"');
  });

  it('treats an empty header as no token', async () => {
    const answer = await call(undefined, { authorization: '' });
    expect(answer.body.error).toBe('missing_token');
  });

  it('accepts the scheme in any case and several spaces before the token', async () => {
    const token = await signToken();
    for (const header of [`bearer ${token}`, `BEARER ${token}`, `Bearer    ${token}`]) {
      const answer = await call(undefined, { authorization: header });
      expect(answer.status, header.slice(0, 10)).toBe(200);
    }
  });

  it('reads the header whatever the case of its name', async () => {
    const token = await signToken();
    const answer = await call(undefined, { Authorization: `Bearer ${token}` });
    expect(answer.status).toBe(200);
  });

  it('rejects another scheme as an invalid token', async () => {
    const answer = await call(undefined, { authorization: 'Basic YWdlbnQ6c2VjcmV0' });
    expectInvalid(answer, 'malformed_token');
  });

  it('rejects two Authorization headers joined by API Gateway', async () => {
    const token = await signToken();
    const answer = await call(undefined, { authorization: `Bearer ${token},Bearer ${token}` });
    expectInvalid(answer, 'malformed_token');
  });

  it('does not take a token from the query string', async () => {
    const token = await signToken();
    const answer = await invoke(whoami, { path: '/api/whoami', query: { access_token: token } });
    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe('missing_token');
  });

  it('rejects a token over 8 KB without parsing it', async () => {
    const token = await signToken({ padding: 'x'.repeat(9000) });
    expectInvalid(await call(token), 'malformed_token');
  });
});

describe('signature and algorithm', () => {
  it('accepts a token signed with the secret and answers with the agent', async () => {
    const answer = await call(await signToken({ client_id: 'client-7' }));
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ agent_id: 'agent-001', client_id: 'client-7', scopes: ['agent:commands', 'agent:results'] });
  });

  it('rejects a token signed with another secret', async () => {
    expectInvalid(await call(await signToken({}, { secret: 'another-secret-0123456789abcdef0123456789' })), 'invalid_signature');
  });

  it('rejects a payload changed after signing', async () => {
    const token = await signToken({ sub: 'agent-001' });
    const [h, , s] = token.split('.');
    const forged = `${h}.${b64(basePayload({ sub: 'agent-002' }))}.${s}`;
    expectInvalid(await call(forged), 'invalid_signature');
  });

  it('rejects alg none, with or without a signature', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64(basePayload())}.`;
      expectInvalid(await call(unsigned), 'unsupported_algorithm');
      const signed = `${b64({ alg, typ: 'JWT' })}.${b64(basePayload())}.${createHmac('sha256', TEST_SECRET).update('x').digest('base64url')}`;
      expectInvalid(await call(signed), 'unsupported_algorithm');
    }
  });

  it('rejects HS512 with the right secret when only HS256 is allowed', async () => {
    expectInvalid(await call(await signToken({}, { alg: 'HS512' })), 'unsupported_algorithm');
  });

  it('accepts HS512 when JWT_ALGORITHMS allows it', async () => {
    useTestRuntime({ JWT_ALGORITHMS: 'HS256,HS512' });
    expect((await call(await signToken({}, { alg: 'HS512' }))).status).toBe(200);
  });

  it('rejects a token whose signature was stripped', async () => {
    const token = await signToken();
    const [h, p] = token.split('.');
    expectInvalid(await call(`${h}.${p}.`), 'invalid_signature');
    expectInvalid(await call(`${h}.${p}`), 'malformed_token');
  });

  it('rejects a header with a crit parameter it does not understand', async () => {
    expectInvalid(await call(handMade({ alg: 'HS256', typ: 'JWT', crit: ['exp-ext'], 'exp-ext': 1 }, basePayload())), 'malformed_token');
  });

  it('rejects segments that are not base64url JSON objects', async () => {
    expectInvalid(await call('abc.def.ghi'), 'malformed_token');
    expectInvalid(await call(`${b64('[1,2]')}.${b64(basePayload())}.sig`), 'malformed_token');
    expectInvalid(await call(`${b64({ alg: 'HS256' })}.${b64('"text"')}.c2ln`), 'malformed_token');
  });
});

describe('registered claims', () => {
  it('rejects an expired token beyond the leeway and accepts one inside it', async () => {
    expectInvalid(await call(await signToken({}, { expiresIn: -61 })), 'token_expired');
    expect((await call(await signToken({}, { expiresIn: -30 }))).status).toBe(200);
  });

  it('uses JWT_CLOCK_TOLERANCE_SECONDS as the leeway', async () => {
    useTestRuntime({ JWT_CLOCK_TOLERANCE_SECONDS: '0' });
    expectInvalid(await call(await signToken({}, { expiresIn: -2 })), 'token_expired');
  });

  it('requires exp', async () => {
    expectInvalid(await call(await signToken({}, { omit: ['exp'] })), 'missing_claim');
  });

  it('rejects a token not yet valid (nbf) beyond the leeway', async () => {
    expectInvalid(await call(await signToken({ nbf: now() + 120 })), 'token_not_yet_valid');
    expect((await call(await signToken({ nbf: now() + 30 }))).status).toBe(200);
  });

  it('rejects a token issued in the future (iat) beyond the leeway', async () => {
    expectInvalid(await call(await signToken({ iat: now() + 120 })), 'token_not_yet_valid');
  });

  it('requires the configured issuer, exactly', async () => {
    expectInvalid(await call(await signToken({ iss: 'https://evil.example' })), 'invalid_issuer');
    expectInvalid(await call(await signToken({ iss: `${TEST_ISSUER}/` })), 'invalid_issuer');
    expectInvalid(await call(await signToken({}, { omit: ['iss'] })), 'invalid_issuer');
  });

  it('requires the audience, as a string or within an array', async () => {
    expectInvalid(await call(await signToken({ aud: 'other-service' })), 'invalid_audience');
    expectInvalid(await call(await signToken({}, { omit: ['aud'] })), 'invalid_audience');
    expect((await call(await signToken({ aud: ['other-service', TEST_AUDIENCE] }))).status).toBe(200);
  });

  it('accepts any audience of a comma-separated JWT_AUDIENCE', async () => {
    useTestRuntime({ JWT_AUDIENCE: 'biz-service, biz-service-eu' });
    expect((await call(await signToken({ aud: 'biz-service-eu' }))).status).toBe(200);
    expectInvalid(await call(await signToken({ aud: 'biz' })), 'invalid_audience');
  });

  it('requires sub as a non-empty string', async () => {
    expectInvalid(await call(await signToken({}, { omit: ['sub'] })), 'missing_claim');
    expectInvalid(await call(await signToken({ sub: '' })), 'missing_claim');
    expectInvalid(await call(await signToken({ sub: 42 })), 'malformed_token');
  });

  it('answers claims of the wrong JSON type with invalid_token, never a 500', async () => {
    for (const claims of [
      { exp: 'tomorrow' },
      { nbf: {} },
      { iat: [1] },
      { iss: 7 },
      { aud: 5 },
      { aud: [1] },
      { jti: 9 },
      { scope: 5 },
      { scope: [1, 2] },
      { scp: {} },
    ]) {
      const answer = await call(await signToken(claims));
      expect(answer.status, JSON.stringify(claims)).toBe(401);
      expect(answer.body.error).toBe('invalid_token');
    }
  });
});

describe('scopes', () => {
  const fetch = (token: string) => invoke(getCommands, { path: '/api/commands', token });

  it('answers 403 insufficient_scope naming the required scope', async () => {
    const answer = await fetch(await signToken({ scope: 'agent:results' }));
    expect(answer.status).toBe(403);
    expect(answer.body).toEqual({
      error: 'insufficient_scope',
      error_description: expect.stringContaining('agent:commands'),
      request_id: expect.any(String),
    });
    expect(answer.headers['www-authenticate']).toBe(
      'Bearer realm="biz-service", error="insufficient_scope", error_description="insufficient_scope", scope="agent:commands"',
    );
  });

  it('reads scope as a space-delimited string', async () => {
    expect((await fetch(await signToken({ scope: 'openid agent:commands' }))).status).toBe(200);
  });

  it('reads scope as a JSON array, as Spring Authorization Server issues it', async () => {
    expect((await fetch(await signToken({ scope: ['agent:commands'] }))).status).toBe(200);
  });

  it('reads scp when there is no scope', async () => {
    expect((await fetch(await signToken({ scope: undefined, scp: 'agent:commands' }, { omit: ['scope'] }))).status).toBe(200);
    expect((await fetch(await signToken({ scp: ['agent:commands'] }, { omit: ['scope'] }))).status).toBe(200);
  });

  it('matches scopes exactly, not by prefix or case', async () => {
    for (const scope of ['agent:command', 'agent:commands:read', 'AGENT:COMMANDS', 'agent:*']) {
      expect((await fetch(await signToken({ scope }))).status, scope).toBe(403);
    }
  });
});

describe('key rotation by kid', () => {
  it('uses the one JWT_SECRET_KEY for tokens with any kid, as Spring-issued HMAC tokens carry one', async () => {
    expect((await call(await signToken({}, { header: { kid: 'b2f1c7e0-0f0e-4c1a-9a57-3a2a1e0c9d11' } }))).status).toBe(200);
    expectInvalid(
      await call(await signToken({}, { header: { kid: 'x' }, secret: 'another-secret-0123456789abcdef0123456789' })),
      'invalid_signature',
    );
  });

  it('selects the secret by kid and serves tokens without kid with the first key', async () => {
    useTestRuntime({ JWT_SECRET_KEYS: `2026-11=${TEST_SECRET},2026-10=previous-secret-0123456789abcdef01234567` });
    expect((await call(await signToken({}, { header: { kid: '2026-11' } }))).status).toBe(200);
    expect(
      (await call(await signToken({}, { header: { kid: '2026-10' }, secret: 'previous-secret-0123456789abcdef01234567' }))).status,
    ).toBe(200);
    expect(await call(await signToken())).toMatchObject({ status: 200 });
    expectInvalid(await call(await signToken({}, { header: { kid: '2026-10' } })), 'invalid_signature');
    expectInvalid(await call(await signToken({}, { header: { kid: '../../etc/passwd' } })), 'invalid_signature');
  });
});

describe('/api/token-info', () => {
  it('shows the verified header, claims, scopes and seconds to expiry, never the secret', async () => {
    const answer = await invoke(tokenInfo, {
      path: '/api/token-info',
      token: await signToken({}, { header: { kid: 'k1' }, expiresIn: 120 }),
    });
    expect(answer.status).toBe(200); // one JWT_SECRET_KEY serves every kid
    useTestRuntime({ JWT_SECRET_KEYS: `k1=${TEST_SECRET}` });
    const ok = await invoke(tokenInfo, { path: '/api/token-info', token: await signToken({}, { header: { kid: 'k1' }, expiresIn: 120 }) });
    expect(ok.status).toBe(200);
    expect(ok.body.header).toEqual({ alg: 'HS256', typ: 'JWT', kid: 'k1' });
    expect(ok.body.claims.sub).toBe('agent-001');
    expect(ok.body.scopes).toEqual(['agent:commands', 'agent:results']);
    expect(ok.body.expires_in).toBeGreaterThan(100);
    expect(ok.body.expires_in).toBeLessThanOrEqual(120);
    expect(ok.raw).not.toContain(TEST_SECRET);
  });
});

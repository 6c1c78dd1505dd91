/**
 * Certificate-bound tokens (RFC 8705): a token with `cnf: {"x5t#S256": ...}` is only accepted on
 * a request made with that client certificate. Through the handlers with API Gateway's event
 * field, and through the local server in mTLS mode with real TLS client certificates. The CA and
 * the certificates are made with openssl when the file runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import { certificateThumbprint } from '../../lib/auth/binding.ts';
import { loadConfig } from '../../lib/config.ts';
import { loadLocalSettings } from '../../dev/local-config.ts';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { httpEvent, lambdaContext } from '../helpers/lambda.ts';
import { memoryTestBackend, useTestRuntime } from '../helpers/runtime.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

const dir = mkdtempSync(join(tmpdir(), 'biz-mtls-'));
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

function keyAndCsr(name: string, subject: string) {
  openssl(
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  );
}

function signedBy(ca: string, name: string, subject: string, extensions: string) {
  keyAndCsr(name, subject);
  writeFileSync(file(`${name}.ext`), extensions);
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}.pem`,
    '-extfile',
    `${name}.ext`,
  );
}

function selfSignedCa(name: string, subject: string) {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    subject,
  );
}

const CLIENT = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n';
let pem: Record<'agent1' | 'agent2' | 'rogue', string>;

beforeAll(() => {
  selfSignedCa('ca', '/CN=biz-service test CA');
  selfSignedCa('rogue-ca', '/CN=someone else');
  signedBy('ca', 'server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  signedBy('ca', 'agent1', '/CN=agent-001', CLIENT);
  signedBy('ca', 'agent2', '/CN=agent-002', CLIENT);
  signedBy('rogue-ca', 'rogue', '/CN=agent-001', CLIENT);
  pem = {
    agent1: readFileSync(file('agent1.pem'), 'utf8'),
    agent2: readFileSync(file('agent2.pem'), 'utf8'),
    rogue: readFileSync(file('rogue.pem'), 'utf8'),
  };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** RFC 8705 3.1, computed by openssl: base64url(SHA-256(DER)). */
function opensslThumbprint(name: string): string {
  const der = openssl('x509', '-in', `${name}.pem`, '-outform', 'DER');
  return execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der }).toString('base64url');
}

const bound = (name: 'agent1' | 'agent2' | 'rogue', claims: Record<string, unknown> = {}) =>
  signToken({ cnf: { 'x5t#S256': certificateThumbprint(pem[name]) }, ...claims });

/** Calls a handler with the client certificate where API Gateway's mTLS custom domain puts it. */
async function call(token: string, clientCertPem?: string, handler = whoami, path = '/api/whoami') {
  const event = httpEvent({ path, token });
  if (clientCertPem !== undefined) {
    Object.assign(event.requestContext, {
      authentication: {
        clientCert: {
          clientCertPem,
          serialNumber: '01',
          subjectDN: 'CN=agent-001',
          issuerDN: 'CN=biz-service test CA',
          validity: { notBefore: '', notAfter: '' },
        },
      },
    });
  }
  const result = (await handler(event, lambdaContext())) as { statusCode: number; body: string; headers: Record<string, string> };
  return { status: result.statusCode, body: JSON.parse(result.body) as Record<string, unknown>, headers: result.headers };
}

let calls: string[];

beforeEach(() => {
  calls = [];
  const count = <T extends object>(target: T, label: string): T =>
    new Proxy(target, {
      get(object, property) {
        const value = Reflect.get(object, property);
        return typeof value === 'function'
          ? (...args: unknown[]) => {
              calls.push(`${label}.${String(property)}`);
              return (value as (...a: unknown[]) => unknown).apply(object, args);
            }
          : value;
      },
    });
  const stores = memoryTestBackend();
  useTestRuntime(
    {},
    { stores: { ...stores, commands: count(stores.commands, 'commands'), revocations: count(stores.revocations, 'revocations') } },
  );
});

describe('the thumbprint', () => {
  it('is base64url SHA-256 of the DER certificate, as openssl computes it', () => {
    for (const name of ['agent1', 'agent2', 'rogue'] as const) expect(certificateThumbprint(pem[name])).toBe(opensslThumbprint(name));
  });
});

describe('a certificate-bound token through the handlers', () => {
  it('is accepted with its certificate', async () => {
    const answer = await call(await bound('agent1'), pem.agent1);
    expect(answer.status).toBe(200);
    expect(answer.body.agent_id).toBe('agent-001');
  });

  it('is refused with another certificate, even one with the same subject from another CA, without touching the store', async () => {
    for (const other of [pem.agent2, pem.rogue]) {
      const answer = await call(await bound('agent1'), other);
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: 'invalid_token', error_description: 'certificate_mismatch', request_id: expect.any(String) });
      expect(answer.headers['WWW-Authenticate']).toBe(
        'Bearer realm="biz-service", error="invalid_token", error_description="certificate_mismatch"',
      );
    }
    expect(calls).toEqual([]);
  });

  it('is refused without a certificate, or with one that cannot be read', async () => {
    for (const cert of [undefined, '', 'not a certificate', pem.agent1.replace(/[A-Za-z]{8}\n/, 'AAAAAAAA\n')]) {
      const answer = await call(await bound('agent1'), cert);
      expect(answer.status).toBe(401);
      expect(answer.body.error_description).toBe('certificate_mismatch');
    }
    expect(calls).toEqual([]);
  });

  it('is checked on every request: the cached verification of a token never carries its binding over', async () => {
    const token = await bound('agent1');
    expect((await call(token, pem.agent1)).status).toBe(200);
    expect((await call(token, pem.agent2)).status).toBe(401);
    expect((await call(token)).status).toBe(401);
    expect((await call(token, pem.agent1)).status).toBe(200);
  });

  it('refuses a cnf of the wrong shape, and a confirmation method it cannot check', async () => {
    for (const [cnf, reason] of [
      ['x5t', 'malformed_token'],
      [['x5t#S256'], 'malformed_token'],
      [null, 'malformed_token'],
      [{ 'x5t#S256': 42 }, 'malformed_token'],
      // DPoP-bound (RFC 9449): good only with the DPoP scheme and a proof (test/handlers/dpop.test.ts).
      [{ jkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' }, 'dpop_bound_token'],
      [{ jkt: 42 }, 'malformed_token'],
      [{ 'x5t#': 'abc' }, 'certificate_mismatch'],
      [{}, 'certificate_mismatch'],
      [{ 'x5t#S256': certificateThumbprint(pem.agent1).toUpperCase() }, 'certificate_mismatch'],
      [{ 'x5t#S256': `${certificateThumbprint(pem.agent1)}=` }, 'certificate_mismatch'],
    ] as const) {
      const answer = await call(await signToken({ cnf }), pem.agent1);
      expect(answer.status, JSON.stringify(cnf)).toBe(401);
      expect(answer.body.error_description, JSON.stringify(cnf)).toBe(reason);
    }
    expect(calls).toEqual([]);
  });

  it('keeps its scopes: a bound token without agent:commands still gets 403', async () => {
    const answer = await call(await bound('agent1', { scope: 'agent:results' }), pem.agent1, getCommands, '/api/commands');
    expect(answer.status).toBe(403);
  });
});

describe('REQUIRE_BOUND_TOKENS', () => {
  it('is off by default: a token without cnf is accepted, with or without a certificate', async () => {
    expect((await call(await signToken())).status).toBe(200);
    expect((await call(await signToken(), pem.agent1)).status).toBe(200);
  });

  it('when on, refuses tokens without cnf (missing_claim) and still accepts bound tokens with their certificate', async () => {
    useTestRuntime({ REQUIRE_BOUND_TOKENS: 'true' });
    const unbound = await call(await signToken(), pem.agent1);
    expect(unbound.status).toBe(401);
    expect(unbound.body.error_description).toBe('missing_claim');
    expect((await call(await bound('agent1'), pem.agent1)).status).toBe(200);
    expect((await call(await bound('agent1'), pem.agent2)).status).toBe(401);
  });

  it('is read as a boolean, naming the variable when it is not one', () => {
    expect(() => loadConfig({ REQUIRE_BOUND_TOKENS: 'sometimes' })).toThrow(/^REQUIRE_BOUND_TOKENS:/);
  });
});

describe('the local server in mTLS mode', () => {
  let server: LocalServer;

  beforeAll(async () => {
    server = await startServer({
      port: 0,
      env: { ...TEST_ENV, TLS_CERT_FILE: file('server.pem'), TLS_KEY_FILE: file('server.key'), MTLS_CA_FILE: file('ca.pem') },
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  /** One HTTPS request with a client certificate (or none). */
  function request(path: string, token: string, client?: 'agent1' | 'agent2' | 'rogue'): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        `${server.url}${path}`,
        {
          ca: readFileSync(file('ca.pem')),
          headers: { authorization: `Bearer ${token}` },
          agent: false,
          ...(client === undefined ? {} : { cert: readFileSync(file(`${client}.pem`)), key: readFileSync(file(`${client}.key`)) }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('serves HTTPS', () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('accepts a bound token over a connection with its certificate', async () => {
    const answer = await request('/api/whoami', await bound('agent1'), 'agent1');
    expect(answer).toEqual({ status: 200, body: expect.objectContaining({ agent_id: 'agent-001' }) });
  });

  it('refuses a bound token over a connection with another certificate of the same CA', async () => {
    const answer = await request('/api/whoami', await bound('agent1'), 'agent2');
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ error: 'invalid_token', error_description: 'certificate_mismatch', request_id: expect.any(String) });
  });

  it('accepts an unbound token from any client with a valid certificate', async () => {
    expect((await request('/api/whoami', await signToken(), 'agent2')).status).toBe(200);
  });

  it('refuses the handshake without a client certificate, or with one from another CA', async () => {
    await expect(request('/api/whoami', await bound('agent1'))).rejects.toThrow();
    await expect(request('/api/whoami', await bound('rogue'), 'rogue')).rejects.toThrow();
  });

  it('refuses TLS settings that do not go together, naming the variable', () => {
    expect(() => loadLocalSettings({ TLS_CERT_FILE: file('server.pem') })).toThrow(/^TLS_KEY_FILE:/);
    expect(() => loadLocalSettings({ MTLS_CA_FILE: file('ca.pem') })).toThrow(/^MTLS_CA_FILE:/);
  });
});

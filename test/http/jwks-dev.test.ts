/**
 * The walkthrough of docs/tokens.md, in RS256 and ES256: npm run token makes a local key and its JWKS, the
 * JWKS is served on loopback, the local server verifies from it, and tokens signed with --key work.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, privateKeyFile, publicJwk, serveJwks } from '../../dev/token.ts';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { TEST_ENV } from '../helpers/tokens.ts';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jwks-dev-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('npm run token with a local private key', () => {
  it('makes a key file readable by its owner only, prints its JWKS, and reuses the key next time', async () => {
    const file = join(dir, 'made.pem');
    const first = JSON.parse((await run('node', ['dev/token.ts', '--jwks', file])).stdout) as { keys: Record<string, unknown>[] };
    expect(first.keys).toHaveLength(1);
    expect(first.keys[0]).toMatchObject({ kty: 'RSA', use: 'sig', kid: expect.any(String) });
    expect(first.keys[0]?.d).toBeUndefined();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const again = JSON.parse((await run('node', ['dev/token.ts', '--jwks', file])).stdout) as typeof first;
    expect(again).toEqual(first);
  });

  it.each([
    ['RS256', 'RS256'],
    ['ES256', 'ES256'],
  ])('signs %s tokens that the local server accepts through JWT_JWKS_URL', async (keyAlg, alg) => {
    const key = privateKeyFile(join(dir, `${keyAlg}.pem`), { create: true, alg: keyAlg });
    const jwks = await serveJwks({ keys: [await publicJwk(key)] }, 0);
    let server: LocalServer | undefined;
    try {
      const env = { ...TEST_ENV, JWT_SECRET_KEY: '', JWT_JWKS_URL: jwks.url, JWT_ALGORITHMS: alg, BIZ_SERVICE_PORT: '0' };
      server = await startServer({ env });
      const token = await mintToken({ sub: 'agent-007', scope: 'agent:commands', ttl: 300, key }, env);
      const answer = await fetch(`${server.url}/api/whoami`, { headers: { authorization: `Bearer ${token}` } });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({ agent_id: 'agent-007', scopes: ['agent:commands'] });
      // Without --key there is no secret to sign with in this mode: a clear error, no token.
      await expect(mintToken({ sub: 'agent-007', scope: 'agent:commands', ttl: 300 }, env)).rejects.toThrow(/^JWT_SECRET_KEY: /);
    } finally {
      await server?.close();
      jwks.close();
    }
  });
});

/**
 * The reference agent with --dpop-key against the real local server over real HTTP, on both
 * stores, each as the docs show it (docs/tokens.md#dpop): `npm run token -- --dpop-key FILE` mints
 * tokens bound to the key in FILE, and `npm run agent -- --dpop-key FILE` sends each request
 * with the DPoP scheme and a fresh proof by that key. Both tools run as child processes. And a
 * proof replayed across two server processes (`node dev/server.ts`, each with its own bridge and
 * Upstash client) sharing one Redis and one PUBLIC_BASE_URL is refused by the second.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dpopKeyFile, dpopProof, generateDpopKey } from '../../dev/dpop.ts';
import { freePort } from '../../dev/own-redis.ts';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { deletePrefix, HAS_REDIS, REDIS_HOST, REDIS_PORT, tcpClient, uniquePrefix } from '../helpers/redis.ts';
import { type StoreTarget, storeTargets } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';
import { jsonCall } from '../helpers/http-json.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), 'biz-dpop-'));
const keyFile = path.join(dir, 'agent-001.dpop.pem');
const env = { PATH: process.env.PATH ?? '', POWERTOOLS_LOG_LEVEL: 'SILENT', ...TEST_ENV };

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function tool(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [file, ...args], { cwd: ROOT, env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const tokenCommand = `${JSON.stringify(process.execPath)} dev/token.ts --sub agent-001 --dpop-key ${JSON.stringify(keyFile)}`;

describe('npm run token -- --dpop-key / --dpop-jkt', () => {
  it('binds the token to the key in the file (made when missing), or to the thumbprint given', async () => {
    const minted = await tool('dev/token.ts', ['--sub', 'agent-001', '--dpop-key', keyFile]);
    expect(minted.code, minted.stderr).toBe(0);
    const key = await dpopKeyFile(keyFile);
    const claims = JSON.parse(Buffer.from(minted.stdout.trim().split('.')[1] ?? '', 'base64url').toString()) as { cnf?: unknown };
    expect(claims.cnf).toEqual({ jkt: key.jkt });

    const byJkt = await tool('dev/token.ts', ['--sub', 'agent-001', '--dpop-jkt', key.jkt]);
    expect(JSON.parse(Buffer.from(byJkt.stdout.trim().split('.')[1] ?? '', 'base64url').toString()).cnf).toEqual({ jkt: key.jkt });
    const bad = await tool('dev/token.ts', ['--sub', 'agent-001', '--dpop-jkt', 'not-a-thumbprint']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--dpop-jkt');
  });

  it('the agent refuses --dpop-key with --push (the push channel takes no proof)', async () => {
    const answer = await tool('dev/agent.ts', ['--base-url', 'http://127.0.0.1:1', '--token', 'x', '--push', '--dpop-key', keyFile]);
    expect(answer.code).toBe(2);
    expect(answer.stderr).toContain('--dpop-key does not go with --push');
  });
});

describe.each(storeTargets('agent-dpop'))(
  'the agent with --dpop-key against the local server on the $name store',
  (target: StoreTarget) => {
    let server: LocalServer | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    const api = (method: string, url: string, token: string, body?: unknown) => jsonCall(server?.url ?? '', method, url, token, body);

    it('fetches, runs and reports with a proof on every request; without the key the bound token is refused', async () => {
      server = await startServer({ env: { ...TEST_ENV, ...target.env() }, port: 0 });
      const operator = await signToken({ sub: 'ops', scope: 'admin:commands' });
      const created = await api('POST', '/api/agents/agent-001/commands', operator, { command: 'echo', args: { bound: true } });
      expect(created.status).toBe(201);

      const withKey = await tool('dev/agent.ts', [
        '--base-url',
        server.url,
        '--once',
        '--dpop-key',
        keyFile,
        '--token-command',
        tokenCommand,
      ]);

      expect(withKey.code, withKey.stderr).toBe(0);
      expect(withKey.stdout).toContain('1 run, 1 accepted');
      const read = await api('GET', `/api/agents/agent-001/commands/${created.body.command_id as string}`, operator);
      expect(read.body).toMatchObject({ status: 'completed', result: { bound: true } });

      // The same bound tokens as Bearer, without proofs: refused, and the agent stops.
      const withoutKey = await tool('dev/agent.ts', ['--base-url', server.url, '--once', '--token-command', tokenCommand]);
      expect(withoutKey.code).toBe(1);
      expect(withoutKey.stderr).toMatch(/401 .*dpop_bound_token/);
    });
  },
);

describe.skipIf(!HAS_REDIS)('a proof replayed to another server process sharing the Redis', () => {
  const prefix = uniquePrefix('dpop-processes');
  const servers: ChildProcess[] = [];
  afterAll(async () => {
    for (const server of servers) if (server.pid !== undefined && server.exitCode === null) process.kill(server.pid, 'SIGTERM');
    const redis = await tcpClient();
    await deletePrefix(redis, prefix);
    redis.destroy();
  });

  /** `node dev/server.ts` on Redis with the one prefix and public URL; resolves with its URL once /health answers. */
  async function serverProcess(): Promise<string> {
    const port = await freePort();
    const server = spawn(process.execPath, ['dev/server.ts'], {
      cwd: ROOT,
      env: {
        ...env,
        USE_REDIS: 'true',
        REDIS_HOST,
        REDIS_PORT: String(REDIS_PORT),
        REDIS_KEY_PREFIX: prefix,
        BIZ_SERVICE_PORT: String(port),
        PUBLIC_BASE_URL: 'https://agents.example.com',
      },
      stdio: 'ignore',
    });
    servers.push(server);
    const url = `http://127.0.0.1:${port}`;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      if (server.exitCode !== null) throw new Error('the server process exited');
      if (
        await fetch(`${url}/health`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return url;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('the server process did not answer /health');
  }

  it('is refused by the second process once the first took it, and each process takes a fresh one', async () => {
    const [first, second] = await Promise.all([serverProcess(), serverProcess()]);
    const key = await generateDpopKey();
    const token = await signToken({ cnf: { jkt: key.jkt } });
    const proofFor = () => dpopProof(key, { htm: 'GET', htu: 'https://agents.example.com/api/commands', accessToken: token });
    const poll = async (url: string, proof: string) => {
      const response = await fetch(`${url}/api/commands`, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
      return { status: response.status, body: (await response.json()) as { error_description?: string } };
    };

    const once = await proofFor();
    expect((await poll(first, once)).status).toBe(200);
    const replayed = await poll(second, once);
    expect(replayed.status).toBe(401);
    expect(replayed.body.error_description).toBe('proof_replayed');
    expect((await poll(first, once)).body.error_description).toBe('proof_replayed');
    expect((await poll(second, await proofFor())).status).toBe(200);
  }, 60_000);
});

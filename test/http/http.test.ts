/**
 * The local server over real HTTP: the walkthrough, header handling as API Gateway
 * does it, and the access log.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { REDIS_HOST, REDIS_PORT } from '../helpers/redis.ts';
import { storeTargets } from '../helpers/targets.ts';
import { signToken, TEST_ENV, TEST_SECRET } from '../helpers/tokens.ts';

const run = promisify(execFile);
let server: LocalServer;

// USE_REDIS=true without Upstash variables: the server starts the local bridge in front of Redis.
const stores = storeTargets('http').map((target) => ({
  name: target.name,
  env:
    target.name === 'redis'
      ? { USE_REDIS: 'true', REDIS_HOST, REDIS_PORT: String(REDIS_PORT), REDIS_KEY_PREFIX: `${target.prefix}server:` }
      : {},
}));

const request = (path: string, init: RequestInit & { token?: string } = {}) => {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  if (typeof init.body === 'string' && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return fetch(`${server.url}${path}`, { ...init, headers });
};

describe.each(stores)('the local server on the $name store', ({ env }) => {
  beforeAll(async () => {
    server = await startServer({ env: { ...TEST_ENV, ...env }, port: 0 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('runs the walkthrough: enqueue as operator, fetch as agent, post a result, read it back', async () => {
    const operator = await signToken({ sub: 'ops', scope: 'admin:commands' });
    const agent = await signToken({ sub: 'agent-http', scope: 'agent:commands agent:results' });

    const created = await request('/api/agents/agent-http/commands', {
      method: 'POST',
      token: operator,
      body: JSON.stringify({ command: 'restart', args: { service: 'nginx' } }),
    });
    expect(created.status).toBe(201);
    const { command_id } = (await created.json()) as { command_id: string };

    const fetched = await request('/api/commands', { token: agent });
    expect(fetched.status).toBe(200);
    expect(((await fetched.json()) as { commands: { command_id: string }[] }).commands.map((c) => c.command_id)).toEqual([command_id]);

    const posted = await request('/api/results', {
      method: 'POST',
      token: agent,
      body: JSON.stringify({ command_id, status: 'completed', result: { exit_code: 0 } }),
    });
    expect(posted.status).toBe(200);

    const shown = await request(`/api/agents/agent-http/commands/${command_id}`, { token: operator });
    expect(await shown.json()).toMatchObject({ status: 'completed', result: { exit_code: 0 } });
  });

  it('serves /health and answers unknown routes with JSON 404 and wrong methods with 405', async () => {
    expect(await (await request('/health')).json()).toEqual({ status: 'ok' });
    const missing = await request('/nowhere');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/json');
    const wrong = await request('/api/results');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('sends RFC 6750 challenges over HTTP', async () => {
    const none = await request('/api/whoami');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="biz-service"');
    const bad = await request('/api/whoami', { token: 'not.a.token' });
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('rejects two Authorization headers', async () => {
    const token = await signToken();
    const { status, body } = await rawRequest('/api/whoami', [
      ['Authorization', `Bearer ${token}`],
      ['Authorization', `Bearer ${token}`],
    ]);
    expect(status).toBe(401);
    expect(JSON.parse(body)).toEqual({ error: 'invalid_token', error_description: 'malformed_token', request_id: expect.any(String) });
  });

  it('answers a request target that is no URL with a JSON 400, never a 500', async () => {
    for (const target of ['http://[', 'http://a:b@c:99999/api/whoami']) {
      const { status, body } = await rawRequest(target, []);
      expect(status, target).toBe(400);
      expect(JSON.parse(body)).toEqual({
        error: 'invalid_request',
        error_description: 'the request target is not a valid URL',
        request_id: expect.any(String),
      });
    }
  });

  it('answers a body over 1 MB with 413 that is never cached', async () => {
    const answer = await request('/api/results', { method: 'POST', token: await signToken(), body: 'x'.repeat(1_100_000) });
    expect(answer.status).toBe(413);
    expect(answer.headers.get('cache-control')).toBe('no-store');
  });

  it('passes a JSON body that is not UTF-8 on as its bytes, so it is refused rather than altered', async () => {
    const bytes = Buffer.from('{"command_id":"c1","status":"completed","result":"@"}');
    bytes[bytes.indexOf('@')] = 0xc3;
    const answer = await request('/api/results', {
      method: 'POST',
      token: await signToken(),
      body: bytes,
      headers: { 'content-type': 'application/json' },
    });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error_description: string }).error_description).toBe('the body is not valid UTF-8');
  });

  it('does not accept a token in the query string', async () => {
    const token = await signToken();
    const answer = await request(`/api/whoami?access_token=${token}`);
    expect(answer.status).toBe(401);
    expect(((await answer.json()) as { error: string }).error).toBe('missing_token');
  });

  it('decodes path parameters as API Gateway does', async () => {
    const operator = await signToken({ sub: 'ops', scope: 'admin:commands' });
    const created = await request('/api/agents/agent%40site/commands', { method: 'POST', token: operator, body: '{"command":"x"}' });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { agent_id: string }).agent_id).toBe('agent@site');
  });
});

/** One request with repeated headers, which fetch() would merge itself. */
async function rawRequest(path: string, headers: [string, string][]): Promise<{ status: number; body: string }> {
  const net = await import('node:net');
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      const lines = [`GET ${path} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close', ...headers.map(([k, v]) => `${k}: ${v}`), '', ''];
      socket.write(lines.join('\r\n'));
    });
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString();
    });
    socket.on('end', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body });
    });
    socket.on('error', reject);
  });
}

describe('npm start and npm run token, as a developer runs them', () => {
  it('prints a token that the running service accepts, and logs one line per request without the token', async () => {
    const env = { ...process.env, ...TEST_ENV, BIZ_SERVICE_PORT: '0', POWERTOOLS_LOG_LEVEL: 'INFO' };
    const { stdout } = await run('node', ['dev/token.ts', '--sub', 'agent-cli', '--scope', 'agent:commands'], { env });
    const token = stdout.trim();
    expect(token.split('.')).toHaveLength(3);

    const { spawn } = await import('node:child_process');
    const child = spawn('node', ['dev/server.ts'], { env });
    try {
      let output = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const found = /listening on (http:\/\/[^\s]+)/.exec(output);
          if (found?.[1]) resolve(found[1]);
        });
        child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)));
      });
      const answer = await fetch(`${url}/api/whoami`, { headers: { authorization: `Bearer ${token}` } });
      expect(await answer.json()).toMatchObject({ agent_id: 'agent-cli', scopes: ['agent:commands'] });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const lines = output
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const access = lines.filter((line) => line.message === 'request');
      expect(access).toHaveLength(1);
      expect(access[0]).toMatchObject({
        route: 'GET /api/whoami',
        status: 200,
        agent_id: 'agent-cli',
        request_id: answer.headers.get('x-request-id'),
      });
      expect(output).not.toContain(token);
      expect(output).not.toContain(token.split('.')[2]);
      expect(output).not.toContain(TEST_SECRET);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('refuses to start on a bad setting, naming the variable', async () => {
    const env = { ...process.env, BIZ_SERVICE_PORT: 'five-thousand' };
    await expect(run('node', ['dev/server.ts'], { env })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('BIZ_SERVICE_PORT'),
    });
  });
});

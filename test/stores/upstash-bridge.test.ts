/**
 * The local Upstash bridge: the REST protocol as @upstash/redis speaks it (raw HTTP, so the
 * wire format itself is checked), and the real client on top of it, against a real Redis.
 */
import net from 'node:net';
import { Redis } from '@upstash/redis';
import { beforeAll, describe, expect, it } from 'vitest';
import { startUpstashBridge, type UpstashBridge } from '../../dev/upstash-bridge.ts';
import { startOwnRedis } from '../../dev/own-redis.ts';
import { HAS_REDIS, REDIS_HOST, REDIS_PORT, type TcpClient } from '../helpers/redis.ts';
import { redisTarget } from '../helpers/targets.ts';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

describe('the Upstash bridge refuses', () => {
  it('to listen on anything but loopback', async () => {
    await expect(startUpstashBridge({ redisHost: REDIS_HOST, redisPort: REDIS_PORT, host: '0.0.0.0' })).rejects.toThrow(/loopback only/);
  });
});

describe.skipIf(!HAS_REDIS)('the Upstash bridge on a real Redis', () => {
  const target = redisTarget('bridge');
  const { prefix } = target;
  let bridge: UpstashBridge;
  let redis: TcpClient;

  beforeAll(() => {
    ({ bridge, redis } = target);
  });

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${bridge.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${bridge.token}`, 'Upstash-Encoding': 'base64', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as unknown };
  };

  describe('over raw HTTP', () => {
    it('answers 401 Unauthorized without the right bearer token', async () => {
      const none = await post('/', ['ping'], { Authorization: '' });
      const wrong = await post('/', ['ping'], { Authorization: `Bearer ${bridge.token}x` });

      expect([none.status, none.body]).toEqual([401, { error: 'Unauthorized' }]);
      expect([wrong.status, wrong.body]).toEqual([401, { error: 'Unauthorized' }]);
    });

    it('runs one command at / and base64-encodes strings but not "OK", integers or null', async () => {
      const key = `${prefix}plain`;

      const set = await post('/', ['set', key, 'héllo']);
      const get = await post('/', ['get', key]);
      const len = await post('/', ['strlen', key]);
      const missing = await post('/', ['get', `${prefix}missing`]);

      expect(set).toMatchObject({ status: 200, body: { result: 'OK' } });
      expect(get).toMatchObject({ status: 200, body: { result: b64('héllo') } });
      expect(len.body).toEqual({ result: 6 });
      expect(missing.body).toEqual({ result: null });
    });

    it('sends exact bytes, even ones that are not UTF-8, and stored "OK" values round-trip', async () => {
      await redis.set(`${prefix}bin`, Buffer.from([0xff, 0x00, 0xfe, 0x41]));
      await redis.set(`${prefix}ok`, 'OK');

      const bin = await post('/', ['get', `${prefix}bin`]);
      const ok = await post('/', ['get', `${prefix}ok`]);

      expect(Buffer.from((bin.body as { result: string }).result, 'base64')).toEqual(Buffer.from([0xff, 0x00, 0xfe, 0x41]));
      // Only a status reply stays a bare "OK"; a stored value "OK" is data and goes base64.
      expect(ok.body).toEqual({ result: b64('OK') });
    });

    it('encodes arrays element by element, nested ones too', async () => {
      await redis.set(`${prefix}a`, '1');

      const mget = await post('/', ['mget', `${prefix}a`, `${prefix}nope`]);
      const nested = await post('/', ['eval', 'return {1, "x", {2, "y"}}', 0]);

      expect(mget.body).toEqual({ result: [b64('1'), null] });
      expect(nested.body).toEqual({ result: [1, b64('x'), [2, b64('y')]] });
    });

    it('sends plain strings when the client does not ask for base64', async () => {
      await redis.set(`${prefix}p`, 'plain');

      const answer = await post('/', ['get', `${prefix}p`], { 'Upstash-Encoding': '' });

      expect(answer.body).toEqual({ result: 'plain' });
    });

    it('turns numbers in commands into strings', async () => {
      const answer = await post('/', ['set', `${prefix}n`, 42, 'ex', 60]);

      expect(answer.body).toEqual({ result: 'OK' });
      expect(await redis.get(`${prefix}n`)).toBe('42');
      expect(await redis.ttl(`${prefix}n`)).toBeGreaterThan(50);
    });

    it('answers a command error with 400 {"error"}', async () => {
      const answer = await post('/', ['nosuchcommand', 'x']);

      expect(answer.status).toBe(400);
      expect((answer.body as { error: string }).error).toMatch(/^ERR unknown command/);
    });

    it('refuses commands that would tie up the shared connection', async () => {
      const answer = await post('/', ['select', 1]);

      expect(answer.status).toBe(400);
      expect((answer.body as { error: string }).error).toMatch(/not supported/);
    });

    it('runs a pipeline in order with an answer (or error) per entry', async () => {
      const key = `${prefix}pipe`;

      const answer = await post('/pipeline', [
        ['set', key, 'a'],
        ['incr', key],
        ['append', key, 'b'],
        ['get', key],
      ]);

      expect(answer.status).toBe(200);
      expect(answer.body).toEqual([
        { result: 'OK' },
        { error: 'ERR value is not an integer or out of range' },
        { result: 2 },
        { result: b64('ab') },
      ]);
    });

    it('runs /multi-exec as a transaction, and 400 when Redis aborts it', async () => {
      const key = `${prefix}tx`;

      const ok = await post('/multi-exec', [
        ['set', key, '1'],
        ['incr', key],
        ['get', key],
      ]);
      const aborted = await post('/multi-exec', [['set', key, '9'], ['nosuchcommand']]);

      expect(ok).toMatchObject({ status: 200, body: [{ result: 'OK' }, { result: 2 }, { result: b64('2') }] });
      expect(aborted.status).toBe(400);
      expect((aborted.body as { error: string }).error).toMatch(/unknown command/);
      expect(await redis.get(key)).toBe('2');
    });

    it('passes EVAL, SCRIPT LOAD and EVALSHA through', async () => {
      const script = 'return redis.call("INCRBY", KEYS[1], ARGV[1])';

      const load = await post('/', ['script', 'load', script]);
      const sha = Buffer.from((load.body as { result: string }).result, 'base64').toString();
      const byEval = await post('/', ['eval', script, 1, `${prefix}lua`, 5]);
      const bySha = await post('/', ['evalsha', sha, 1, `${prefix}lua`, 2]);

      expect(sha).toMatch(/^[0-9a-f]{40}$/);
      expect(byEval.body).toEqual({ result: 5 });
      expect(bySha.body).toEqual({ result: 7 });
    });

    it('echoes the upstash-sync-token header', async () => {
      const answer = await post('/', ['ping'], { 'upstash-sync-token': 'sync-123' });

      expect(answer.headers.get('upstash-sync-token')).toBe('sync-123');
    });

    it('answers 400 to a body that is not JSON and 404 to an unknown path', async () => {
      expect((await post('/', '{nope')).status).toBe(400);
      expect((await post('/get/x', ['get', 'x'])).status).toBe(404);
    });

    it('counts the requests it serves', async () => {
      const before = bridge.requests;

      await post('/', ['ping']);
      await post('/pipeline', [['ping'], ['ping']]);

      expect(bridge.requests - before).toBe(2);
    });
  });

  describe('with the real @upstash/redis client and its defaults', () => {
    it('round-trips values, hashes, pipelines, transactions and scripts', async () => {
      const client = new Redis({ url: bridge.url, token: bridge.token, enableTelemetry: false });
      const key = `${prefix}client`;

      await client.set(key, { a: 1, b: ['x'] });
      const value = await client.get(key);
      await client.hset(`${key}:h`, { f: 'v', n: 3 });
      const hash = await client.hgetall(`${key}:h`);
      const pipe = client.pipeline();
      pipe.incr(`${key}:c`);
      pipe.incr(`${key}:c`);
      const piped = await pipe.exec();
      const tx = client.multi();
      tx.set(`${key}:t`, 'v');
      tx.get(`${key}:t`);
      const transacted = await tx.exec();
      const script = client.createScript<number>('return #ARGV');
      const scripted = await script.exec([], ['a', 'b', 'c']);

      expect(value).toEqual({ a: 1, b: ['x'] });
      expect(hash).toEqual({ f: 'v', n: 3 });
      expect(piped).toEqual([1, 2]);
      expect(transacted).toEqual(['OK', 'v']);
      expect(scripted).toBe(3);
    });
  });

  describe('faults', () => {
    it('answers 503 at once when Redis cannot be reached', async () => {
      const dead = await startUpstashBridge({ redisHost: '127.0.0.1', redisPort: 1 });
      try {
        const started = performance.now();
        const response = await fetch(`${dead.url}/`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${dead.token}`, 'Content-Type': 'application/json' },
          body: '["ping"]',
        });
        const elapsed = performance.now() - started;

        expect(response.status).toBe(503);
        expect(((await response.json()) as { error: string }).error).toMatch(/unavailable/);
        expect(elapsed).toBeLessThan(500);
      } finally {
        await dead.close();
      }
    });

    it('hangs each request for the injected delay', async () => {
      bridge.setDelay(300);
      try {
        const started = performance.now();
        const answer = await post('/', ['ping']);

        expect(answer.status).toBe(200);
        expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      } finally {
        bridge.setDelay(0);
      }
    });
  });
});

describe.skipIf(!HAS_REDIS)('the Upstash bridge protects itself and warns', () => {
  it('answers a wrong token with 401 before reading the body, and closes the connection', async () => {
    const bridge = await startUpstashBridge({ redisHost: REDIS_HOST, redisPort: REDIS_PORT });
    try {
      const url = new URL(bridge.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(Number(url.port), url.hostname, () => {
          // Announces 10 MB and sends none of it: only an answer that needs no body can come back.
          socket.write(`POST / HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer wrong\r\nContent-Length: 10000000\r\n\r\n`);
        });
        let data = '';
        socket.on('data', (chunk) => {
          data += chunk.toString();
        });
        socket.on('close', () => resolve(data));
        socket.on('error', reject);
        setTimeout(() => reject(new Error(`no answer without the body: ${data}`)), 5_000).unref();
      });
      expect(answer).toMatch(/^HTTP\/1\.1 401/);
      expect(answer).toContain('{"error":"Unauthorized"}');
    } finally {
      await bridge.close();
    }
  });

  it('warns at start when the Redis it fronts evicts keys (revocations would silently go)', async () => {
    const evicting = await startOwnRedis(['--maxmemory', '64mb', '--maxmemory-policy', 'volatile-lru']);
    const said: string[] = [];
    try {
      const bridge = await startUpstashBridge({ redisHost: '127.0.0.1', redisPort: evicting.port, warn: (line) => said.push(line) });
      await bridge.close();
      expect(bridge.warnings).toHaveLength(1);
      expect(said[0]).toContain('maxmemory-policy=volatile-lru');
      expect(said[0]).toContain('noeviction');
    } finally {
      await evicting.stop();
    }
  });

  it('says nothing about a Redis that does not evict', async () => {
    const bridge = await startUpstashBridge({ redisHost: REDIS_HOST, redisPort: REDIS_PORT, warn: () => {} });
    await bridge.close();
    expect(bridge.warnings).toEqual([]);
  });
});

describe('the Lambda code', () => {
  it('never imports the bridge or the TCP Redis client', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const files = (await readdir('functions')).map((f) => `functions/${f}`);
    for (const entry of await readdir('lib', { recursive: true })) {
      if (entry.endsWith('.ts') && !entry.startsWith('local')) files.push(`lib/${entry}`);
    }
    const offenders: string[] = [];
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      if (/upstash-bridge|from '(redis|@redis\/[a-z-]+)'/.test(text)) offenders.push(file);
    }

    expect(files).toContain('lib/store/upstash.ts');
    expect(offenders).toEqual([]);
  });
});

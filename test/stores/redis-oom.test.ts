/**
 * A Redis that refuses writes but still answers (out of memory under noeviction; a read-only
 * replica after a failover answers the same way), on a redis-server of the test's own:
 * - a request whose action would be refused a write fails with 503 and loses nothing (a script
 *   whose first write Redis allows, ENQUEUE's DEL, may finish: Redis lets a script that has
 *   written go on, so the enqueue is stored whole);
 * - the rate limit fails open for the requests whose action only reads, and says so once per
 *   window, not once per request;
 * - a revoked token is still refused (reads still work);
 * - a DPoP-bound token is refused (503) even for a read: its proof cannot be remembered;
 * - what is logged names the failing store call and carries the Redis error, never the
 *   command's arguments: no result, config value or command arg reaches the log.
 * The logger's real output (stdout and stderr) is captured.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as enqueueCommand } from '../../functions/enqueue-command.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as getConfig } from '../../functions/get-config.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { handler as putConfig } from '../../functions/put-config.ts';
import { handler as whoami } from '../../functions/whoami.ts';
import { dpopProof, generateDpopKey } from '../../dev/dpop.ts';
import { startUpstashBridge, type UpstashBridge } from '../../dev/upstash-bridge.ts';
import { logger } from '../../lib/logger.ts';
import type { Runtime } from '../../lib/runtime.ts';
import { invoke } from '../helpers/lambda.ts';
import { type OwnRedis, startOwnRedis } from '../../dev/own-redis.ts';
import { redisEnv } from '../helpers/redis.ts';
import { useTestRuntime } from '../helpers/runtime.ts';
import { signToken } from '../helpers/tokens.ts';

const OPERATOR = 'admin:commands admin:config admin:revoke';

/** Everything written to stdout and stderr while `run` runs, with the logger at DEBUG. */
async function logged(run: () => Promise<void>): Promise<string> {
  const chunks: string[] = [];
  const capture = (stream: NodeJS.WriteStream) => {
    const write = stream.write;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      chunks.push(String(chunk));
      return (write as (...a: unknown[]) => boolean).call(stream, '', ...rest);
    }) as typeof stream.write;
    return () => {
      stream.write = write;
    };
  };
  const restore = [capture(process.stdout), capture(process.stderr)];
  logger.setLogLevel('DEBUG');
  try {
    await run();
  } finally {
    logger.setLogLevel('SILENT');
    for (const undo of restore) undo();
  }
  return chunks.join('');
}

describe('a Redis that refuses writes', () => {
  let own: OwnRedis;
  let bridge: UpstashBridge;
  let admin: ReturnType<typeof createClient>;
  let rt: Runtime;
  const agent = `agent-oom-${randomBytes(3).toString('hex')}`;
  const secrets = {
    result: `db-password-${randomBytes(8).toString('hex')}`,
    config: `api-key-${randomBytes(8).toString('hex')}`,
    args: `arg-secret-${randomBytes(8).toString('hex')}`,
  };
  const pending = randomUUID();

  beforeAll(async () => {
    own = await startOwnRedis(['--maxmemory-policy', 'noeviction']);
    bridge = await startUpstashBridge({ redisHost: '127.0.0.1', redisPort: own.port });
    admin = createClient({ socket: { host: '127.0.0.1', port: own.port } });
    admin.on('error', () => {});
    await admin.connect();
    rt = useTestRuntime(redisEnv(bridge, 'oom:', { RATE_LIMIT_REQUESTS: '1000', RATE_LIMIT_WINDOW_SECONDS: '60' }));
    const now = rt.clock.now();
    await rt.stores.unchecked.commands.enqueue({
      commandId: pending,
      agentId: agent,
      command: 'rotate',
      args: {},
      createdAt: now,
      expiresAt: now + 600_000,
    });
    // Every script loaded while Redis still takes writes (EVALSHA, NOSCRIPT, EVAL).
    const token = await signToken({ sub: agent });
    expect((await invoke(getConfig, { path: '/api/config', token })).status).toBe(200);
    expect((await invoke(whoami, { path: '/api/whoami', token })).status).toBe(200);
    await admin.configSet('maxmemory', '1');
  });

  afterAll(async () => {
    admin?.destroy();
    await bridge?.close();
    await own?.stop();
  });

  it('answers 503 for every write, lets reads through uncounted, logs the fail-open once, and logs no value', async () => {
    const token = await signToken({ sub: agent });
    const operator = await signToken({ sub: 'operator-1', scope: OPERATOR });
    const answers: Record<string, number[]> = {};
    const note = (name: string, status: number) => {
      answers[name] = [...(answers[name] ?? []), status];
    };
    const output = await logged(async () => {
      for (let i = 0; i < 3; i += 1) {
        const result = await invoke(postResults, {
          method: 'POST',
          path: '/api/results',
          token,
          body: { command_id: pending, status: 'completed', result: { db_password: secrets.result } },
        });
        note('results', result.status);
        const config = await invoke(putConfig, {
          method: 'PUT',
          path: `/api/agents/${agent}/config`,
          routeKey: 'PUT /api/agents/{agentId}/config',
          pathParameters: { agentId: agent },
          token: operator,
          body: { api_key: secrets.config },
        });
        note('putConfig', config.status);
        const enqueue = await invoke(enqueueCommand, {
          method: 'POST',
          path: `/api/agents/${agent}/commands`,
          routeKey: 'POST /api/agents/{agentId}/commands',
          pathParameters: { agentId: agent },
          token: operator,
          body: { command: 'collect', args: { password: secrets.args } },
        });
        note('enqueue', enqueue.status);
        note('fetch', (await invoke(getCommands, { path: '/api/commands', token })).status);
        note('getConfig', (await invoke(getConfig, { path: '/api/config', token })).status);
        note('whoami', (await invoke(whoami, { path: '/api/whoami', token })).status);
      }
    });

    expect(answers).toEqual({
      results: [503, 503, 503],
      putConfig: [503, 503, 503],
      enqueue: [201, 201, 201], // its first write is a DEL, which Redis allows; the script then finishes
      fetch: [503, 503, 503], // a pending command: its first delivery is a write
      getConfig: [200, 200, 200],
      whoami: [200, 200, 200],
    });
    for (const secret of Object.values(secrets)) expect(output).not.toContain(secret);
    expect(output).not.toContain('command was');
    expect(output).toContain('Redis complete failed');
    expect(output).toContain('Redis putConfig failed');
    expect(output).toMatch(/OOM command not allowed/);
    expect(output.match(/requests let through uncounted/g)).toHaveLength(1);
  });

  it('still refuses a revoked token: the revocation read needs no write', async () => {
    const jti = randomUUID();
    await admin.configSet('maxmemory', '0');
    await rt.stores.unchecked.revocations.revokeToken(jti, Math.floor(Date.now() / 1000) + 600);
    await admin.configSet('maxmemory', '1');
    const answer = await invoke(getConfig, { path: '/api/config', token: await signToken({ sub: agent, jti }) });
    expect(answer.status).toBe(401);
    expect(answer.body.error_description).toBe('token_revoked');
  });

  it("refuses a DPoP-bound token's reads (503) while Redis refuses writes: a proof that cannot be remembered is not accepted", async () => {
    const key = await generateDpopKey();
    const token = await signToken({ sub: agent, cnf: { jkt: key.jkt } });
    const read = async (path: string, handler: typeof getConfig) =>
      invoke(handler, {
        path,
        headers: {
          host: 'api.oom.local',
          authorization: `DPoP ${token}`,
          dpop: await dpopProof(key, { htm: 'GET', htu: `https://api.oom.local${path}`, accessToken: token }),
        },
      });
    expect((await read('/api/config', getConfig)).status).toBe(503);
    expect((await read('/api/whoami', whoami)).status).toBe(503);
    await admin.configSet('maxmemory', '0');
    expect((await read('/api/config', getConfig)).status).toBe(200);
    await admin.configSet('maxmemory', '1');
  });

  it('loses nothing: once Redis takes writes again the command is delivered and its result accepted', async () => {
    await admin.configSet('maxmemory', '0');
    const token = await signToken({ sub: agent });
    const fetched = await invoke(getCommands, { path: '/api/commands', token });
    expect(fetched.status).toBe(200);
    const ids = (fetched.body as { commands: { command_id: string }[] }).commands.map((c) => c.command_id);
    expect(ids[0]).toBe(pending);
    expect(ids).toHaveLength(4); // and the three enqueued meanwhile
    const result = await invoke(postResults, {
      method: 'POST',
      path: '/api/results',
      token,
      body: { command_id: pending, status: 'completed', result: { ok: true } },
    });
    expect(result.status).toBe(200);
  });
});

/**
 * The wake function's parts: the API Gateway side of the wake sender with the real
 * @aws-sdk/client-apigatewaymanagementapi client, pointed at a small HTTP endpoint on loopback
 * that answers PostToConnection and DeleteConnection as API Gateway does (200/204, 410 Gone for
 * a connection that is no more); and the worker on both stores: a job's connected pending
 * targets each posted once, in bounded pages, the rollout's pace, gone connections removed,
 * revocations closing what they match.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiGatewayConnections, type ConnectionGateway, type PostOutcome } from '../../lib/push/gateway.ts';
import type { WakeQueue } from '../../lib/push/queue.ts';
import type { WakeTask } from '../../lib/push/tasks.ts';
import { runWakeTask } from '../../lib/push/worker.ts';
import { MAX_CONNECTION_MS } from '../../lib/store/connections.ts';
import { storeTargets } from '../helpers/targets.ts';

describe('the API Gateway connection gateway, against an endpoint that answers as API Gateway does', () => {
  const seen: { method: string; path: string; body: string; signed: boolean }[] = [];
  let server: http.Server;
  let gateway: ApiGatewayConnections;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        const path = decodeURIComponent(req.url ?? '');
        seen.push({ method: req.method ?? '', path, body, signed: /^AWS4-HMAC-SHA256 /.test(req.headers.authorization ?? '') });
        const id = path.replace('/@connections/', '');
        if (id.startsWith('gone')) {
          res.writeHead(410, { 'content-type': 'application/json', 'x-amzn-errortype': 'GoneException' });
          res.end(JSON.stringify({ message: null }));
        } else if (id.startsWith('broken')) {
          res.writeHead(500, { 'content-type': 'application/json', 'x-amzn-errortype': 'InternalServerErrorException' });
          res.end(JSON.stringify({ message: 'Internal server error' }));
        } else {
          res.writeHead(req.method === 'DELETE' ? 204 : 200);
          res.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new ApiGatewayManagementApiClient({
      endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      maxAttempts: 1,
    });
    gateway = new ApiGatewayConnections(endpoint, client);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('posts a frame with PostToConnection, signed, to /@connections/<id>', async () => {
    expect(await gateway.post('abc=', '{"type":"wake"}')).toBe('sent');
    expect(seen.at(-1)).toEqual({ method: 'POST', path: '/@connections/abc=', body: '{"type":"wake"}', signed: true });
  });

  it('says gone for a 410 GoneException, throws on any other failure', async () => {
    expect(await gateway.post('gone-1', 'x')).toBe('gone');
    await expect(gateway.post('broken-1', 'x')).rejects.toThrow();
  });

  it('closes with DeleteConnection, and a connection already gone is no failure', async () => {
    await gateway.close('abc=');
    await gateway.close('gone-2');
    expect(seen.slice(-2).map((s) => `${s.method} ${s.path}`)).toEqual(['DELETE /@connections/abc=', 'DELETE /@connections/gone-2']);
    await expect(gateway.close('broken-2')).rejects.toThrow();
  });
});

/** A gateway that keeps what it was asked: posts by connection, closes; `gone` ids answer gone. */
function recordingGateway(gone: ReadonlySet<string> = new Set()) {
  const posts: string[] = [];
  const closed: string[] = [];
  const gateway: ConnectionGateway = {
    post: async (id): Promise<PostOutcome> => {
      if (gone.has(id)) return 'gone';
      posts.push(id);
      return 'sent';
    },
    close: async (id) => {
      closed.push(id);
    },
  };
  return { gateway, posts, closed };
}

function recordingQueue() {
  const sent: { task: WakeTask; delaySeconds: number }[] = [];
  const queue: WakeQueue = {
    send: async (task, delaySeconds = 0) => {
      sent.push({ task, delaySeconds });
    },
  };
  return { queue, sent };
}

describe.each(storeTargets('push-worker'))('the wake worker on the $name store', (target) => {
  const agents = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}-${String(i).padStart(4, '0')}`);

  async function fleet(total: number, connected: number, rollout?: number) {
    const rt = target.use();
    rt.clock.set(Date.now());
    const { connections, jobs } = rt.stores.unchecked;
    const now = rt.clock.now();
    const tag = randomUUID().slice(0, 8);
    const targets = agents(total, tag);
    for (const agentId of targets.slice(0, connected)) {
      await connections.register({ connectionId: `c-${agentId}`, agentId, connectedAt: now, expiresAt: now + MAX_CONNECTION_MS });
    }
    const jobId = randomUUID();
    await jobs.create({
      jobId,
      command: 'echo',
      args: {},
      targets: { agents: targets, groups: [] },
      createdAt: now,
      expiresAt: now + 600_000,
      continuous: false,
      ...(rollout === undefined ? {} : { rollout: { maxPerMinute: rollout } }),
    });
    return { rt, jobId, targets };
  }

  it('posts to each connected pending target of a job once, in pages, and to no one else', async () => {
    const { rt, jobId, targets } = await fleet(600, 300);
    const { gateway, posts } = recordingGateway();
    const { queue, sent } = recordingQueue();

    const report = await runWakeTask({ kind: 'job', jobId, after: 0 }, { ...rt.stores.unchecked, gateway, queue, clock: rt.clock });

    expect(report).toMatchObject({ posted: 300, failed: 0, gone: 0, continued: 0 });
    expect(posts.sort()).toEqual(targets.slice(0, 300).map((agentId) => `c-${agentId}`));
    expect(sent).toEqual([]);
  });

  it('with a rollout of N a minute, wakes one page of N and queues the next a minute later', async () => {
    const { rt, jobId } = await fleet(50, 50, 20);
    const { gateway, posts } = recordingGateway();
    const { queue, sent } = recordingQueue();

    await runWakeTask({ kind: 'job', jobId, after: 0 }, { ...rt.stores.unchecked, gateway, queue, clock: rt.clock });

    expect(posts).toHaveLength(20);
    expect(sent).toEqual([{ task: { kind: 'job', jobId, after: 20 }, delaySeconds: 60 }]);
  });

  it('removes a connection found gone, and closes what a revocation matches', async () => {
    const rt = target.use();
    rt.clock.set(Date.now());
    const { connections } = rt.stores.unchecked;
    const now = rt.clock.now();
    const agent = `agent-${randomUUID()}`;
    const jti = randomUUID();
    await connections.register({ connectionId: 'old', agentId: agent, iat: 100, connectedAt: now, expiresAt: now + MAX_CONNECTION_MS });
    await connections.register({
      connectionId: 'new',
      agentId: agent,
      jti,
      iat: 200,
      connectedAt: now,
      expiresAt: now + MAX_CONNECTION_MS,
    });
    const { gateway, posts, closed } = recordingGateway(new Set(['old']));
    const deps = { ...rt.stores.unchecked, gateway, queue: recordingQueue().queue, clock: rt.clock };

    const woke = await runWakeTask({ kind: 'agents', agentIds: [agent], reason: 'command' }, deps);
    await runWakeTask({ kind: 'revoke', sub: agent, cutoff: 150 }, deps);
    await runWakeTask({ kind: 'revoke', jti }, deps);

    expect(woke).toMatchObject({ posted: 1, gone: 1 });
    expect(posts).toEqual(['new']);
    expect((await connections.ofAgents([agent], now)).map((c) => c.connectionId)).toEqual(['new']);
    expect(closed).toEqual(['new']);
  });
});

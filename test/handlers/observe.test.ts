/**
 * What a request leaves behind, read from stdout as CloudWatch would: the one line per request,
 * which is both its log line and its EMF metrics document, through the real handlers; and
 * GET /ready on both stores.
 */
import net from 'node:net';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler as enqueueCommand } from '../../functions/enqueue-command.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as health } from '../../functions/health.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { handler as ready, setReadinessStore } from '../../functions/ready.ts';
import { METRIC, METRICS_NAMESPACE, useMetrics } from '../../lib/http/observe.ts';
import { logger } from '../../lib/logger.ts';
import { type Answer, invoke } from '../helpers/lambda.ts';
import { memoryTestBackend, useTestRuntime } from '../helpers/runtime.ts';
import { storeTargets } from '../helpers/targets.ts';
import { signToken } from '../helpers/tokens.ts';

type Line = Record<string, any>;

/** Every JSON line written to stdout or stderr (Powertools writes ERROR lines there) while `run` runs. */
async function captured(run: () => Promise<Answer>): Promise<{ answer: Answer; lines: Line[] }> {
  const written: string[] = [];
  const { stdout, stderr } = process;
  const writes = [stdout.write, stderr.write] as const;
  const sink = ((chunk: string | Uint8Array) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof process.stdout.write;
  stdout.write = sink;
  stderr.write = sink;
  try {
    const answer = await run();
    const lines = written
      .join('')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Line);
    return { answer, lines };
  } finally {
    [stdout.write, stderr.write] = writes;
  }
}

/** The lines CloudWatch reads as EMF documents. */
const emf = (lines: Line[]) => lines.filter((line) => line._aws !== undefined);
/** Every line is a log line (the request line carries its metrics too). */
const logs = (lines: Line[]) => lines;

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// On for this file.
beforeEach(() => {
  useMetrics(true);
  logger.setLogLevel('INFO');
});

afterEach(() => {
  logger.setLogLevel('SILENT');
});

afterAll(() => {
  useMetrics(false);
});

describe('metrics (EMF in the one request line on stdout)', () => {
  it('writes one line per request: Requests and Duration by route and status class, and the commands delivered', async () => {
    useTestRuntime();
    const ops = await signToken({ sub: 'ops-1', scope: 'admin:commands' });
    const agent = await signToken({ sub: 'agent-042', scope: 'agent:commands' });
    await invoke(enqueueCommand, {
      method: 'POST',
      path: '/api/agents/agent-042/commands',
      routeKey: 'POST /api/agents/{agentId}/commands',
      pathParameters: { agentId: 'agent-042' },
      token: ops,
      body: { command: 'restart' },
    });

    const { answer, lines } = await captured(() => invoke(getCommands, { path: '/api/commands', token: agent }));

    expect(answer.status).toBe(200);
    expect(lines).toHaveLength(1); // the log line and the metrics are one line
    const [line, ...more] = emf(lines);
    expect(more).toEqual([]);
    expect(line?._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: METRICS_NAMESPACE,
        Dimensions: [expect.arrayContaining(['service', 'route', 'status_class'])],
        Metrics: expect.arrayContaining([
          { Name: METRIC.requests, Unit: 'Count' },
          { Name: METRIC.duration, Unit: 'Milliseconds' },
          { Name: METRIC.commandsDelivered, Unit: 'Count' },
        ]),
      },
    ]);
    expect(line).toMatchObject({
      service: 'biz-service',
      route: 'GET /api/commands',
      status_class: '2xx',
      Requests: 1,
      CommandsDelivered: 1,
    });
    expect(line?.Duration).toBeGreaterThan(0);
  });

  it('counts a completed and a failed result, each once (a repeated post is no second completion)', async () => {
    const rt = useTestRuntime();
    const ops = await signToken({ sub: 'ops-1', scope: 'admin:commands' });
    const agent = await signToken({ sub: 'agent-042', scope: 'agent:results' });
    const ids: string[] = [];
    for (const command of ['a', 'b']) {
      const made = await invoke(enqueueCommand, {
        method: 'POST',
        path: '/api/agents/agent-042/commands',
        pathParameters: { agentId: 'agent-042' },
        token: ops,
        body: { command },
      });
      ids.push(made.body.command_id);
    }
    const post = (commandId: string, status: string) =>
      captured(() => invoke(postResults, { method: 'POST', path: '/api/results', token: agent, body: { command_id: commandId, status } }));

    const completed = emf((await post(ids[0] as string, 'completed')).lines)[0];
    const again = emf((await post(ids[0] as string, 'completed')).lines)[0];
    const failed = emf((await post(ids[1] as string, 'failed')).lines)[0];

    expect(completed).toMatchObject({ CommandsCompleted: 1, status_class: '2xx' });
    expect(again?.CommandsCompleted).toBeUndefined();
    expect(failed).toMatchObject({ CommandsFailed: 1 });
    expect(rt).toBeDefined();
  });

  it('adds TokenRejected to the same line, with the reason as its one extra dimension', async () => {
    useTestRuntime();
    const expired = await signToken({ scope: 'agent:commands', exp: Math.floor(Date.now() / 1000) - 3600 });

    const { answer, lines } = await captured(() => invoke(getCommands, { path: '/api/commands', token: expired }));

    expect(answer.status).toBe(401);
    expect(lines).toHaveLength(1);
    const [line, ...more] = emf(lines);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ route: 'GET /api/commands', status_class: '4xx', Requests: 1 });
    expect(line?._aws.CloudWatchMetrics).toHaveLength(2);
    expect(line?._aws.CloudWatchMetrics[1]).toEqual({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [['service', 'reason']],
      Metrics: [{ Name: METRIC.tokenRejected, Unit: 'Count' }],
    });
    expect(line).toMatchObject({ service: 'biz-service', reason: 'token_expired', TokenRejected: 1 });
  });

  it('adds Unavailable with the cause to the same line when the store cannot answer, and StoreLatency per round trip', async () => {
    useTestRuntime({ USE_REDIS: 'true', UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${await closedPort()}`, UPSTASH_REDIS_REST_TOKEN: 'x' });
    const agent = await signToken({ sub: 'agent-042', scope: 'agent:commands' });

    const { answer, lines } = await captured(() => invoke(getCommands, { path: '/api/commands', token: agent }));

    expect(answer.status).toBe(503);
    const [line, ...more] = emf(lines);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ status_class: '5xx', Requests: 1, cause: 'store_unreachable', Unavailable: 1 });
    expect(line?.StoreLatency).toBeDefined();
    expect(line?._aws.CloudWatchMetrics[1]).toMatchObject({ Dimensions: [['service', 'cause']] });
  });
});

describe('logs', () => {
  it('writes one INFO line per request with the request keys, route, status, agent, reason and duration', async () => {
    useTestRuntime();
    const agent = await signToken({ sub: 'agent-042', scope: 'agent:commands' });

    const { answer, lines } = await captured(() => invoke(getCommands, { path: '/api/commands', token: agent, query: { limit: '0' } }));

    expect(answer.status).toBe(400);
    const [line, ...more] = logs(lines);
    expect(more).toEqual([]);
    expect(line).toMatchObject({
      level: 'INFO',
      message: 'request',
      request_id: answer.headers['x-request-id'],
      function_request_id: expect.any(String),
      function_name: 'test-function',
      cold_start: expect.any(Boolean),
      agent_id: 'agent-042',
      route: 'GET /api/commands',
      status: 400,
      reason: 'invalid_request',
    });
    expect(line?.function_request_id).not.toBe(line?.request_id);
    expect(line?.duration_ms).toBeGreaterThan(0);
    expect(answer.body.request_id).toBe(answer.headers['x-request-id']);
  });

  it("names a rejected token's agent and reason on the same one line", async () => {
    useTestRuntime();
    const expired = await signToken({ sub: 'agent-042', scope: 'agent:commands', exp: Math.floor(Date.now() / 1000) - 3600 });

    const { lines } = await captured(() => invoke(getCommands, { path: '/api/commands', token: expired }));

    expect(logs(lines)).toEqual([expect.objectContaining({ level: 'INFO', status: 401, reason: 'token_expired' })]);
  });

  it('writes a Redis outage as ONE ERROR line with its cause on one line, no stack', async () => {
    useTestRuntime({ USE_REDIS: 'true', UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${await closedPort()}`, UPSTASH_REDIS_REST_TOKEN: 'x' });
    const agent = await signToken({ sub: 'agent-042', scope: 'agent:commands' });

    const { lines } = await captured(() => invoke(getCommands, { path: '/api/commands', token: agent }));

    const [line, ...more] = logs(lines);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 'ERROR', message: 'request', status: 503, cause: 'store_unreachable' });
    expect(line?.error).toEqual(expect.stringContaining('StoreUnavailableError'));
    expect(JSON.stringify(line)).not.toContain('    at ');
  });

  it('logs a bug with its stack on the one request line, and answers a bare 500 naming the request', async () => {
    const stores = memoryTestBackend();
    const fetch = () => {
      throw new TypeError('a bug');
    };
    useTestRuntime({}, { stores: { ...stores, commands: { ...stores.commands, fetch } } });
    const agent = await signToken({ sub: 'agent-042', scope: 'agent:commands' });

    const { answer, lines } = await captured(() => invoke(getCommands, { path: '/api/commands', token: agent }));

    expect(answer.body).toEqual({ error: 'server_error', error_description: 'internal error', request_id: answer.headers['x-request-id'] });
    const [line, ...more] = logs(lines);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 'ERROR', status: 500, error: { name: 'TypeError', message: 'a bug' } });
    expect(line?.error.stack).toContain('a bug');
  });

  it('gives /health its X-Request-Id and line too', async () => {
    const { answer, lines } = await captured(() => invoke(health, { path: '/health' }));
    expect(answer.headers['x-request-id']).toEqual(expect.any(String));
    expect(logs(lines)).toEqual([
      expect.objectContaining({ route: 'GET /health', status: 200, request_id: answer.headers['x-request-id'] }),
    ]);
  });
});

describe.each(storeTargets('ready'))('GET /ready on the $name store', (target) => {
  it('answers 200 when the store answers, with one command', async () => {
    setReadinessStore(target.use().config);
    const before = target.name === 'redis' ? target.bridge.requests : 0;
    const answer = await invoke(ready, { path: '/ready' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: 'ready', checks: { store: 'ok' } });
    if (target.name === 'redis') expect(target.bridge.requests - before).toBe(1);
  });

  it.runIf(target.name === 'redis')('answers 503 naming the store when it hangs past its own timeout', async () => {
    if (target.name !== 'redis') return;
    setReadinessStore(target.use().config);
    target.bridge.setDelay(5_000);
    try {
      const answer = await invoke(ready, { path: '/ready' });
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.stringContaining('store') });
    } finally {
      target.bridge.setDelay(0);
    }
  });
});

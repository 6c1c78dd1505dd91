/**
 * Figure 4, round trips: every endpoint through its real exported handler on the Upstash store
 * (@upstash/redis, as in Lambda) against the local Upstash bridge in front of the real Redis.
 * The bridge counts the HTTP requests it serves, so each endpoint's round trips per call are
 * counted where Upstash would count them. Latency per call is set against one bare Redis round
 * trip (a GET of a missing key with the same client settings through the same bridge),
 * measured interleaved with the calls. Twice: rate limit off (the default) and on. Each request
 * is one command: the admission (revocation decision, rate limit) runs in the action's script.
 */
import { randomBytes } from 'node:crypto';
import type { UpstashBridge } from '../dev/upstash-bridge.ts';
import { type Config, loadConfig } from '../lib/config.ts';
import { createRuntime, type Runtime, setRuntime } from '../lib/runtime.ts';
import { createRedisClient } from '../lib/store/upstash.ts';

/** Whatever client the store uses (only get, scan and del are called here). */
type Redis = ReturnType<typeof createRedisClient>;
import { BENCH_ENV, contextFor, type EventTemplate, eventFrom, type Handler, signToken, template } from './fixtures.ts';
import { atMost, type FigureResult, fmt, spread, table, type TargetResult } from './stats.ts';

export interface RoundTripOptions {
  /** Measured calls per endpoint and configuration. */
  readonly calls: number;
  readonly redisHost?: string;
  readonly redisPort?: number;
}

interface Endpoint {
  readonly name: string;
  readonly file: string;
  readonly agent: boolean;
  readonly template: EventTemplate;
  readonly status: number;
}

async function setUp(rt: Runtime, run: string): Promise<Endpoint[]> {
  const now = rt.clock.now();
  const agentId = `${run}-agent`;
  const reporterId = `${run}-reporter`;
  const opsAgent = `${run}-ops`;
  const poller = await signToken({ sub: agentId });
  const reporter = await signToken({ sub: reporterId });
  const operator = await signToken({ sub: `${run}-operator`, scope: 'admin:commands admin:config admin:revoke admin:groups' });
  const pending = '7d3f1c2e-0b7a-4f43-9a57-3f2b8f0c1a11';
  const answered = '0c9e4b1a-6d2f-4e8b-8f3a-9b1c2d3e4f50';
  const base = { args: { interval_seconds: 30 }, createdAt: now, expiresAt: now + 3_600_000 };
  const { commands, groups } = rt.stores.unchecked;
  await commands.enqueue({ commandId: pending, agentId, command: 'collect_metrics', ...base });
  await commands.enqueue({ commandId: answered, agentId: reporterId, command: 'restart_service', ...base });
  await commands.enqueue({ commandId: pending, agentId: opsAgent, command: 'collect_metrics', ...base });
  const working = '5a1e7c3d-2b4f-4e6a-8c9d-0e1f2a3b4c5d';
  const canceled = '9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
  await commands.enqueue({ commandId: working, agentId: reporterId, command: 'deploy', ...base, timeoutMs: 600_000 });
  await commands.enqueue({ commandId: canceled, agentId: opsAgent, command: 'scan', ...base });
  await commands.cancel(opsAgent, canceled, { reason: 'bench', at: now });
  await commands.putConfig(agentId, { poll_interval_seconds: 15 });
  const group = `${run}-group`;
  for (const member of [agentId, reporterId]) await groups.join(group, member);
  // PUT then DELETE of the same member in each round: every call joins or leaves for real.
  const flipping = { group, agentId: opsAgent };
  const json = (value: unknown) => JSON.stringify(value);
  const op = (method: string, path: string, routeKey: string, extra: Partial<EventTemplate> & { token?: string }) =>
    template(method, path, { routeKey, token: operator, ...extra });
  return [
    {
      name: 'GET /api/commands',
      file: 'get-commands',
      agent: true,
      template: template('GET', '/api/commands', { token: poller }),
      status: 200,
    },
    {
      name: 'POST /api/results',
      file: 'post-results',
      agent: true,
      template: template('POST', '/api/results', {
        token: reporter,
        body: json({ command_id: answered, status: 'completed', result: { ok: true } }),
      }),
      status: 200,
    },
    {
      name: 'POST /api/results (in_progress)',
      file: 'post-results',
      agent: true,
      template: template('POST', '/api/results', {
        token: reporter,
        body: json({ command_id: working, status: 'in_progress', status_details: { step: '2 of 3' }, timeout_seconds: 300 }),
      }),
      status: 200,
    },
    { name: 'GET /api/config', file: 'get-config', agent: true, template: template('GET', '/api/config', { token: poller }), status: 200 },
    { name: 'GET /api/whoami', file: 'whoami', agent: false, template: template('GET', '/api/whoami', { token: poller }), status: 200 },
    {
      name: 'GET /api/token-info',
      file: 'token-info',
      agent: false,
      template: template('GET', '/api/token-info', { token: poller }),
      status: 200,
    },
    {
      name: 'POST /api/agents/{id}/commands',
      file: 'enqueue-command',
      agent: false,
      template: op('POST', `/api/agents/${opsAgent}/commands`, 'POST /api/agents/{agentId}/commands', {
        pathParameters: { agentId: opsAgent },
        body: json({ command: 'collect_metrics', args: {}, ttl_seconds: 60 }),
      }),
      status: 201,
    },
    {
      name: 'GET /api/agents/{id}/commands/{cid}',
      file: 'get-command',
      agent: false,
      template: op('GET', `/api/agents/${opsAgent}/commands/${pending}`, 'GET /api/agents/{agentId}/commands/{commandId}', {
        pathParameters: { agentId: opsAgent, commandId: pending },
      }),
      status: 200,
    },
    {
      name: 'GET /api/agents/{id}/commands',
      file: 'list-commands',
      agent: false,
      template: op('GET', `/api/agents/${opsAgent}/commands`, 'GET /api/agents/{agentId}/commands', {
        pathParameters: { agentId: opsAgent },
        query: { status: 'pending,canceled', limit: '20' },
      }),
      status: 200,
    },
    {
      name: 'POST /api/agents/{id}/commands/{cid}/cancel',
      file: 'cancel-command',
      agent: false,
      // Already canceled: 409 on every call, the same one script as a cancel that succeeds.
      template: op(
        'POST',
        `/api/agents/${opsAgent}/commands/${canceled}/cancel`,
        'POST /api/agents/{agentId}/commands/{commandId}/cancel',
        {
          pathParameters: { agentId: opsAgent, commandId: canceled },
          body: json({ reason: 'again' }),
        },
      ),
      status: 409,
    },
    {
      name: 'POST /api/agents/{id}/commands (Idempotency-Key)',
      file: 'enqueue-command',
      agent: false,
      template: op('POST', `/api/agents/${opsAgent}/commands`, 'POST /api/agents/{agentId}/commands', {
        pathParameters: { agentId: opsAgent },
        headers: { 'idempotency-key': `${run}-once` },
        body: json({ command: 'collect_metrics', args: {}, ttl_seconds: 60 }),
      }),
      status: 201,
    },
    {
      name: 'PUT /api/agents/{id}/config',
      file: 'put-config',
      agent: false,
      template: op('PUT', `/api/agents/${opsAgent}/config`, 'PUT /api/agents/{agentId}/config', {
        pathParameters: { agentId: opsAgent },
        body: json({ poll_interval_seconds: 20 }),
      }),
      status: 200,
    },
    {
      name: 'POST /api/revocations',
      file: 'post-revocations',
      agent: false,
      template: op('POST', '/api/revocations', 'POST /api/revocations', { body: json({ sub: `${run}-gone` }) }),
      status: 204,
    },
    {
      name: 'PUT /api/groups/{group}/agents/{id}',
      file: 'put-group-member',
      agent: false,
      template: op('PUT', `/api/groups/${group}/agents/${opsAgent}`, 'PUT /api/groups/{group}/agents/{agentId}', {
        pathParameters: flipping,
      }),
      status: 204,
    },
    {
      name: 'DELETE /api/groups/{group}/agents/{id}',
      file: 'delete-group-member',
      agent: false,
      template: op('DELETE', `/api/groups/${group}/agents/${opsAgent}`, 'DELETE /api/groups/{group}/agents/{agentId}', {
        pathParameters: flipping,
      }),
      status: 204,
    },
    {
      name: 'GET /api/groups/{group}/agents',
      file: 'get-group-members',
      agent: false,
      template: op('GET', `/api/groups/${group}/agents`, 'GET /api/groups/{group}/agents', {
        pathParameters: { group },
        query: { limit: '50' },
      }),
      status: 200,
    },
    {
      name: 'GET /api/agents/{id}/groups',
      file: 'get-agent-groups',
      agent: false,
      template: op('GET', `/api/agents/${agentId}/groups`, 'GET /api/agents/{agentId}/groups', { pathParameters: { agentId } }),
      status: 200,
    },
    { name: 'GET /health', file: 'health', agent: false, template: template('GET', '/health'), status: 200 },
  ];
}

async function call(handler: Handler, endpoint: Endpoint): Promise<number> {
  const started = performance.now();
  const result = (await handler(eventFrom(endpoint.template), contextFor(endpoint.file))) as { statusCode?: number; body?: string };
  const ms = performance.now() - started;
  if (result?.statusCode !== endpoint.status) {
    throw new Error(`${endpoint.name}: expected ${endpoint.status}, got ${result?.statusCode} ${result?.body ?? ''}`);
  }
  return ms;
}

async function bareTrip(redis: Redis): Promise<number> {
  const started = performance.now();
  await redis.get('bench:missing-key');
  return performance.now() - started;
}

export async function cleanUp(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  for (let i = 0; i < 1000; i++) {
    const [next, keys] = (await redis.scan(cursor, { match: `${prefix}*`, count: 500 })) as [string, string[]];
    if (keys.length > 0) deleted += await redis.del(...keys);
    cursor = String(next);
    if (cursor === '0') break;
  }
  return deleted;
}

interface Measured {
  readonly perCall: number;
  readonly ms: number[];
}

async function measure(
  config: Config,
  bridge: UpstashBridge,
  bare: Redis,
  run: string,
  calls: number,
): Promise<{ endpoints: Endpoint[]; results: Map<string, Measured>; bareMs: number[] }> {
  const rt = setRuntime(createRuntime(config));
  const endpoints = await setUp(rt, run);
  const handlers = new Map<string, Handler>();
  for (const endpoint of endpoints) {
    const module = (await import(`../functions/${endpoint.file}.ts`)) as { handler: Handler };
    handlers.set(endpoint.name, module.handler);
    // Two unmeasured calls: the first POST /api/results is accepted (later ones are retries),
    // script loading (EVAL before EVALSHA) and connection set-up happen here.
    await call(module.handler, endpoint);
    await call(module.handler, endpoint);
  }
  const counts = new Map<string, number>(endpoints.map((e) => [e.name, 0]));
  const ms = new Map<string, number[]>(endpoints.map((e) => [e.name, []]));
  const bareMs: number[] = [];
  // The first few rounds warm up the JIT and the connection pool and are not kept.
  const warmup = Math.min(10, Math.ceil(calls / 3));
  for (let i = -warmup; i < calls; i++) {
    const bareOne = await bareTrip(bare);
    if (i >= 0) bareMs.push(bareOne);
    for (const endpoint of endpoints) {
      const before = bridge.requests;
      const one = await call(handlers.get(endpoint.name) as Handler, endpoint);
      if (i < 0) continue;
      ms.get(endpoint.name)?.push(one);
      counts.set(endpoint.name, (counts.get(endpoint.name) ?? 0) + bridge.requests - before);
    }
  }
  const results = new Map<string, Measured>();
  for (const endpoint of endpoints) {
    results.set(endpoint.name, { perCall: (counts.get(endpoint.name) ?? 0) / calls, ms: ms.get(endpoint.name) ?? [] });
  }
  return { endpoints, results, bareMs };
}

export async function roundTripFigure(options: RoundTripOptions): Promise<FigureResult> {
  const { startUpstashBridge } = await import('../dev/upstash-bridge.ts');
  // The same variables the service reads (REDIS_HOST, REDIS_PORT); loopback by default.
  const redisHost = options.redisHost ?? process.env.REDIS_HOST ?? '127.0.0.1';
  const redisPort = options.redisPort ?? (Number(process.env.REDIS_PORT) || 6379);
  const bridge = await startUpstashBridge({ redisHost, redisPort });
  const run = `bench-${process.pid}-${randomBytes(3).toString('hex')}`;
  const prefix = `bench:${run}:`;
  const env = {
    ...BENCH_ENV,
    USE_REDIS: 'true',
    UPSTASH_REDIS_REST_URL: bridge.url,
    UPSTASH_REDIS_REST_TOKEN: bridge.token,
    REDIS_KEY_PREFIX: prefix,
    REDIS_TIMEOUT_MS: '2000',
  };
  const off = loadConfig(env);
  const on = loadConfig({ ...env, RATE_LIMIT_REQUESTS: '1000000', RATE_LIMIT_WINDOW_SECONDS: '60' });
  const bare = createRedisClient(off);
  try {
    try {
      await bareTrip(bare);
    } catch (error) {
      throw new SkipFigure(`Redis at ${redisHost}:${redisPort} does not answer through the bridge (${(error as Error).message})`);
    }
    const withoutLimit = await measure(off, bridge, bare, `${run}-a`, options.calls);
    const withLimit = await measure(on, bridge, bare, `${run}-b`, options.calls);

    const bareAll = spread([...withoutLimit.bareMs, ...withLimit.bareMs]);
    const rows: string[][] = [];
    const numbers: Record<string, number> = { bareMs: bareAll.median };
    const targets: TargetResult[] = [];
    for (const endpoint of withoutLimit.endpoints) {
      const a = withoutLimit.results.get(endpoint.name) as Measured;
      const b = withLimit.results.get(endpoint.name) as Measured;
      const aMs = spread(a.ms);
      const bMs = spread(b.ms);
      const aBare = spread(withoutLimit.bareMs).median;
      const bBare = spread(withLimit.bareMs).median;
      rows.push([
        endpoint.name,
        fmt(a.perCall, 2),
        `${fmt(aMs.median, 2)} (${fmt(aMs.min, 2)}–${fmt(aMs.max, 2)})`,
        `${fmt(aMs.median / aBare, 2)}x`,
        fmt(b.perCall, 2),
        `${fmt(bMs.median, 2)}`,
        `${fmt(bMs.median / bBare, 2)}x`,
      ]);
      numbers[`${endpoint.name}|trips`] = a.perCall;
      numbers[`${endpoint.name}|tripsRateLimited`] = b.perCall;
      numbers[`${endpoint.name}|toBare`] = aMs.median / aBare;
      numbers[`${endpoint.name}|ms`] = aMs.median;
      numbers[`${endpoint.name}|msRateLimited`] = bMs.median;
      if (endpoint.agent) {
        targets.push(atMost('4', `${endpoint.name} round trips per call (rate limit off)`, a.perCall, 1, '', 2));
        targets.push(atMost('4', `${endpoint.name} round trips per call (rate limit on)`, b.perCall, 1, '', 2));
      }
    }
    numbers.bareOffMs = spread(withoutLimit.bareMs).median;
    numbers.bareOnMs = spread(withLimit.bareMs).median;
    // The admission alone: an endpoint whose handler touches no store (whoami) shows it.
    const whoamiOff = withoutLimit.results.get('GET /api/whoami')?.perCall ?? Number.NaN;
    const whoamiOn = withLimit.results.get('GET /api/whoami')?.perCall ?? Number.NaN;
    targets.unshift(
      atMost('4', 'admission round trips (whoami, rate limit off)', whoamiOff, 1, '', 2),
      atMost('4', 'admission round trips (whoami, rate limit on)', whoamiOn, 1, '', 2),
    );
    // Operator requests: one command each, their action being one script behind the gate.
    for (const endpoint of withoutLimit.endpoints.filter(
      (e) => !e.agent && e.file !== 'health' && e.file !== 'whoami' && e.file !== 'token-info',
    )) {
      const on = withLimit.results.get(endpoint.name)?.perCall ?? Number.NaN;
      targets.push(atMost('4', `${endpoint.name} round trips per call (rate limit on)`, on, 1, '', 2));
    }
    const text = [
      table(['endpoint', 'trips/call', 'ms median (min–max)', 'vs 1 bare trip', 'trips, rate limit on', 'ms', 'vs 1 bare trip'], rows),
      `one bare round trip (GET through the bridge, same client settings): ${fmt(bareAll.median, 2)} ms median (${fmt(bareAll.min, 2)}–${fmt(bareAll.max, 2)}); ${options.calls} calls per endpoint, interleaved with it; trips counted at the bridge`,
    ].join('\n');
    return { title: '4. Round trips to Upstash (local bridge + Redis 7, counted at the bridge)', text, targets, numbers };
  } finally {
    await cleanUp(bare, prefix).catch(() => 0);
    await bridge.close();
  }
}

/** Thrown when a figure cannot run here (no Redis): reported as SKIP, not as a failure. */
export class SkipFigure extends Error {
  override name = 'SkipFigure';
}

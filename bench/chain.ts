/**
 * Figure 2, the handler chain: each agent endpoint through its real exported handler (the
 * whole Middy chain, a Lambda-like context with getRemainingTimeInMillis, the in-memory
 * store), one event at a time, interleaved in the same rounds with figure 1's limit and with
 * our verification alone, so every ratio is taken within one round.
 *
 * "production" = the runtime as a Lambda container makes it (verified-token cache on);
 * "cache off" = the same chain with cacheSize 0, which is what the overhead over
 * verification alone is computed on (both sides then verify every call).
 *
 * Then the same poll with RS256 and ES256 tokens from a JWKS (HMAC and JWKS configured together,
 * as during a migration): what a public-key verification costs per call, and how much of it the
 * verified-token cache takes away for an agent polling with one token.
 */
import { createSecretKey } from 'node:crypto';
import { TokenVerifier } from '../lib/auth/verifier.ts';
import { loadConfig } from '../lib/config.ts';
import { createRuntime, setRuntime } from '../lib/runtime.ts';
import { createMemoryStores, memoryBackend } from '../lib/store/memory.ts';
import type { StoreBackend } from '../lib/store/types.ts';
import {
  AGENT_ID,
  BENCH_ENV,
  BENCH_SECRET,
  callExpecting,
  contextFor,
  type EventTemplate,
  eventFrom,
  type Handler,
  signToken,
  template,
} from './fixtures.ts';
import {
  atLeast,
  atMost,
  type Contender,
  type FigureResult,
  fmtRatio,
  fmtSpread,
  interleaved,
  type RoundOptions,
  ratios,
  spread,
  table,
} from './stats.ts';
import { BENCH_PUBLIC_KEY_ENV, benchKeySet, signPublicKeyToken } from './public-keys.ts';
import { limitVerify } from './verify.ts';

const PUBLIC_KEY_ALGS = ['RS256', 'ES256'] as const;

interface Endpoint {
  readonly name: string;
  readonly file: string;
  readonly template: EventTemplate;
  readonly status: number;
}

/**
 * The agent endpoints with realistic state: one pending command (returned on every poll until
 * its result arrives), an agent with nothing queued, one already-answered command (later posts
 * are an agent's retries), config overrides.
 */
async function endpoints(now: number): Promise<{ list: Endpoint[]; stores: StoreBackend }> {
  const config = loadConfig(BENCH_ENV);
  const memory = createMemoryStores(config, () => Math.floor(Date.now() / 1000));
  const { commands } = memory;
  const poller = await signToken();
  const reporterId = `${AGENT_ID}-results`;
  const reporter = await signToken({ sub: reporterId });
  const idle = await signToken({ sub: `${AGENT_ID}-idle` });
  await commands.enqueue({
    commandId: '7d3f1c2e-0b7a-4f43-9a57-3f2b8f0c1a11',
    agentId: AGENT_ID,
    command: 'collect_metrics',
    args: { interval_seconds: 30, targets: ['cpu', 'mem'] },
    createdAt: now,
    expiresAt: now + 86_400_000,
  });
  await commands.enqueue({
    commandId: '0c9e4b1a-6d2f-4e8b-8f3a-9b1c2d3e4f50',
    agentId: reporterId,
    command: 'restart_service',
    args: { name: 'collector' },
    createdAt: now,
    expiresAt: now + 86_400_000,
  });
  await commands.putConfig(AGENT_ID, { poll_interval_seconds: 15 });
  const resultBody = JSON.stringify({
    command_id: '0c9e4b1a-6d2f-4e8b-8f3a-9b1c2d3e4f50',
    status: 'completed',
    result: { restarted: true },
  });
  return {
    stores: memoryBackend(memory),
    list: [
      { name: 'GET /api/commands', file: 'get-commands', template: template('GET', '/api/commands', { token: poller }), status: 200 },
      // The common poll: nothing queued for this agent.
      {
        name: 'GET /api/commands (empty queue)',
        file: 'get-commands',
        template: template('GET', '/api/commands', { token: idle }),
        status: 200,
      },
      // The first call accepts the result; every later one is an agent's retry ("duplicate", also 200).
      {
        name: 'POST /api/results',
        file: 'post-results',
        template: template('POST', '/api/results', { token: reporter, body: resultBody }),
        status: 200,
      },
      { name: 'GET /api/config', file: 'get-config', template: template('GET', '/api/config', { token: poller }), status: 200 },
    ],
  };
}

export async function chainFigure(options: RoundOptions): Promise<FigureResult> {
  const config = loadConfig(BENCH_ENV);
  const { list, stores } = await endpoints(Date.now());
  const production = createRuntime(config, { stores });
  const cacheOff = createRuntime(config, { stores, verifierCacheSize: 0 });

  // Put a runtime in before any handler module loads (importing one starts making the default runtime).
  setRuntime(production);
  const handlers = new Map<string, Handler>();
  /** The endpoint's own function (what the chain wraps), called directly with what the chain would give it. */
  const bodies = new Map<string, () => Promise<unknown>>();
  for (const endpoint of list) {
    const module = (await import(`../functions/${endpoint.file}.ts`)) as { handler: Handler } & Record<string, unknown>;
    handlers.set(endpoint.name, module.handler);
    const inner = Object.entries(module).find(([name, value]) => name !== 'handler' && typeof value === 'function')?.[1] as
      | ((event: unknown, context: unknown) => Promise<unknown>)
      | undefined;
    if (inner) {
      const auth = production.verifier.verify(/^Bearer (.+)$/.exec(endpoint.template.headers.authorization ?? '')?.[1] ?? '');
      const parsed = endpoint.template.body === undefined ? undefined : (JSON.parse(endpoint.template.body) as unknown);
      bodies.set(endpoint.name, () => {
        const event = eventFrom(endpoint.template) as unknown as Record<string, unknown>;
        if (parsed !== undefined) event.body = structuredClone(parsed);
        // As the auth middleware does once per request: the stores admitted for this token.
        const stores = production.stores.admitted({ token: auth, now: production.clock.now() });
        return inner(event, { ...contextFor(endpoint.name), auth, stores, runtime: production });
      });
    }
    setRuntime(production);
    await callExpecting(module.handler, endpoint.template, endpoint.status, endpoint.name);
    setRuntime(cacheOff);
    await callExpecting(module.handler, endpoint.template, endpoint.status, endpoint.name);
  }

  const token = await signToken();
  const key = createSecretKey(Buffer.from(BENCH_SECRET, 'utf8'));
  const verifier = new TokenVerifier({ ...config, cacheSize: 0 });

  const call = (endpoint: Endpoint) => {
    const handler = handlers.get(endpoint.name) as Handler;
    return () => handler(eventFrom(endpoint.template), contextFor(endpoint.name));
  };

  // Public-key tokens: the poll of the first endpoint, with the same stores.
  const poll = list[0] as Endpoint;
  const pkConfig = loadConfig(BENCH_PUBLIC_KEY_ENV);
  const keySet = await benchKeySet();
  const pkProduction = createRuntime(pkConfig, { stores, keySet });
  const pkCacheOff = createRuntime(pkConfig, { stores, keySet, verifierCacheSize: 0 });
  const pkVerifier = new TokenVerifier({ ...pkConfig, keySet, cacheSize: 0 });
  const pkPolls = PUBLIC_KEY_ALGS.map((alg) => {
    const signed = signPublicKeyToken(alg);
    return {
      alg,
      token: signed,
      endpoint: { ...poll, name: `${poll.name} ${alg}`, template: template('GET', '/api/commands', { token: signed }) },
    };
  });
  for (const { endpoint } of pkPolls) {
    for (const rt of [pkProduction, pkCacheOff]) {
      setRuntime(rt);
      await callExpecting(handlers.get(poll.name) as Handler, endpoint.template, endpoint.status, endpoint.name);
    }
  }
  setRuntime(production);
  const pkCall = (endpoint: Endpoint) => {
    const handler = handlers.get(poll.name) as Handler;
    return () => handler(eventFrom(endpoint.template), contextFor(poll.name));
  };
  const contenders: Contender[] = [
    { name: 'limit', op: () => limitVerify(token, key) },
    { name: 'verify', op: () => verifier.verify(token) },
  ];
  for (const endpoint of list) {
    contenders.push({ name: `${endpoint.name}|production`, op: call(endpoint), async: true, before: () => setRuntime(production) });
    contenders.push({ name: `${endpoint.name}|cacheOff`, op: call(endpoint), async: true, before: () => setRuntime(cacheOff) });
    const body = bodies.get(endpoint.name);
    if (body) contenders.push({ name: `${endpoint.name}|body`, op: body, async: true });
  }
  for (const { alg, token: signed, endpoint } of pkPolls) {
    contenders.push({ name: `verify|${alg}`, op: () => pkVerifier.verify(signed) });
    contenders.push({ name: `${endpoint.name}|production`, op: pkCall(endpoint), async: true, before: () => setRuntime(pkProduction) });
    contenders.push({ name: `${endpoint.name}|cacheOff`, op: pkCall(endpoint), async: true, before: () => setRuntime(pkCacheOff) });
  }
  const rates = await interleaved(contenders, options);
  // The loops do not look at answers: check that every chain still answers as it did at the start.
  for (const endpoint of list) {
    for (const rt of [production, cacheOff]) {
      setRuntime(rt);
      await callExpecting(handlers.get(endpoint.name) as Handler, endpoint.template, endpoint.status, endpoint.name);
    }
  }
  for (const { endpoint } of pkPolls) {
    for (const rt of [pkProduction, pkCacheOff]) {
      setRuntime(rt);
      await callExpecting(handlers.get(poll.name) as Handler, endpoint.template, endpoint.status, endpoint.name);
    }
  }
  setRuntime(production);
  const limit = rates.get('limit') ?? [];
  const verify = rates.get('verify') ?? [];

  const rows: string[][] = [
    ['limit (figure 1, same rounds)', fmtSpread(spread(limit)), '1.00x', '', ''],
    ['TokenVerifier alone, cache off', fmtSpread(spread(verify)), fmtRatio(spread(ratios(verify, limit))), '1.00x', ''],
  ];
  const numbers: Record<string, number> = { limitPerSec: spread(limit).median, verifyPerSec: spread(verify).median };
  const targets = [];
  for (const endpoint of list) {
    for (const mode of ['production', 'cacheOff'] as const) {
      const series = rates.get(`${endpoint.name}|${mode}`) ?? [];
      const toLimit = spread(ratios(series, limit));
      // Overhead: time per chain call / time per verification = verify rate / chain rate.
      const overhead = spread(ratios(verify, series));
      const beyondUs = (1 / spread(series).median - 1 / spread(verify).median) * 1e6;
      const bodySeries = rates.get(`${endpoint.name}|body`);
      const bodyUs = bodySeries ? 1e6 / spread(bodySeries).median : Number.NaN;
      rows.push([
        `${endpoint.name} (${mode === 'production' ? 'production, cache on' : 'cache off'})`,
        fmtSpread(spread(series)),
        fmtRatio(toLimit),
        fmtRatio(overhead),
        mode === 'cacheOff' ? `+${beyondUs.toFixed(1)} µs = body ${bodyUs.toFixed(1)} + chain ${(beyondUs - bodyUs).toFixed(1)}` : '',
      ]);
      if (mode === 'cacheOff') {
        numbers[`${endpoint.name}|bodyUs`] = bodyUs;
        numbers[`${endpoint.name}|chainUs`] = beyondUs - bodyUs;
      }
      numbers[`${endpoint.name}|${mode}|perSec`] = spread(series).median;
      numbers[`${endpoint.name}|${mode}|toLimit`] = toLimit.median;
      numbers[`${endpoint.name}|${mode}|overhead`] = overhead.median;
      if (endpoint.name === 'GET /api/commands' && mode === 'production') {
        targets.push(atLeast('2', 'GET /api/commands chain (production) / verify limit', toLimit.median, 0.5));
      }
      if (endpoint.name === 'GET /api/commands' && mode === 'cacheOff') {
        targets.push(atMost('2', 'GET /api/commands chain time / verification alone (both cache off)', overhead.median, 1.3, 'x'));
      }
    }
  }
  const hsChainOff = spread(rates.get(`${poll.name}|cacheOff`) ?? []).median;
  for (const { alg, endpoint } of pkPolls) {
    const alone = rates.get(`verify|${alg}`) ?? [];
    const usPerVerify = 1e6 / spread(alone).median;
    rows.push([
      `TokenVerifier alone, ${alg}, cache off`,
      fmtSpread(spread(alone)),
      fmtRatio(spread(ratios(alone, limit))),
      fmtRatio(spread(ratios(verify, alone))),
      `${usPerVerify.toFixed(1)} µs per verification`,
    ]);
    numbers[`verify|${alg}|perSec`] = spread(alone).median;
    const on = rates.get(`${endpoint.name}|production`) ?? [];
    const off = rates.get(`${endpoint.name}|cacheOff`) ?? [];
    const onUs = 1e6 / spread(on).median;
    const offUs = 1e6 / spread(off).median;
    rows.push([
      `${endpoint.name} (cache off)`,
      fmtSpread(spread(off)),
      fmtRatio(spread(ratios(off, limit))),
      fmtRatio(spread(ratios(verify, off))),
      `+${(offUs - 1e6 / hsChainOff).toFixed(1)} µs over the HS256 chain (cache off)`,
    ]);
    rows.push([
      `${endpoint.name} (production, cache on)`,
      fmtSpread(spread(on)),
      fmtRatio(spread(ratios(on, limit))),
      fmtRatio(spread(ratios(verify, on))),
      `the cache saves ${(offUs - onUs).toFixed(1)} µs of ${offUs.toFixed(1)} per call (${(100 * (1 - onUs / offUs)).toFixed(0)} %)`,
    ]);
    numbers[`${endpoint.name}|production|perSec`] = spread(on).median;
    numbers[`${endpoint.name}|cacheOff|perSec`] = spread(off).median;
  }
  const text = [
    table(['contender', 'calls/s median (min–max)', 'to limit', 'time vs verify alone', 'cost beyond verify per call'], rows),
    'body = the endpoint function alone (store, views, JSON), called directly with what the chain gives it; chain = the rest',
    '(Middy and its middlewares: error edge, headers, bearer parsing, revocation check, scopes, whatever else runs per call).',
    'RS256 / ES256 rows: HMAC and a JWKS configured together; "verify alone" there is the HS256 verification, so the ratio',
    'is how many HS256 verifications one call costs; a polling agent re-sends one token, so with the cache on it is verified once.',
  ].join('\n');
  return { title: '2. Handler chain (in-process, real exported handlers, in-memory store)', text, targets, numbers };
}

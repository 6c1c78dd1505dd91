/**
 * The one synth that really bundles (esbuild, no Docker): every function's index.mjs is built,
 * with the assembled Lua scripts its route runs in lua/ beside it. Some are then loaded in a
 * child Node process from their asset folder, with nothing but the Lambda-like environment, and
 * answer an event: two on the in-memory store, and every function that takes a token on Redis
 * (through the local Upstash bridge), which reads its scripts from its own lua/ folder: a script
 * its route does not list is missing there, and the function answers 503.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareEvent, readEvent } from '../../dev/invoke.ts';
import type { UpstashBridge } from '../../dev/upstash-bridge.ts';
import { buildConsole } from '../../console/build.ts';
import { PROJECT_ROOT } from '../../infra/function.ts';
import { DEFAULT_SECRET } from '../../lib/config.ts';
import { fallbackRoute, type Route, routes } from '../../lib/http/routes.ts';
import { PUSH_ROUTES } from '../../lib/push/routes.ts';

/** The push channel's functions, with the scopes they take (only $connect takes a token). */
const PUSH = Object.values(PUSH_ROUTES).map((fn) => ({
  name: fn.name,
  scripts: fn.scripts,
  scopes: 'scopes' in fn ? fn.scopes : undefined,
}));
import { assembleScript } from '../../lib/store/lua.ts';
import { inPool, invokeBundle } from '../helpers/infra-bundle.ts';
import { resourcesOfType, type Synthesised, synth } from '../helpers/infra-synth.ts';
import { httpEvent } from '../helpers/lambda.ts';
import { deletePrefix, HAS_REDIS, redisEnv, startBridge, tcpClient, uniquePrefix } from '../helpers/redis.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

/**
 * A regression ceiling, not the target. The target for a store-using function is 150 KB (bench
 * figure 3); it is not met today: @upstash/redis (about 80 KB, every command class) and
 * Powertools (logger and metrics) come on top of what the service itself needs. Raised from
 * 256 KB to 288 KB when schedules, exponential rollouts, dry runs and the wake queue took the
 * create-job bundle to 256.4 KB (lib/store alone is about 60 KB of it).
 */
const BUNDLE_CEILING_BYTES = 288 * 1024;

let outdir: string;
let bundled: Synthesised;
/** index.mjs folder by route name (and fallbackRoute.name). */
const assets = new Map<string, string>();

beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), 'biz-cdk-'));
  // With the debug routes (off by default), so that every handler in the route table is bundled.
  bundled = synth({ debugRoutes: 'true' }, { bundle: true, outdir });
  for (const [id, fn] of resourcesOfType(bundled.json, 'AWS::Lambda::Function')) {
    const name = id.replace(/Function[0-9A-F]{8}$/, '');
    const key = fn.Properties?.Code?.S3Key as string;
    assets.set(name, path.join(outdir, `asset.${key.replace(/\.zip$/, '')}`));
  }
}, 120_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('bundling', () => {
  it('builds one minified ESM bundle with a source map per function', () => {
    expect([...assets.keys()].sort()).toEqual(
      [...routes.map((route) => route.name), fallbackRoute.name, ...PUSH.map((fn) => fn.name)].sort(),
    );
    const sizes: Record<string, number> = {};
    for (const [name, dir] of assets) {
      const code = readFileSync(path.join(dir, 'index.mjs'), 'utf8');
      sizes[name] = statSync(path.join(dir, 'index.mjs')).size;
      expect(statSync(path.join(dir, 'index.mjs.map')).isFile()).toBe(true);
      expect(code).toMatch(/sourceMappingURL=index\.mjs\.map/);
      // Minified: no JavaScript declarations on lines of their own (Lua scripts in strings may have lines).
      expect(code.split('\n').filter((line) => /^\s*(const|let|var) \w+ = /.test(line))).toEqual([]);
      // jsonwebtoken's semver is replaced by infra/shims/semver.cjs.
      expect(code).not.toContain('Invalid comparator');
      // The SDK stays with the runtime: at most an import of it, never its code.
      expect(code).not.toMatch(/SecretsManagerClient\s*extends|class SecretsManagerClient/);
    }
    console.info(`bundle sizes (bytes): ${JSON.stringify(sizes)}; synth with bundling took ${bundled.ms} ms`);
  });

  it('bundles no development code, and the route matcher only into the fallback', () => {
    for (const [name, dir] of assets) {
      const { sources } = JSON.parse(readFileSync(path.join(dir, 'index.mjs.map'), 'utf8')) as { sources: string[] };
      const ours = sources.filter((source) => !source.includes('node_modules/')).map((source) => source.replace(/^(\.\.\/)+/, ''));
      expect(ours.length, name).toBeGreaterThan(0);
      expect(
        ours.filter((source) => source.startsWith('dev/') || source.startsWith('test/') || source.startsWith('bench/')),
        name,
      ).toEqual([]);
      if (name !== fallbackRoute.name) expect(ours, name).not.toContain('lib/http/router.ts');
    }
  });

  it('bundles neither the token middleware nor a store into /health, which takes no token', () => {
    const { sources } = JSON.parse(readFileSync(path.join(assets.get('Health') as string, 'index.mjs.map'), 'utf8')) as {
      sources: string[];
    };
    const ours = sources.map((source) => source.replace(/^(\.\.\/)+/, ''));
    expect(ours.filter((source) => /^lib\/(store\/(upstash|memory|scripts)|runtime|auth\/verifier|http\/auth)\.ts$/.test(source))).toEqual(
      [],
    );
    expect(ours.some((source) => source.includes('node_modules/jsonwebtoken/') || source.includes('node_modules/@upstash/'))).toBe(false);
  });

  it('ships each function the assembled scripts its route runs, and the gate with them; none without a token', () => {
    const shipped: Record<string, string[]> = {};
    for (const route of [...routes, { ...fallbackRoute, scopes: undefined }, ...PUSH]) {
      const dir = assets.get(route.name) as string;
      // The gate comes with every script that admits a token: with every route that takes one.
      const expected = route.scopes === undefined ? [...route.scripts] : [...route.scripts, 'gate' as const];
      // The console's two functions ship its built files in console/ instead (checked below).
      const beside = 'console' in route && route.console === true ? ['console'] : [];
      expect(readdirSync(dir).sort(), route.name).toEqual(
        [...beside, ...(expected.length === 0 ? ['index.mjs', 'index.mjs.map'] : ['index.mjs', 'index.mjs.map', 'lua'])].sort(),
      );
      const files = expected.length === 0 ? [] : readdirSync(path.join(dir, 'lua')).sort();
      expect(files, route.name).toEqual(expected.map((name) => `${name}.lua`).sort());
      for (const name of expected) {
        expect(readFileSync(path.join(dir, 'lua', `${name}.lua`), 'utf8'), `${route.name}: lua/${name}.lua`).toBe(assembleScript(name));
      }
      shipped[route.name] = files;
    }
    expect(shipped.Health).toEqual([]);
    expect(shipped.Ready).toEqual([]);
    expect(shipped.Fallback).toEqual([]);
    expect(shipped.PostRevocations).toEqual(['gate.lua', 'raise-cutoff.lua', 'revoke-token.lua']);
    expect(shipped.PushConnect).toEqual(['gate.lua', 'push-register.lua']);
  });

  it('keeps the Lua out of the JavaScript', () => {
    for (const [name, dir] of assets) {
      const code = readFileSync(path.join(dir, 'index.mjs'), 'utf8');
      // Every script's body calls Redis; the JavaScript that runs them never does in Lua.
      expect(code.includes('redis.call('), name).toBe(false);
    }
  });

  it('keeps every bundle under the ceiling', () => {
    for (const [name, dir] of assets) {
      const size = statSync(path.join(dir, 'index.mjs')).size;
      expect(size, `${name}: ${size} bytes`).toBeLessThanOrEqual(BUNDLE_CEILING_BYTES);
    }
  });
});

describe('a bundled function, loaded as Lambda loads it', () => {
  it('answers /health', async () => {
    const answer = await invokeBundle(assets.get('Health') as string, httpEvent({ path: '/health' }), {});
    expect(answer.node).toMatch(/^v24\./);
    expect(answer.result.statusCode).toBe(200);
    expect(JSON.parse(answer.result.body ?? '')).toEqual({ status: 'ok' });
  });

  it('answers GET /api/commands for a valid token, with the secret from the environment', async () => {
    const token = await signToken({ scope: 'agent:commands' });
    const answer = await invokeBundle(assets.get('GetCommands') as string, httpEvent({ path: '/api/commands', token }), { ...TEST_ENV });
    expect(answer.result.statusCode).toBe(200);
    expect(JSON.parse(answer.result.body ?? '')).toEqual({ agent_id: 'agent-001', commands: [] });
  });

  it('answers GET /.well-known/command-keys from the key file it is given, without the AWS SDK beside it', async () => {
    const env = { COMMAND_SIGNING_KEY_FILE: path.join(outdir, 'command-signing-key.pem') };
    const answer = await invokeBundle(assets.get('CommandKeys') as string, httpEvent({ path: '/.well-known/command-keys' }), env);
    expect(answer.result.statusCode).toBe(200);
    expect(answer.result.headers?.['Cache-Control']).toBe('public, max-age=300');
    expect(JSON.parse(answer.result.body ?? '').keys).toEqual([expect.objectContaining({ kty: 'EC', crv: 'P-256', alg: 'ES256' })]);
  });

  it('answers 401 without a token', async () => {
    const answer = await invokeBundle(assets.get('GetCommands') as string, httpEvent({ path: '/api/commands' }), { ...TEST_ENV });
    expect(answer.result.statusCode).toBe(401);
  });

  it('refuses to serve with the sample secret', async () => {
    const token = await signToken({ scope: 'agent:commands' }, { secret: DEFAULT_SECRET });
    const answer = await invokeBundle(assets.get('GetCommands') as string, httpEvent({ path: '/api/commands', token }), {
      ...TEST_ENV,
      JWT_SECRET_KEY: DEFAULT_SECRET,
    });
    expect(answer.result.statusCode).toBe(500);
    expect(answer.result.body).not.toContain(DEFAULT_SECRET);
  });

  it("ships the console's page, script and stylesheet beside the two console functions, and serves them from there", async () => {
    const built = buildConsole();
    for (const name of ['ConsolePage', 'ConsoleFile']) {
      const dir = assets.get(name) as string;
      expect(readdirSync(path.join(dir, 'console')).sort(), name).toEqual([...built.keys()].sort());
    }
    for (const [name, dir] of assets) {
      if (name !== 'ConsolePage' && name !== 'ConsoleFile') expect(readdirSync(dir), name).not.toContain('console');
    }
    const page = await invokeBundle(assets.get('ConsolePage') as string, httpEvent({ path: '/console' }), {});
    expect(page.result.statusCode).toBe(200);
    expect(page.result.headers?.['Content-Security-Policy']).toContain("script-src 'self'");
    expect(page.result.body).toBe(built.get('index.html'));
    const script = [...built.keys()].find((file) => file.endsWith('.js')) as string;
    const file = await invokeBundle(
      assets.get('ConsoleFile') as string,
      httpEvent({ path: `/console/${script}`, routeKey: 'GET /console/{file}', pathParameters: { file: script } }),
      {},
    );
    expect(file.result.statusCode).toBe(200);
    expect(file.result.headers?.['Content-Type']).toBe('text/javascript; charset=utf-8');
    expect(file.result.body).toBe(built.get(script));
  });

  it('answers the fallback with a JSON 405 and Allow', async () => {
    const answer = await invokeBundle(
      assets.get('Fallback') as string,
      httpEvent({ method: 'DELETE', path: '/api/commands', routeKey: '$default' }),
      {},
    );
    expect(answer.result.statusCode).toBe(405);
    expect(answer.result.headers?.Allow ?? answer.result.headers?.allow).toBe('GET');
  });
});

/** The sample event of a function (events/<handler>.json) with a fresh token carrying its route's scopes. */
async function sampleEvent(route: Route): Promise<APIGatewayProxyEventV2> {
  const event = await readEvent(path.join(PROJECT_ROOT, 'events', `${route.handler}.json`));
  return prepareEvent(event, route.handler, { env: TEST_ENV });
}

describe.skipIf(!HAS_REDIS)('every function that takes a token, bundled, on Redis', () => {
  const prefix = uniquePrefix('bundle');
  let bridge: UpstashBridge;

  beforeAll(async () => {
    bridge = await startBridge();
  });

  afterAll(async () => {
    const client = await tcpClient();
    await deletePrefix(client, prefix);
    client.destroy();
    await bridge?.close();
  });

  it('finds every script it runs in its own lua/ folder: its sample event is answered by its script, never a 500 or a 503', async () => {
    const withToken = routes.filter((route) => route.scopes !== undefined);
    const runs: { name: string; route: Route; event: () => Promise<APIGatewayProxyEventV2> }[] = withToken.map((route) => ({
      name: route.name,
      route,
      event: () => sampleEvent(route),
    }));
    // The sample revokes a subject (raise-cutoff); a jti and its exp take the other branch (revoke-token).
    runs.push({
      name: 'PostRevocations (jti)',
      route: routes.find((route) => route.name === 'PostRevocations') as Route,
      event: async () => ({
        ...(await sampleEvent(routes.find((route) => route.name === 'PostRevocations') as Route)),
        body: JSON.stringify({ jti: 'bundle-test-jti', exp: Math.floor(Date.now() / 1000) + 600 }),
      }),
    });
    // The functions that sign get a key file (no KMS here; the AWS SDK is not beside the bundle).
    const env = { ...TEST_ENV, ...redisEnv(bridge, prefix), COMMAND_SIGNING_KEY_FILE: path.join(outdir, 'command-signing-key.pem') };
    const answers = await inPool(runs, 2, async (run) => {
      const answer = await invokeBundle(assets.get(run.route.name) as string, await run.event(), env);
      return { name: run.name, status: answer.result.statusCode, body: answer.result.body ?? '' };
    });
    // A missing script is a 503 (500 for anything else thrown); a 400, 401, 403 or 429 would be
    // a refusal before the store ran the route's script, which would prove nothing: each sample
    // is answered by its script (a 404 is its answer about a command or job no one made).
    const failed = answers.filter((answer) => ![200, 201, 204, 404].includes(answer.status));
    expect(failed, JSON.stringify(failed, null, 2)).toEqual([]);
    expect(answers.map((answer) => answer.name).sort()).toEqual(runs.map((run) => run.name).sort());
  }, 120_000);
});

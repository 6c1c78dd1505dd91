/**
 * No handler can reach a store without its admission (lib/store/types.ts):
 *
 * - by type: a handler's context carries the admitted stores, and its runtime no stores at all;
 * - by source: no file under functions/ names the unchecked view or a way to build stores;
 * - by behaviour, over the route table itself (a new route cannot be left out): every route that
 *   takes a token, run through its real handler with a revoked token on both stores, answers 401
 *   token_revoked and its store action does not run. In memory the stores below the gate record
 *   every action they run, and none ran; on both stores the state is left as it was (a poll does
 *   not stamp deliveredAt, a result is not recorded, a config is not written, nothing is enqueued
 *   or revoked, no group changes, no job is created or canceled); on Redis the refusal costs one
 *   Upstash command, the action's script that the gate stopped (or the gate alone).
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import type { AuthContext } from '../../lib/http/auth.ts';
import { ROUTES } from '../../lib/http/routes.ts';
import { createMemoryStores, memoryBackend } from '../../lib/store/memory.ts';
import type { AdmittedStores } from '../../lib/store/types.ts';
import { type EventInput, type Handler, invoke } from '../helpers/lambda.ts';
import { memoryTarget, storeTargets } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ALL_SCOPES = 'agent:commands agent:results admin:commands admin:config admin:revoke admin:groups admin:jobs';

type RouteName = keyof typeof ROUTES;
/** The routes that take a token: every route whose scopes are not undefined. */
type TokenRoute = { [K in RouteName]: (typeof ROUTES)[K]['scopes'] extends undefined ? never : K }[RouteName];
/** What a request to a route carries beyond its method and path: the values of its path's {params}, a body, a query. */
type RouteInput = Pick<EventInput, 'pathParameters' | 'body' | 'query'>;

const tokenRoutes = Object.values(ROUTES).filter((route) => route.scopes !== undefined);

const targets = storeTargets('admission');

describe('the route table', () => {
  it('leaves to the auth middleware only the routes whose handler touches no store', () => {
    const byMiddleware = tokenRoutes.filter((route) => !('admitsInStore' in route && route.admitsInStore === true));

    expect(byMiddleware.map((route) => route.name).sort()).toEqual(['TokenInfo', 'WhoAmI']);
  });
});

describe('a handler reaches the stores only admitted', () => {
  it('by type: its context carries the admitted stores, and its runtime none', () => {
    expectTypeOf<AuthContext['stores']>().toEqualTypeOf<AdmittedStores>();
    expectTypeOf<AuthContext['runtime']>().not.toHaveProperty('stores');
  });

  it('by source: no file under functions/ names the unchecked view or a way to build stores', () => {
    const forbidden =
      /\bunchecked\b|\bstoreViews\b|\w+Backend\b|\bcreate(Memory|Upstash)Stores\b|\b(Memory|Upstash)\w*Store\b|\bcreateRuntime\b/;
    const offending: string[] = [];
    for (const file of readdirSync(path.join(ROOT, 'functions')).filter((name) => name.endsWith('.ts'))) {
      const source = readFileSync(path.join(ROOT, 'functions', file), 'utf8');
      for (const [index, line] of source.split('\n').entries())
        if (forbidden.test(line)) offending.push(`functions/${file}:${index + 1}: ${line}`);
    }

    expect(offending).toEqual([]);
  });
});

/** A memory backend whose stores, below the gate, write down every action they run into `ran`. */
function watchedMemoryBackend(ran: string[]) {
  const config = loadConfig({ ...TEST_ENV });
  const stores = createMemoryStores(config, () => Math.floor(Date.now() / 1000));
  // The revocation store is also the gate: its reads (admitNow, isRevoked) are not actions.
  const actions = (label: string, store: object, only?: readonly string[]) =>
    new Proxy(store, {
      get(object, property) {
        const value = Reflect.get(object, property);
        if (typeof value !== 'function' || (only !== undefined && !only.includes(String(property)))) return value;
        return (...args: unknown[]) => {
          ran.push(`${label}.${String(property)}`);
          return (value as (...a: unknown[]) => unknown).apply(object, args);
        };
      },
    });
  return memoryBackend({
    commands: actions('commands', stores.commands) as typeof stores.commands,
    groups: actions('groups', stores.groups) as typeof stores.groups,
    jobs: actions('jobs', stores.jobs) as typeof stores.jobs,
    revocations: actions('revocations', stores.revocations, ['revokeToken', 'revokeSubject', 'registerToken']) as typeof stores.revocations,
  });
}

describe.each(targets)('a revoked token on every route of the table ($name store)', (store) => {
  it('gets 401 token_revoked (one Upstash command on Redis), its store action does not run, and the store is left as it was', async () => {
    const ran: string[] = [];
    const rt = store.name === 'memory' ? store.use({}, { stores: watchedMemoryBackend(ran) }) : store.use();
    const { commands, groups, jobs, revocations } = rt.stores.unchecked;
    const agent = `agent-${randomUUID()}`;
    const victim = `agent-${randomUUID()}`;
    const member = `agent-${randomUUID()}`;
    const group = `group-${randomUUID()}`;
    const now = rt.clock.now();
    const commandId = randomUUID();
    await commands.enqueue({ commandId, agentId: agent, command: 'rotate', args: {}, createdAt: now, expiresAt: now + 600_000 });
    await commands.putConfig(agent, { poll_interval_seconds: 15 });
    await groups.join(group, member);
    const jobId = randomUUID();
    const job = { jobId, command: 'rotate', args: {}, targets: { agents: [victim], groups: [] }, createdAt: now, expiresAt: now + 600_000 };
    await jobs.create({ ...job, continuous: false });
    const jti = randomUUID();
    const token = await signToken({ sub: agent, jti, scope: ALL_SCOPES });
    await revocations.revokeToken(jti, Math.floor(now / 1000) + 600);
    const before = { command: await commands.get(agent, commandId), config: await commands.getConfig(agent) };

    // What each route is called with; valid, so that only the admission can refuse it.
    const inputs: Record<TokenRoute, RouteInput> = {
      GetCommands: {},
      PostResults: { body: { command_id: commandId, status: 'completed', result: {} } },
      GetConfig: {},
      TokenInfo: {},
      WhoAmI: {},
      EnqueueCommand: { pathParameters: { agentId: agent }, body: { command: 'x', args: {} } },
      GetCommand: { pathParameters: { agentId: agent, commandId } },
      ListCommands: { pathParameters: { agentId: agent } },
      CancelCommand: { pathParameters: { agentId: agent, commandId } },
      PutConfig: { pathParameters: { agentId: agent }, body: { a: 1 } },
      PostRevocations: { body: { sub: victim } },
      PutGroupMember: { pathParameters: { group, agentId: agent } },
      DeleteGroupMember: { pathParameters: { group, agentId: member } },
      PostGroupMembers: { pathParameters: { group }, body: { add: [agent], remove: [member] } },
      GetGroupMembers: { pathParameters: { group } },
      GetAgentGroups: { pathParameters: { agentId: agent } },
      CreateJob: { body: { command: 'x', targets: { agents: [agent] } } },
      ListJobs: {},
      GetJob: { pathParameters: { jobId } },
      ListJobExecutions: { pathParameters: { jobId } },
      GetJobExecution: { pathParameters: { jobId, agentId: victim } },
      CancelJob: { pathParameters: { jobId }, body: { force: true } },
      PauseJob: { pathParameters: { jobId }, body: { reason: 'hold' } },
      ResumeJob: { pathParameters: { jobId } },
    };
    const calls: [string, Handler, EventInput][] = [];
    for (const route of tokenRoutes) {
      const input = (inputs as Record<string, RouteInput | undefined>)[route.name];
      if (input === undefined) throw new Error(`no input for the route ${route.name}: add one`);
      const params = input.pathParameters ?? {};
      const filled = route.path.replace(/\{(\w+)\}/g, (_whole, name: string) => {
        const value = params[name];
        if (value === undefined) throw new Error(`${route.name}: no value for {${name}}`);
        return encodeURIComponent(value);
      });
      const { handler } = (await import(`../../functions/${route.handler}.ts`)) as { handler: Handler };
      calls.push([route.name, handler, { ...input, method: route.method, path: filled, routeKey: `${route.method} ${route.path}` }]);
    }
    expect(calls.map(([name]) => name)).toEqual(tokenRoutes.map((route) => route.name));
    ran.length = 0;

    // Twice: on Redis the first pass loads each script on the bridge (EVALSHA, NOSCRIPT, EVAL);
    // the second counts what a refusal costs there, one command on every route.
    for (const pass of [1, 2]) {
      for (const [name, handler, input] of calls) {
        const before = store.name === 'redis' ? store.bridge.requests : 0;
        const answer = await invoke(handler, { ...input, token });
        const requests = store.name === 'redis' ? store.bridge.requests - before : 1;
        expect({ name, status: answer.status, reason: answer.body.error_description, ...(pass === 2 ? { requests } : {}) }).toEqual({
          name,
          status: 401,
          reason: 'token_revoked',
          ...(pass === 2 ? { requests: 1 } : {}),
        });
      }
    }

    expect(ran).toEqual([]);
    expect(await commands.get(agent, commandId)).toEqual(before.command);
    expect(before.command?.deliveredAt).toBeUndefined();
    expect(await commands.getConfig(agent)).toEqual(before.config);
    expect(await commands.fetch(agent, 10, rt.clock.now())).toHaveLength(1); // nothing enqueued
    expect(await groups.groupsOf(agent)).toEqual([]);
    expect(await groups.groupsOf(member)).toEqual([group]);
    const listed = await jobs.list({ statuses: undefined, limit: 10, before: 0 }, rt.clock.now());
    expect(listed.jobs.map((one) => [one.spec.jobId, one.status])).toEqual([[jobId, 'in_progress']]); // none created, none canceled
    expect(await revocations.isRevoked({ jti: undefined, sub: victim, iat: Math.floor(now / 1000) - 10, exp: 0 })).toBe(false);
  });
});

describe('the watched memory stores', () => {
  it('write down an admitted action below the gate (the watch works)', async () => {
    const ran: string[] = [];
    memoryTarget.use({}, { stores: watchedMemoryBackend(ran) });
    const { handler } = (await import(`../../functions/${ROUTES.GetConfig.handler}.ts`)) as { handler: Handler };

    const answer = await invoke(handler, { path: ROUTES.GetConfig.path, token: await signToken({ scope: ALL_SCOPES }) });

    expect(answer.status).toBe(200);
    expect(ran).toEqual(['commands.getConfig']);
  });
});

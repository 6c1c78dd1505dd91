/**
 * Every function enforces the scopes of its own entry in the route table: a token that holds
 * every scope the service knows except one of the route's is answered 403 insufficient_scope
 * naming the route's scopes; the same token with that scope added gets past the scope check.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { SCOPES } from '../../lib/auth/scopes.ts';
import { type Route, routes } from '../../lib/http/routes.ts';
import { type Handler, invoke } from '../helpers/lambda.ts';
import { useTestRuntime } from '../helpers/runtime.ts';
import { signToken } from '../helpers/tokens.ts';

const ALL = Object.values(SCOPES) as string[];

async function handlerOf(route: Route): Promise<Handler> {
  return ((await import(`../../functions/${route.handler}.ts`)) as { handler: Handler }).handler;
}

function eventFor(route: Route, token: string) {
  const pathParameters: Record<string, string> = {};
  const path = route.path.replace(/\{(\w+)\}/g, (_whole, name: string) => {
    pathParameters[name] = name === 'agentId' ? 'agent-001' : 'no-such-command';
    return pathParameters[name] as string;
  });
  return {
    method: route.method,
    path,
    routeKey: `${route.method} ${route.path}`,
    pathParameters,
    token,
    ...(route.bodyLimit === undefined ? {} : { body: {} }),
  };
}

const scoped = routes.filter((route) => route.scopes !== undefined && route.scopes.length > 0);

describe('scopes come from the route table', () => {
  beforeEach(() => {
    useTestRuntime();
  });

  it('has scoped routes to check, each with scopes the service knows', () => {
    expect(scoped.length).toBeGreaterThanOrEqual(7);
    for (const route of scoped) for (const scope of route.scopes ?? []) expect(ALL).toContain(scope);
  });

  it('gives every job route admin:jobs and nothing else, so the checks below cover them', () => {
    const jobRoutes = scoped.filter((route) => route.path.startsWith('/api/jobs'));
    expect(jobRoutes.map((route) => route.name).sort()).toEqual([
      'CancelJob',
      'CreateJob',
      'GetJob',
      'GetJobExecution',
      'ListJobExecutions',
      'ListJobs',
      'PauseJob',
      'ResumeJob',
    ]);
    for (const route of jobRoutes) expect(route.scopes).toEqual([SCOPES.jobs]);
    expect(SCOPES.jobs).toBe('admin:jobs');
  });

  for (const route of scoped) {
    for (const missing of route.scopes ?? []) {
      it(`${route.method} ${route.path}: every scope but ${missing} is 403`, async () => {
        const handler = await handlerOf(route);
        const without = await signToken({ scope: ALL.filter((scope) => scope !== missing).join(' ') });

        const answer = await invoke(handler, eventFor(route, without));

        expect(answer.status).toBe(403);
        expect(answer.body.error).toBe('insufficient_scope');
        expect(answer.headers['www-authenticate']).toContain(`scope="${(route.scopes ?? []).join(' ')}"`);
      });

      it(`${route.method} ${route.path}: with ${missing} the scope check passes`, async () => {
        const handler = await handlerOf(route);
        const withIt = await signToken({ scope: ALL.join(' ') });

        const answer = await invoke(handler, eventFor(route, withIt));

        expect(answer.status).not.toBe(403);
        expect(answer.status).not.toBe(401);
      });
    }
  }
});

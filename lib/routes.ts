/**
 * The route table: the single source of truth for the local server and the CDK stack.
 * Each route names the handler file in functions/ that serves it; paths use API Gateway's
 * `{param}` syntax.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Route {
  /** Stable name, used for the Lambda function's logical id. */
  readonly name: string;
  readonly method: HttpMethod;
  readonly path: string;
  /** Handler file under functions/, without extension. */
  readonly handler: string;
  /** Scopes the token must carry; undefined means no token at all, [] any valid token. */
  readonly scopes: readonly string[] | undefined;
  /** Debug routes can be left out of a deployment. */
  readonly debug?: boolean;
  /** The handler reads a secret (JWT key, Upstash token) and talks to the store. */
  readonly usesStore: boolean;
}

export const SCOPES = {
  commands: 'agent:commands',
  results: 'agent:results',
  adminCommands: 'admin:commands',
  adminConfig: 'admin:config',
  adminRevoke: 'admin:revoke',
} as const;

export const routes: readonly Route[] = [
  { name: 'Health', method: 'GET', path: '/health', handler: 'health', scopes: undefined, usesStore: false },
  { name: 'GetCommands', method: 'GET', path: '/api/commands', handler: 'get-commands', scopes: [SCOPES.commands], usesStore: true },
  { name: 'PostResults', method: 'POST', path: '/api/results', handler: 'post-results', scopes: [SCOPES.results], usesStore: true },
  { name: 'GetConfig', method: 'GET', path: '/api/config', handler: 'get-config', scopes: [SCOPES.commands], usesStore: true },
  { name: 'TokenInfo', method: 'GET', path: '/api/token-info', handler: 'token-info', scopes: [], debug: true, usesStore: true },
  { name: 'WhoAmI', method: 'GET', path: '/api/whoami', handler: 'whoami', scopes: [], debug: true, usesStore: true },
  {
    name: 'EnqueueCommand',
    method: 'POST',
    path: '/api/agents/{agentId}/commands',
    handler: 'enqueue-command',
    scopes: [SCOPES.adminCommands],
    usesStore: true,
  },
  {
    name: 'GetCommand',
    method: 'GET',
    path: '/api/agents/{agentId}/commands/{commandId}',
    handler: 'get-command',
    scopes: [SCOPES.adminCommands],
    usesStore: true,
  },
  {
    name: 'PutConfig',
    method: 'PUT',
    path: '/api/agents/{agentId}/config',
    handler: 'put-config',
    scopes: [SCOPES.adminConfig],
    usesStore: true,
  },
  {
    name: 'PostRevocations',
    method: 'POST',
    path: '/api/revocations',
    handler: 'post-revocations',
    scopes: [SCOPES.adminRevoke],
    usesStore: true,
  },
];

/** Serves every request no route matches: 404, or 405 with Allow when the path exists. */
export const fallbackRoute = { name: 'Fallback', handler: 'fallback' } as const;

export interface RouteMatch {
  readonly route: Route;
  readonly pathParameters: Record<string, string>;
}

interface CompiledRoute {
  readonly route: Route;
  readonly pattern: RegExp;
  readonly params: readonly string[];
}

const compiled: readonly CompiledRoute[] = routes.map((route) => {
  const params: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment);
      if (param?.[1]) {
        params.push(param[1]);
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), params };
});

function match(entry: CompiledRoute, path: string): Record<string, string> | undefined {
  const found = entry.pattern.exec(path);
  if (!found) return undefined;
  const pathParameters: Record<string, string> = {};
  entry.params.forEach((param, i) => {
    pathParameters[param] = found[i + 1] ?? '';
  });
  return pathParameters;
}

/** Finds the route for a method and path, as API Gateway would. */
export function findRoute(method: string, path: string): RouteMatch | undefined {
  for (const entry of compiled) {
    if (entry.route.method !== method) continue;
    const pathParameters = match(entry, path);
    if (pathParameters) return { route: entry.route, pathParameters };
  }
  return undefined;
}

/** The methods that some route serves at this path (for 405 and Allow). */
export function allowedMethods(path: string): HttpMethod[] {
  return compiled.filter((entry) => match(entry, path) !== undefined).map((entry) => entry.route.method);
}

/** Matching a method and path against the route table, as API Gateway would (local server, 405 fallback). */
import { type HttpMethod, type Route, routes } from './routes.ts';

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

/** Finds the route for a method and path. */
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

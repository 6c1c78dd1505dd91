/**
 * The one builder of API Gateway HTTP API (payload 2.0) events outside AWS: the local server
 * (from a real HTTP request), `npm run invoke`, the tests and the benchmark. A fresh object on
 * every call (Middy's body parser and header normaliser change the event they are given).
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

export interface EventInput {
  /** GET by default. */
  readonly method?: string;
  readonly path: string;
  /** `METHOD /path` by default; `$default` for the fallback route. */
  readonly routeKey?: string;
  /** Sent as given (API Gateway lower-cases names; the local server does too). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Adds `authorization: Bearer <token>`. */
  readonly token?: string;
  readonly query?: Readonly<Record<string, string>>;
  /** The query as sent; made from `query` by default. */
  readonly rawQueryString?: string;
  readonly pathParameters?: Readonly<Record<string, string>>;
  /** A string is sent as is, anything else as JSON. */
  readonly body?: unknown;
  readonly isBase64Encoded?: boolean;
  /**
   * The content-type a body gets when `headers` has none: application/json by default; null
   * sends the body without one (the local server passes on what the client sent).
   */
  readonly defaultContentType?: string | null;
  /** requestContext.requestId; a fresh UUID by default. */
  readonly requestId?: string;
  readonly sourceIp?: string;
  readonly protocol?: string;
  /** The request time, epoch ms; now by default. */
  readonly time?: number;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** requestContext.time as API Gateway writes it: `27/Nov/2026:02:00:00 +0000`. */
export function requestTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

export function httpEvent(input: EventInput): APIGatewayProxyEventV2 {
  const method = input.method ?? 'GET';
  const routeKey = input.routeKey ?? `${method} ${input.path}`;
  const headers: Record<string, string> = { ...input.headers };
  if (input.token !== undefined) headers.authorization = `Bearer ${input.token}`;
  let body: string | undefined;
  if (input.body !== undefined) {
    body = typeof input.body === 'string' ? input.body : JSON.stringify(input.body);
    const contentType = input.defaultContentType === undefined ? 'application/json' : input.defaultContentType;
    if (contentType !== null && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type'))
      headers['content-type'] = contentType;
  }
  const query = input.query ?? {};
  const domainName = headers.host ?? 'localhost';
  const time = input.time ?? Date.now();
  return {
    version: '2.0',
    routeKey,
    rawPath: input.path,
    rawQueryString: input.rawQueryString ?? new URLSearchParams(query).toString(),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: { ...query } } : {}),
    ...(input.pathParameters && Object.keys(input.pathParameters).length > 0 ? { pathParameters: { ...input.pathParameters } } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method,
        path: input.path,
        protocol: input.protocol ?? 'HTTP/1.1',
        sourceIp: input.sourceIp ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: input.requestId ?? randomUUID(),
      routeKey,
      stage: '$default',
      time: requestTime(time),
      timeEpoch: time,
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: input.isBase64Encoded ?? false,
  };
}

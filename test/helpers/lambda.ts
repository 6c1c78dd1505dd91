/** Builders for API Gateway HTTP API (payload 2.0) events and Lambda contexts. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { localLambdaContext } from '../../dev/lambda-context.ts';

export interface EventInput {
  method?: string;
  path: string;
  routeKey?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  pathParameters?: Record<string, string>;
  body?: unknown;
  token?: string;
}

let counter = 0;

export function httpEvent(input: EventInput): APIGatewayProxyEventV2 {
  const method = input.method ?? 'GET';
  const headers: Record<string, string> = { ...input.headers };
  if (input.token !== undefined) headers.authorization = `Bearer ${input.token}`;
  let body: string | undefined;
  if (input.body !== undefined) {
    body = typeof input.body === 'string' ? input.body : JSON.stringify(input.body);
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  }
  const query = input.query ?? {};
  const rawQueryString = new URLSearchParams(query).toString();
  counter += 1;
  return {
    version: '2.0',
    routeKey: input.routeKey ?? `${method} ${input.path}`,
    rawPath: input.path,
    rawQueryString,
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(input.pathParameters ? { pathParameters: input.pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path: input.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: `req-${counter}`,
      routeKey: input.routeKey ?? `${method} ${input.path}`,
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: false,
  };
}

export function lambdaContext(functionName = 'test-function', timeoutMs = 10_000): Context {
  counter += 1;
  return localLambdaContext(functionName, { requestId: `aws-req-${counter}`, timeoutMs });
}

export type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: any;
  raw: string | undefined;
}

/** Calls an exported handler and decodes its answer. */
export async function invoke(handler: Handler, input: EventInput): Promise<Answer> {
  const result = (await handler(httpEvent(input), lambdaContext())) as APIGatewayProxyStructuredResultV2;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name.toLowerCase()] = String(value);
  const raw = result.body;
  let body: unknown = raw;
  if (raw !== undefined && headers['content-type']?.startsWith('application/json')) body = JSON.parse(raw);
  return { status: result.statusCode ?? 200, headers, body, raw };
}

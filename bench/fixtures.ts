/**
 * What every figure shares: the environment the service is configured from, HS256 tokens
 * signed directly with node:crypto, and API Gateway HTTP API (payload 2.0) events and Lambda
 * contexts, made fresh per call (Middy's body parser and header normaliser change the event).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

/** 32+ bytes: also accepted in production mode (AWS_LAMBDA_FUNCTION_NAME set). */
export const BENCH_SECRET = 'bench-secret-0123456789abcdef-0123456789abcdef';
export const BENCH_ISSUER = 'https://auth.bench.local';
export const BENCH_AUDIENCE = 'biz-service';

export const BENCH_ENV: Record<string, string> = {
  JWT_SECRET_KEY: BENCH_SECRET,
  JWT_ISSUER: BENCH_ISSUER,
  JWT_AUDIENCE: BENCH_AUDIENCE,
};

export const AGENT_ID = 'agent-bench-001';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact HS256 JWS with the claims an agent token carries. */
export function signToken(claims: Record<string, unknown> = {}, secret = BENCH_SECRET): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: BENCH_ISSUER,
    aud: BENCH_AUDIENCE,
    sub: AGENT_ID,
    iat: now,
    exp: now + 3600,
    jti: `jti-${randomBytes(9).toString('base64url')}`,
    scope: 'agent:commands agent:results',
    ...claims,
  };
  const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export interface EventTemplate {
  readonly method: string;
  readonly path: string;
  readonly routeKey: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly pathParameters?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export function template(method: string, path: string, options: Partial<EventTemplate> & { token?: string } = {}): EventTemplate {
  const headers: Record<string, string> = {
    host: 'api.bench.local',
    'user-agent': 'agent/1.0',
    accept: 'application/json',
    ...options.headers,
  };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  return {
    method,
    path,
    routeKey: options.routeKey ?? `${method} ${path}`,
    headers,
    ...(options.query ? { query: options.query } : {}),
    ...(options.pathParameters ? { pathParameters: options.pathParameters } : {}),
    ...(options.body !== undefined ? { body: options.body } : {}),
  };
}

let sequence = 0;

/** A fresh event from a template, shaped as API Gateway sends it. */
export function eventFrom(t: EventTemplate): APIGatewayProxyEventV2 {
  sequence += 1;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: t.routeKey,
    rawPath: t.path,
    rawQueryString: t.query ? new URLSearchParams(t.query).toString() : '',
    headers: { ...t.headers },
    ...(t.query ? { queryStringParameters: { ...t.query } } : {}),
    ...(t.pathParameters ? { pathParameters: { ...t.pathParameters } } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'bench',
      domainName: 'api.bench.local',
      domainPrefix: 'api',
      http: { method: t.method, path: t.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'agent/1.0' },
      requestId: `req-${sequence}`,
      routeKey: t.routeKey,
      stage: '$default',
      time: '27/Nov/2026:02:00:00 +0000',
      timeEpoch: now,
    },
    ...(t.body !== undefined ? { body: t.body } : {}),
    isBase64Encoded: false,
  };
}

/** A Lambda-like context with a real getRemainingTimeInMillis. */
export function contextFor(functionName: string, timeoutMs = 10_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: `aws-req-${++sequence}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

export type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

/** Calls a handler once and returns its status code; throws when the status is not the expected one. */
export async function callExpecting(handler: Handler, t: EventTemplate, status: number, name: string): Promise<void> {
  const result = (await handler(eventFrom(t), contextFor(name))) as { statusCode?: number; body?: string };
  if (result?.statusCode !== status) {
    throw new Error(`${name}: expected ${status}, got ${result?.statusCode} ${result?.body ?? ''}`);
  }
}

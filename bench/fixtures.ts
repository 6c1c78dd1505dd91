/**
 * What every figure shares: the environment the service is configured from, and the bench's
 * identity for the shared builders in dev/ (token minter, API Gateway HTTP API events and
 * Lambda contexts, made fresh per call: Middy's body parser and header normaliser change the event).
 */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type EventInput, httpEvent } from '../dev/events.ts';
import { lambdaContext } from '../dev/lambda-context.ts';
import { type Signer, signToken as sign } from '../dev/token.ts';

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

const BENCH_SIGNER: Signer = { secret: BENCH_SECRET, issuer: BENCH_ISSUER, audience: BENCH_AUDIENCE };

/** An agent token (AGENT_ID, both agent scopes) for an hour, `claims` on top. */
export function signToken(claims: Record<string, unknown> = {}): Promise<string> {
  return sign(BENCH_SIGNER, { sub: AGENT_ID, ...claims }, { expiresIn: 3600 });
}

/** An event's input with its headers written out (the chain figure reads the token and body from them). */
export interface EventTemplate extends EventInput {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export function template(
  method: string,
  path: string,
  options: Omit<EventInput, 'method' | 'path' | 'body'> & { body?: string } = {},
): EventTemplate {
  const { token, ...rest } = options;
  const headers: Record<string, string> = {
    host: 'api.bench.local',
    'user-agent': 'agent/1.0',
    accept: 'application/json',
    ...options.headers,
  };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  return { ...rest, method, path, headers };
}

/** A fresh event from a template, shaped as API Gateway sends it. */
export function eventFrom(t: EventTemplate): APIGatewayProxyEventV2 {
  return httpEvent(t);
}

/** A Lambda-like context with a real getRemainingTimeInMillis. */
export function contextFor(functionName: string, timeoutMs = 10_000): Context {
  return lambdaContext(functionName, { timeoutMs, logStreamName: 'bench' });
}

export type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

/** Calls a handler once and returns its status code; throws when the status is not the expected one. */
export async function callExpecting(handler: Handler, t: EventTemplate, status: number, name: string): Promise<void> {
  const result = (await handler(eventFrom(t), contextFor(name))) as { statusCode?: number; body?: string };
  if (result?.statusCode !== status) {
    throw new Error(`${name}: expected ${status}, got ${result?.statusCode} ${result?.body ?? ''}`);
  }
}

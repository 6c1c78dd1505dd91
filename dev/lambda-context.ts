/**
 * The one Lambda-like context for running handlers outside Lambda (local server, invoke tool,
 * tests, benchmarks): the fields Middy and the handlers read, and a real getRemainingTimeInMillis.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export interface LocalContextOptions {
  /** awsRequestId; a fresh UUID by default. */
  requestId?: string;
  /** What getRemainingTimeInMillis counts down from: 10 s by default. */
  timeoutMs?: number;
  logStreamName?: string;
}

export function lambdaContext(functionName = 'local', options: LocalContextOptions = {}): Context {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  return {
    ...contextFields(functionName, options),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

type ContextFields = Omit<Context, 'getRemainingTimeInMillis' | 'done' | 'fail' | 'succeed'>;

function contextFields(functionName: string, options: LocalContextOptions): ContextFields {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: options.requestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: options.logStreamName ?? 'local',
  };
}

/**
 * For a child process that runs a bundle with nothing to import: the same context, as JSON in
 * the environment variable that `contextInChild` reads back.
 */
export function contextForChild(functionName: string, options: LocalContextOptions = {}): string {
  return JSON.stringify({ fields: contextFields(functionName, options), timeoutMs: options.timeoutMs ?? 10_000 });
}

/** JavaScript that declares `const context` from `contextForChild`'s JSON in process.env[variable]. */
export function contextInChild(variable: string): string {
  return `const { fields: contextFields, timeoutMs: contextTimeoutMs } = JSON.parse(process.env.${variable});
const contextDeadline = Date.now() + contextTimeoutMs;
const context = { ...contextFields, getRemainingTimeInMillis: () => Math.max(0, contextDeadline - Date.now()), done() {}, fail() {}, succeed() {} };`;
}

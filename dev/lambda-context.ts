/**
 * A Lambda-like context for running handlers outside Lambda (local server, invoke tool, tests,
 * benchmarks): the fields Middy and the handlers read, and a real getRemainingTimeInMillis.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export interface LocalContextOptions {
  requestId?: string;
  timeoutMs?: number;
  logStreamName?: string;
}

export function localLambdaContext(functionName: string, options: LocalContextOptions = {}): Context {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: options.requestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: options.logStreamName ?? 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

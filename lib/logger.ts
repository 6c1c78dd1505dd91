/**
 * Structured JSON logs (Powertools Logger), made once per process. The level comes from
 * POWERTOOLS_LOG_LEVEL (or LOG_LEVEL); tokens are never logged.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'biz-service',
  logLevel: (process.env.POWERTOOLS_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'INFO').toUpperCase() as 'INFO',
});

/**
 * The keys that tie a log line to its request: the request id of the answer's X-Request-Id
 * (API Gateway's, in its access log too), Lambda's own request id, the function, whether this
 * was the instance's first request, and, once the token is verified, the agent. Read from the
 * context (lib/http/observe.ts puts the request's record there), never from module state.
 */
export function requestKeys(context: {
  awsRequestId?: string;
  functionName?: string;
  auth?: { sub: string };
  observation?: { requestId: string; coldStart: boolean };
}): Record<string, string | boolean> {
  const keys: Record<string, string | boolean> = {};
  const seen = context.observation;
  if (seen) keys.request_id = seen.requestId;
  else if (context.awsRequestId) keys.request_id = context.awsRequestId;
  if (context.awsRequestId) keys.function_request_id = context.awsRequestId;
  if (context.functionName) keys.function_name = context.functionName;
  if (seen) keys.cold_start = seen.coldStart;
  if (context.auth) keys.agent_id = context.auth.sub;
  return keys;
}

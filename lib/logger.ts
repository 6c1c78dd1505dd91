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
 * The keys that tie a log line to its request: Lambda's request id and, once the token is
 * verified, the agent. Added where a line is written, so a request that logs nothing costs nothing.
 */
export function requestKeys(context: { awsRequestId?: string; auth?: { sub: string } }): Record<string, string> {
  const keys: Record<string, string> = {};
  if (context.awsRequestId) keys.request_id = context.awsRequestId;
  if (context.auth) keys.agent_id = context.auth.sub;
  return keys;
}

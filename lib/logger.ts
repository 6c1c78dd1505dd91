/**
 * Structured JSON logs (Powertools Logger), made once per process. The level comes from
 * POWERTOOLS_LOG_LEVEL (or LOG_LEVEL); tokens are never logged.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'biz-service',
  logLevel: (process.env.POWERTOOLS_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'INFO').toUpperCase() as 'INFO',
});

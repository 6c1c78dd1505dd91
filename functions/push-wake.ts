/**
 * The wake function: consumes the wake queue (SQS), one task per message (lib/push/tasks.ts),
 * and posts the wakes, walks a job's targets in bounded pages, closes evicted and revoked
 * connections (lib/push/worker.ts). A task whose store call fails is handed back to the queue
 * (a batch item failure: SQS retries it, then its dead-letter queue keeps it); failed posts are
 * counted, not retried (the agent's safety poll comes anyway). One log line per task, which is
 * also its EMF document (WakePosts, WakePostsFailed, WakeGone).
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger } from '../lib/logger.ts';
import { recordWake, wakeDeps } from '../lib/push/service.ts';
import { parseTask } from '../lib/push/tasks.ts';
import { runWakeTask } from '../lib/push/worker.ts';

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const deps = await wakeDeps();
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    try {
      const task = parseTask(record.body);
      recordWake(task, await runWakeTask(task, deps));
    } catch (error) {
      logger.error('wake task failed', { error: error as Error, message_id: record.messageId });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
}

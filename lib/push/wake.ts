/**
 * What a handler calls once its store call has succeeded: queue a wake task (lib/push/tasks.ts).
 * Never throws and never fails the request that asked: a task that cannot be queued is logged
 * and counted (WakeFailed), and the agent still learns of the change at its safety poll.
 */
import type { Context } from 'aws-lambda';
import { count, METRIC } from '../http/observe.ts';
import { logger, requestKeys } from '../logger.ts';
import { pushRuntime } from './runtime.ts';
import type { WakeTask } from './tasks.ts';

export async function wake(context: Context, task: WakeTask): Promise<void> {
  const push = pushRuntime();
  if (push === undefined) return;
  try {
    await push.queue.send(task);
    count(context, METRIC.wakesQueued);
  } catch (error) {
    count(context, METRIC.wakeFailed);
    logger.warn('wake not queued', { ...requestKeys(context), wake: task.kind, error: error as Error });
  }
}

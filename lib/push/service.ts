/**
 * What the push functions with no token use of the runtime: the connection registry and the job
 * reads without a gate (`$disconnect` carries no token; the wake function acts for the service),
 * named here so that no file under functions/ reaches for the unchecked stores itself, and the
 * wake function's per-task metrics.
 */
import { METRIC, METRICS_NAMESPACE } from '../http/metric-names.ts';
import { logger } from '../logger.ts';
import { runtime } from '../runtime.ts';
import type { ConnectionStore } from '../store/connections.ts';
import { pushRuntime } from './runtime.ts';
import type { WakeTask } from './tasks.ts';
import type { WakeDeps, WakeReport } from './worker.ts';

/** The registry with no gate, for `$disconnect`'s removal. */
export async function pushRegistry(): Promise<ConnectionStore> {
  return (await runtime()).stores.unchecked.connections;
}

/** What the wake worker needs; throws when the push channel is not configured here. */
export async function wakeDeps(): Promise<WakeDeps> {
  const rt = await runtime();
  const push = pushRuntime();
  if (push?.gateway === undefined) throw new Error('the wake function needs PUSH_WAKE_QUEUE_URL and PUSH_CONNECTIONS_ENDPOINT');
  const { connections, jobs } = rt.stores.unchecked;
  return { connections, jobs, gateway: push.gateway, queue: push.queue, clock: rt.clock };
}

const metricsOn = process.env.POWERTOOLS_METRICS_DISABLED !== 'true';
const namespace = process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE;

/** One line per wake task: what it did, and the EMF document of its counts. */
export function recordWake(task: WakeTask, report: WakeReport): void {
  const line: Record<string, unknown> = { wake: task.kind, ...report };
  if (metricsOn) {
    Object.assign(line, {
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: namespace,
            Dimensions: [['service']],
            Metrics: [
              { Name: METRIC.wakePosts, Unit: 'Count' },
              { Name: METRIC.wakePostsFailed, Unit: 'Count' },
              { Name: METRIC.wakeGone, Unit: 'Count' },
            ],
          },
        ],
      },
      [METRIC.wakePosts]: report.posted,
      [METRIC.wakePostsFailed]: report.failed,
      [METRIC.wakeGone]: report.gone,
    });
  }
  logger.info('wake', line);
}

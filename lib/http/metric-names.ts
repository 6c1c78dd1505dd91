/** The service's metric names and namespace, stated once: lib/http/observe.ts writes them, infra/dashboard.ts graphs them. */
export const METRIC = {
  requests: 'Requests',
  duration: 'Duration',
  storeLatency: 'StoreLatency',
  rateLimited: 'RateLimited',
  tokenRejected: 'TokenRejected',
  unavailable: 'Unavailable',
  revocations: 'Revocations',
  commandsEnqueued: 'CommandsEnqueued',
  commandsDelivered: 'CommandsDelivered',
  commandsCompleted: 'CommandsCompleted',
  commandsFailed: 'CommandsFailed',
  commandsTimedOut: 'CommandsTimedOut',
  jobsCreated: 'JobsCreated',
  jobsCanceled: 'JobsCanceled',
  wakesQueued: 'WakesQueued',
  wakeFailed: 'WakeFailed',
  wakePosts: 'WakePosts',
  wakePostsFailed: 'WakePostsFailed',
  wakeGone: 'WakeGone',
  pushConnects: 'PushConnects',
} as const;

export type CountMetric =
  | typeof METRIC.revocations
  | typeof METRIC.commandsEnqueued
  | typeof METRIC.commandsDelivered
  | typeof METRIC.commandsCompleted
  | typeof METRIC.commandsFailed
  | typeof METRIC.commandsTimedOut
  | typeof METRIC.jobsCreated
  | typeof METRIC.jobsCanceled
  | typeof METRIC.wakesQueued
  | typeof METRIC.wakeFailed
  | typeof METRIC.pushConnects;

export const METRICS_NAMESPACE = 'BizService';

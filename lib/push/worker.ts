/**
 * The wake function's work (docs/push.md#the-fan-out): one task of the wake queue, done in
 * bounded steps. A job is walked in pages of its pending targets (JOB_EXECUTIONS: at most 250
 * targets examined per store command), each page's connected agents found in one store command
 * (PUSH_CONNECTIONS), and their connections posted to POST_CONCURRENCY at a time; after
 * PAGES_PER_TASK pages the task queues its own continuation, so no invocation runs long whatever
 * the job's size. With a rollout of N per minute, a task wakes one page of at most N pending
 * targets and queues the next a minute later: no more agents are woken than the rollout admits.
 * A connection that is gone (410) is removed from the registry; any other failed post is counted
 * and left (the agent's safety poll still comes).
 */
import { isUnderCutoff } from '../auth/revocation.ts';
import type { Clock } from '../clock.ts';
import type { Connection, ConnectionStore } from '../store/connections.ts';
import { MAX_AGENTS_PER_LOOKUP } from '../store/connections.ts';
import type { JobStore } from '../store/types.ts';
import type { ConnectionGateway } from './gateway.ts';
import { type WakeReason, wakeMessage } from './messages.ts';
import type { WakeQueue } from './queue.ts';
import type { WakeTask } from './tasks.ts';

/** Posts in flight at once from one task. */
export const POST_CONCURRENCY = 50;
/** Pending targets one page of a job's walk examines (one store command), and the most a lookup takes. */
export const TARGET_PAGE = MAX_AGENTS_PER_LOOKUP;
/** Pages one task walks before it queues its continuation: 10,000 targets, a few seconds of posts. */
export const PAGES_PER_TASK = 40;

export interface WakeDeps {
  /** The registry, with no gate: the wake function acts for the service, not for a token. */
  readonly connections: ConnectionStore;
  readonly jobs: Pick<JobStore, 'get' | 'executions'>;
  readonly gateway: ConnectionGateway;
  readonly queue: WakeQueue;
  readonly clock: Clock;
}

/** What one task did, for its log line and metrics. */
export interface WakeReport {
  /** Connections posted to. */
  posted: number;
  /** Posts that failed otherwise than gone. */
  failed: number;
  /** Connections found gone (410) and removed. */
  gone: number;
  /** Connections closed. */
  closed: number;
  /** Continuations queued (a job's next pages). */
  continued: number;
}

export async function runWakeTask(task: WakeTask, deps: WakeDeps): Promise<WakeReport> {
  const report: WakeReport = { posted: 0, failed: 0, gone: 0, closed: 0, continued: 0 };
  const now = deps.clock.now();
  switch (task.kind) {
    case 'agents': {
      for (let i = 0; i < task.agentIds.length; i += MAX_AGENTS_PER_LOOKUP) {
        const found = await deps.connections.ofAgents(task.agentIds.slice(i, i + MAX_AGENTS_PER_LOOKUP), now);
        await postAll(found, task.reason, deps, report);
      }
      return report;
    }
    case 'job':
      await walkJob(task.jobId, task.after, deps, report);
      return report;
    case 'close':
      await closeAll(task.connectionIds, deps, report);
      return report;
    case 'revoke': {
      const found =
        'jti' in task
          ? await deps.connections.byJti(task.jti, now)
          : (await deps.connections.ofAgents([task.sub], now)).filter((connection) => isUnderCutoff(connection.iat, task.cutoff));
      await closeAll(
        found.map((connection) => connection.connectionId),
        deps,
        report,
      );
      return report;
    }
  }
}

async function walkJob(jobId: string, from: number, deps: WakeDeps, report: WakeReport): Promise<void> {
  const now = deps.clock.now();
  const job = await deps.jobs.get(jobId, now);
  if (job === undefined || job.status !== 'in_progress') return;
  const perMinute = job.spec.rollout?.maxPerMinute;
  const limit = perMinute === undefined ? TARGET_PAGE : Math.min(perMinute, TARGET_PAGE);
  let after = from;
  for (let pages = 0; ; pages += 1) {
    if (pages === (perMinute === undefined ? PAGES_PER_TASK : 1)) {
      await deps.queue.send({ kind: 'job', jobId, after }, perMinute === undefined ? 0 : 60);
      report.continued += 1;
      return;
    }
    const page = await deps.jobs.executions(jobId, { statuses: ['pending'], limit, after }, deps.clock.now());
    if (page === undefined) return;
    const agents = page.executions.map((entry) => entry.agentId);
    if (agents.length > 0) await postAll(await deps.connections.ofAgents(agents, deps.clock.now()), 'job', deps, report);
    if (page.nextAfter === undefined) return;
    after = page.nextAfter;
  }
}

/** Posts the wake to every connection, POST_CONCURRENCY at a time; a gone one is removed. */
async function postAll(connections: readonly Connection[], reason: WakeReason, deps: WakeDeps, report: WakeReport): Promise<void> {
  const message = wakeMessage(reason, deps.clock.now());
  await inBatches(connections, async ({ connectionId }) => {
    try {
      if ((await deps.gateway.post(connectionId, message)) === 'sent') {
        report.posted += 1;
        return;
      }
      report.gone += 1;
      await deps.connections.remove(connectionId);
    } catch {
      report.failed += 1;
    }
  });
}

async function closeAll(connectionIds: readonly string[], deps: WakeDeps, report: WakeReport): Promise<void> {
  await inBatches(connectionIds, async (connectionId) => {
    try {
      await deps.gateway.close(connectionId);
      report.closed += 1;
    } catch {
      report.failed += 1;
    }
  });
}

async function inBatches<T>(items: readonly T[], run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(POST_CONCURRENCY, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await run(item);
    }
  });
  await Promise.all(lanes);
}

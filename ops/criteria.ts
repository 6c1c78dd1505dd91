/**
 * A job's abort criteria against its counts, as the operators' tools show them (`bizops jobs
 * watch` and the web console share this file; it imports nothing, so the console's bundle can
 * take it). The judged executions are those that ended with an outcome (completed, failed,
 * rejected, timed out): after an abort its cancels do not dilute the share that crossed the
 * threshold.
 */

/** A job's `abort` as the API shows it: the criteria, or the older form of one criterion of type `all`. */
export interface AbortView {
  criteria?: { failure_type: string; threshold_percent: number; min_executed: number }[];
  failure_threshold_percent?: number;
  min_executed?: number;
}

/** The counts a criterion reads. */
export interface OutcomeCounts {
  readonly completed: number;
  readonly failed: number;
  readonly rejected: number;
  readonly timed_out: number;
}

export interface Criterion {
  readonly type: string;
  readonly thresholdPercent: number;
  readonly minExecuted: number;
  /** Failures of that type among the judged executions. */
  readonly failures: number;
  /** Failures of that type among the judged executions, in percent (null before any is judged). */
  readonly sharePercent: number | null;
  readonly judged: number;
  readonly met: boolean;
}

/** Every abort criterion of the job: the `criteria` list, or the older threshold form as one criterion of type `all`. */
export function criteriaOf(job: { abort?: AbortView | null }): { type: string; thresholdPercent: number; minExecuted: number }[] {
  const abort = job.abort;
  if (!abort) return [];
  if (Array.isArray(abort.criteria)) {
    return abort.criteria.map((c) => ({ type: c.failure_type, thresholdPercent: c.threshold_percent, minExecuted: c.min_executed }));
  }
  if (typeof abort.failure_threshold_percent === 'number') {
    return [{ type: 'all', thresholdPercent: abort.failure_threshold_percent, minExecuted: abort.min_executed ?? 1 }];
  }
  return [];
}

/** The executions of one failure type: failed, rejected or timed_out alone, or the three (`all`). */
export function failuresOf(type: string, counts: OutcomeCounts): number {
  if (type === 'all') return counts.failed + counts.rejected + counts.timed_out;
  return (counts as unknown as Record<string, number | undefined>)[type] ?? 0;
}

/** Each criterion with the share its failure type has of the judged executions, and whether it is met. */
export function criteriaShares(job: { abort?: AbortView | null; counts: OutcomeCounts }): Criterion[] {
  const { counts } = job;
  const judged = counts.completed + counts.failed + counts.rejected + counts.timed_out;
  return criteriaOf(job).map((c) => {
    const failures = failuresOf(c.type, counts);
    const share = judged > 0 ? (100 * failures) / judged : null;
    return { ...c, failures, sharePercent: share, judged, met: judged >= c.minExecuted && share !== null && share >= c.thresholdPercent };
  });
}

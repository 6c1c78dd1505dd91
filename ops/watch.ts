/**
 * `bizops jobs watch ID`: reads `GET /api/jobs/{id}` every interval (2 s) until the job ends.
 * In a terminal, a live view redrawn in place: a progress bar of terminal/total, the counts per
 * state, the current rate, the failure share against each abort criterion, the elapsed time and
 * an estimate of the rest. Otherwise one line per change (status or counts), for logs and
 * scripts; with --json, the job's JSON as the API gave it, one line per change. Exit 0 when the
 * job completes, 3 when it aborts, 4 when it is canceled. The pure parts (summary, frame, line)
 * are exported for the tests.
 */
import { sleep } from '../dev/agent.ts';
import { type Answer, type Api, ApiError, NetworkError, seg } from './client.ts';
import { type Criterion, criteriaShares } from './criteria.ts';
import { bar, type Counts, countsLine, duration, type Paint, paint, stateColor, terminalOf, totalOf } from './format.ts';

export const WATCH_EXIT: Readonly<Record<string, number>> = { completed: 0, aborted: 3, canceled: 4 };

/** What the job view carries that the watch reads (docs/api.md; the newer members are optional). */
export interface JobView {
  job_id: string;
  command: string;
  status: string;
  counts: Counts;
  created_at: string;
  completed_at?: string | null;
  rollout?: { max_per_minute?: number; current_per_minute?: number } | null;
  abort?: {
    failure_threshold_percent?: number;
    min_executed?: number;
    criteria?: { failure_type: string; threshold_percent: number; min_executed: number }[];
  } | null;
  pause_reason?: string | null;
  cancel_reason?: string | null;
  schedule?: { start_at?: string } | null;
}

/** One reading of the counts, kept to measure the rate. */
export interface Sample {
  readonly at: number;
  readonly terminal: number;
  /** Targets delivered at least once: total less pending. */
  readonly started: number;
}

export interface Summary {
  readonly job: JobView;
  readonly total: number;
  readonly terminal: number;
  /** Executions ending per minute over the last minute of samples (null until two samples). */
  readonly endedPerMinute: number | null;
  /** First deliveries per minute over the last minute of samples. */
  readonly startedPerMinute: number | null;
  readonly criteria: readonly Criterion[];
  readonly elapsedMs: number;
  /** An estimate of the time left (null when nothing moves yet or the job has ended). */
  readonly remainingMs: number | null;
}

/** Samples within the last minute before `now` (at least the two latest). */
function windowRate(samples: readonly Sample[], pick: (s: Sample) => number, now: number): number | null {
  if (samples.length < 2) return null;
  const recent = samples.filter((s) => s.at >= now - 60_000);
  const from = recent.length >= 2 ? (recent[0] as Sample) : (samples[samples.length - 2] as Sample);
  const to = samples[samples.length - 1] as Sample;
  const minutes = (to.at - from.at) / 60_000;
  if (minutes <= 0) return null;
  return Math.max(0, (pick(to) - pick(from)) / minutes);
}

export function summarize(job: JobView, samples: readonly Sample[], now: number): Summary {
  const total = totalOf(job.counts);
  const terminal = terminalOf(job.counts);
  const criteria = criteriaShares(job);
  const endedPerMinute = windowRate(samples, (s) => s.terminal, now);
  const startedPerMinute = windowRate(samples, (s) => s.started, now);
  const created = Date.parse(job.created_at);
  const ended = job.completed_at ? Date.parse(job.completed_at) : undefined;
  const elapsedMs = Math.max(0, (ended ?? now) - created);
  let remainingMs: number | null = null;
  if (ended === undefined && job.status !== 'paused' && terminal < total) {
    const left = total - terminal;
    const estimates: number[] = [];
    if (endedPerMinute !== null && endedPerMinute > 0) estimates.push((left / endedPerMinute) * 60_000);
    // The rollout caps first deliveries: the pending ones take at least pending / rate minutes.
    const rate = job.rollout?.current_per_minute ?? job.rollout?.max_per_minute;
    if (rate !== undefined && rate > 0 && job.counts.pending > 0) estimates.push((job.counts.pending / rate) * 60_000);
    if (estimates.length > 0) remainingMs = Math.max(...estimates);
  }
  return { job, total, terminal, endedPerMinute, startedPerMinute, criteria, elapsedMs, remainingMs };
}

function rate(value: number | null): string {
  return value === null ? '-' : `${value >= 10 ? Math.round(value) : value.toFixed(1)}/min`;
}

function statusText(job: JobView, p: Paint): string {
  const extra =
    job.status === 'paused' && job.pause_reason
      ? ` (${job.pause_reason})`
      : job.status === 'scheduled' && job.schedule?.start_at
        ? ` (starts ${job.schedule.start_at})`
        : (job.status === 'canceled' || job.status === 'aborted') && job.cancel_reason
          ? ` (${job.cancel_reason})`
          : '';
  return stateColor(p, job.status)(job.status) + extra;
}

/** The live view's lines. */
export function frame(summary: Summary, p: Paint, width = 80): string[] {
  const { job, total, terminal } = summary;
  const percent = total === 0 ? 0 : Math.floor((100 * terminal) / total);
  const barWidth = Math.max(10, Math.min(50, width - 30));
  const rollout = job.rollout
    ? `rollout ${job.rollout.current_per_minute ?? job.rollout.max_per_minute ?? '-'}/min${
        job.rollout.current_per_minute !== undefined && job.rollout.max_per_minute !== undefined
          ? ` (max ${job.rollout.max_per_minute})`
          : ''
      } · `
    : '';
  const lines = [
    `${p.bold(`job ${job.job_id}`)}  ${job.command}  ${statusText(job, p)}`,
    `${bar(terminal, total, barWidth)} ${terminal}/${total} terminal (${percent}%)`,
    countsLine(job.counts, p),
    `${rollout}ending ${rate(summary.endedPerMinute)} · first deliveries ${rate(summary.startedPerMinute)}`,
  ];
  for (const c of summary.criteria) {
    const share = c.sharePercent === null ? '-' : `${c.sharePercent.toFixed(1)}%`;
    const text = `abort ${c.type}: ${share} of ${c.judged} judged, threshold ${c.thresholdPercent}% after ${c.minExecuted}`;
    lines.push(c.met ? p.red(`${text}  MET`) : text);
  }
  lines.push(`elapsed ${duration(summary.elapsedMs)} · left ${duration(summary.remainingMs)}`);
  return lines;
}

/** The line written on each change without a terminal. */
export function changeLine(summary: Summary, now: number): string {
  const { job, total, terminal } = summary;
  const time = new Date(now).toISOString().slice(11, 19);
  const criteria = summary.criteria
    .map((c) => `abort ${c.type} ${c.sharePercent === null ? '-' : `${c.sharePercent.toFixed(1)}%`}/${c.thresholdPercent}%`)
    .join(' ');
  return [time, `${job.job_id}`, statusText(job, paint(false)), `${terminal}/${total}`, countsLine(job.counts), criteria]
    .filter((part) => part !== '')
    .join('  ');
}

export interface WatchIo {
  readonly out: (text: string) => void;
  /** Told of a reading that failed for a passing cause (the watch goes on). */
  readonly warn?: (line: string) => void;
  readonly tty: boolean;
  readonly json: boolean;
  readonly paint: Paint;
  readonly columns?: number;
  readonly now?: () => number;
  readonly signal?: AbortSignal;
}

/** Watches until the job ends; answers the exit code (0, 3, 4). */
export async function watchJob(api: Api, jobId: string, intervalMs: number, io: WatchIo): Promise<number> {
  const now = io.now ?? Date.now;
  const samples: Sample[] = [];
  let drawn = 0;
  let lastKey = '';
  for (;;) {
    let answer: Answer;
    try {
      answer = await api.get(`/api/jobs/${seg(jobId)}`);
    } catch (error) {
      // The service or the network unavailable past the client's own retries: the job goes on
      // without us, so the watch waits and reads again; anything else (401, 404) ends it.
      const passing = error instanceof NetworkError || (error instanceof ApiError && (error.status === 429 || error.status >= 500));
      if (!passing) throw error;
      io.warn?.(`bizops: ${(error as Error).message}; reading again in ${intervalMs / 1000} s`);
      await sleep(intervalMs, io.signal);
      continue;
    }
    const job = answer.body as JobView;
    const at = now();
    samples.push({ at, terminal: terminalOf(job.counts), started: totalOf(job.counts) - job.counts.pending });
    while (samples.length > 2 && (samples[1] as Sample).at < at - 60_000) samples.shift();
    const summary = summarize(job, samples, at);
    const key = `${job.status} ${JSON.stringify(job.counts)} ${job.rollout?.current_per_minute ?? ''}`;
    if (io.tty && !io.json) {
      const lines = frame(summary, io.paint, io.columns ?? 80);
      // Back to the first line of the previous frame, clear from there down, draw again.
      io.out(`${drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ''}${lines.join('\n')}\n`);
      drawn = lines.length;
    } else if (key !== lastKey) {
      io.out(`${io.json ? answer.text.trim() : changeLine(summary, at)}\n`);
    }
    lastKey = key;
    const code = WATCH_EXIT[job.status];
    if (code !== undefined) {
      if (!io.json) io.out(`job ${job.status}${job.cancel_reason ? ` (${job.cancel_reason})` : ''}\n`);
      return code;
    }
    await sleep(intervalMs, io.signal);
  }
}

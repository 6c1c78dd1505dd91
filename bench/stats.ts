/**
 * Measuring on a shared, noisy 2-core machine: contenders run interleaved in rounds (the
 * order rotates each round), every round gives each contender's rate and the ratios between
 * them, and figures are reported as the median over rounds with their min–max spread.
 * Every loop is bounded both in operations and in time.
 */

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mid = Math.floor(n / 2);
  const median = n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[n - 1] as number, n };
}

/** Interquartile range (linear interpolation), for process timings with many samples. */
export function quartiles(values: readonly number[]): { q1: number; q3: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => {
    if (sorted.length === 0) return Number.NaN;
    const pos = (sorted.length - 1) * p;
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
  };
  return { q1: at(0.25), q3: at(0.75) };
}

export type Op = () => unknown;
export type AsyncOp = () => Promise<unknown>;

export interface Contender {
  readonly name: string;
  /** Sync ops are run in batches; async ops are awaited one at a time (one event at a time, as in Lambda). */
  readonly op: Op | AsyncOp;
  readonly async?: boolean;
  /** Runs before each of this contender's slices, outside the timing (e.g. put in its runtime). */
  readonly before?: () => void;
}

export interface RoundOptions {
  /** Rounds of interleaved measurement (each gives one rate per contender). */
  readonly rounds: number;
  /** CPU time per contender per round. */
  readonly sliceMs: number;
  /** Upper bound on operations per contender per round. */
  readonly maxOps: number;
  /** Warm-up time per contender before the first round (JIT, caches). */
  readonly warmupMs: number;
}

const BATCH = 32;

/** CPU time of this process (all threads: GC helpers count, they are real cost), in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * Runs a contender for one slice and returns ops per CPU-second of this process. CPU time, not
 * wall time: on a shared machine a slice that is descheduled for a while stays comparable with
 * its neighbours (no I/O happens in these loops, so CPU time is all the time they take). A
 * slice ends after sliceMs of CPU time, maxOps operations, or 5 x sliceMs of wall time.
 */
async function runSlice(contender: Contender, sliceMs: number, maxOps: number): Promise<number> {
  const { op } = contender;
  contender.before?.();
  let ops = 0;
  const wallEnd = performance.now() + 5 * sliceMs;
  const cpuStart = cpuMs();
  let cpu = 0;
  if (contender.async) {
    const asyncOp = op as AsyncOp;
    while (ops < maxOps) {
      for (let i = 0; i < BATCH; i++) await asyncOp();
      ops += BATCH;
      cpu = cpuMs() - cpuStart;
      if (cpu >= sliceMs || performance.now() >= wallEnd) break;
    }
  } else {
    while (ops < maxOps) {
      for (let i = 0; i < BATCH; i++) op();
      ops += BATCH;
      cpu = cpuMs() - cpuStart;
      if (cpu >= sliceMs || performance.now() >= wallEnd) break;
    }
  }
  return (ops / Math.max(cpu, 0.001)) * 1000;
}

/** Rates (ops/s) per contender, one per round, measured interleaved. */
export async function interleaved(contenders: readonly Contender[], options: RoundOptions): Promise<Map<string, number[]>> {
  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (const contender of contenders) await runSlice(contender, options.warmupMs, options.maxOps);
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const contender = contenders[(i + round) % contenders.length] as Contender;
      // Let pending microtasks, timers and GC debt of the previous contender settle first.
      await new Promise((resolve) => setImmediate(resolve));
      rates.get(contender.name)?.push(await runSlice(contender, options.sliceMs, options.maxOps));
    }
  }
  return rates;
}

/** Per-round ratio a/b of two rate series measured in the same rounds. */
export function ratios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((value, i) => value / (b[i] as number));
}

// ---------- formatting ----------

export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtSpread(s: Spread, digits = 0, unit = ''): string {
  return `${fmt(s.median, digits)}${unit} (${fmt(s.min, digits)}–${fmt(s.max, digits)}, n=${s.n})`;
}

export function fmtRatio(s: Spread): string {
  return `${fmt(s.median, 2)}x (${fmt(s.min, 2)}–${fmt(s.max, 2)})`;
}

export function kb(bytes: number): string {
  return `${fmt(bytes / 1024, 1)} KB`;
}

/** A table with left-aligned first column and right-aligned others. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...all.map((row) => (row[col] ?? '').length)));
  const line = (row: readonly string[]) =>
    row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---------- targets ----------

export interface TargetResult {
  readonly figure: string;
  readonly name: string;
  readonly met: boolean;
  /** e.g. "0.42 of the limit, target >= 0.50: short by 16%" */
  readonly detail: string;
}

/** A higher-is-better target. */
export function atLeast(figure: string, name: string, value: number, target: number, unit = ''): TargetResult {
  const met = value >= target;
  const by = met ? '' : `: short by ${fmt(((target - value) / target) * 100, 0)}% (${fmt(target - value, 2)}${unit})`;
  return { figure, name, met, detail: `${fmt(value, 2)}${unit}, target >= ${fmt(target, 2)}${unit}${by}` };
}

/** A lower-is-better target. */
export function atMost(figure: string, name: string, value: number, target: number, unit = '', digits = 2): TargetResult {
  const met = value <= target;
  const by = met ? '' : `: over by ${fmt(((value - target) / target) * 100, 0)}% (+${fmt(value - target, digits)}${unit})`;
  return { figure, name, met, detail: `${fmt(value, digits)}${unit}, target <= ${fmt(target, digits)}${unit}${by}` };
}

export function targetLine(result: TargetResult): string {
  return `${result.met ? 'MET ' : 'MISS'} [${result.figure}] ${result.name}: ${result.detail}`;
}

export interface FigureResult {
  readonly title: string;
  readonly text: string;
  readonly targets: readonly TargetResult[];
  /** Machine-readable numbers, for the test and for the README. */
  readonly numbers: Record<string, number>;
}

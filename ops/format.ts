/**
 * Terminal output for people: plain ANSI colours (on only for a terminal, and never with
 * NO_COLOR set), aligned tables, a progress bar, and the nine counts of a job in one line.
 */

export interface Paint {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

/** Colours for a stream: only a terminal, and not when NO_COLOR is set to anything but "" (no-color.org). */
export function paintFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Paint {
  return paint(stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === ''));
}

export function paint(enabled: boolean): Paint {
  const code = (open: number, close: number) => (text: string) => (enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text);
  return {
    enabled,
    bold: code(1, 22),
    dim: code(2, 22),
    red: code(31, 39),
    green: code(32, 39),
    yellow: code(33, 39),
    cyan: code(36, 39),
  };
}

/** Rows as columns padded to their widest cell (ANSI codes not counted); the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], p: Paint = paint(false)): string[] {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => visible(row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(Math.max(0, (widths[i] ?? 0) - visible(cell).length))))
      .join('  ')
      .trimEnd();
  return [p.bold(line(header)), ...rows.map(line)];
}

function visible(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences
  return text.replace(/\x1b\[[0-9;]*m/g, '');
}

/** `[#####.....]` of `width` cells. */
export function bar(done: number, total: number, width: number): string {
  const filled = total <= 0 ? 0 : Math.min(width, Math.round((done / total) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export const COUNT_NAMES = [
  'pending',
  'delivered',
  'in_progress',
  'completed',
  'failed',
  'rejected',
  'timed_out',
  'canceled',
  'expired',
] as const;
export type Counts = Record<(typeof COUNT_NAMES)[number], number>;
export const TERMINAL = ['completed', 'failed', 'rejected', 'timed_out', 'canceled', 'expired'] as const;

export function totalOf(counts: Counts): number {
  return COUNT_NAMES.reduce((sum, name) => sum + (counts[name] ?? 0), 0);
}

export function terminalOf(counts: Counts): number {
  return TERMINAL.reduce((sum, name) => sum + (counts[name] ?? 0), 0);
}

/** A colour per state: green done, red failures, yellow on the way. */
export function stateColor(p: Paint, state: string): (text: string) => string {
  if (state === 'completed') return p.green;
  if (state === 'failed' || state === 'rejected' || state === 'timed_out' || state === 'aborted') return p.red;
  if (state === 'delivered' || state === 'in_progress' || state === 'paused' || state === 'scheduled') return p.yellow;
  return (text) => text;
}

/** `completed 2 · failed 1 · pending 7`: the counts that are not zero (all nine with `all`). */
export function countsLine(counts: Counts, p: Paint = paint(false), all = false): string {
  const parts = COUNT_NAMES.filter((name) => all || (counts[name] ?? 0) > 0).map((name) =>
    stateColor(p, name)(`${name} ${counts[name] ?? 0}`),
  );
  return parts.length === 0 ? 'no targets' : parts.join(' · ');
}

/** 95 s → `1m35s`; null → `-`. */
export function duration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** A cell: null and undefined as `-`, arrays joined, objects as JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value))
    return value.length === 0 ? '-' : value.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))).join('; ');
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    return entries.length === 0
      ? '-'
      : entries.map(([key, item]) => `${key}: ${typeof item === 'string' ? item : JSON.stringify(item)}`).join('; ');
  }
  return String(value);
}

/** At most `max` characters, with `…` when cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

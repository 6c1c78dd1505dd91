/** `bizops jobs ...`: create, dry-run, list, get, watch, executions, history, cancel, pause, resume. */
import { randomUUID } from 'node:crypto';
import { seg } from './client.ts';
import {
  type Ctx,
  int,
  jsonOption,
  LISTING_OPTIONS,
  list,
  listing,
  type OptionSpec,
  print,
  printValue,
  readSource,
  str,
  UsageError,
  type Values,
  type Verb,
} from './cli.ts';
import { bar, cell, clip, countsLine, stateColor, table, terminalOf, totalOf } from './format.ts';
import { criteriaOf } from './criteria.ts';
import { type JobView, watchJob } from './watch.ts';

const JOB_BODY_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  command: { type: 'string', arg: 'NAME', text: 'the command every target runs' },
  args: { type: 'string', arg: 'JSON', text: 'its arguments, a JSON object (e.g. \'{"service":"nginx"}\')' },
  agent: { type: 'string', multiple: true, arg: 'ID', text: 'a target agent (repeat it; at most 1,000)' },
  group: { type: 'string', multiple: true, arg: 'NAME', text: 'a target group (repeat it; at most 10)' },
  ttl: { type: 'string', arg: 'SECONDS', text: 'ttl_seconds: how long the job may run' },
  timeout: { type: 'string', arg: 'SECONDS', text: 'timeout_seconds of each execution from its delivery' },
  continuous: { type: 'boolean', text: 'agents joining its groups later become targets too' },
  'max-per-minute': { type: 'string', arg: 'N', text: 'rollout: at most N first deliveries in any sliding minute' },
  exponential: {
    type: 'string',
    arg: 'BASE:FACTOR:notified|succeeded:N',
    text: 'exponential rollout: start at BASE a minute, times FACTOR every N delivered or succeeded',
  },
  'abort-percent': { type: 'string', arg: 'P', text: 'abort once failures reach P % of the terminal executions ...' },
  'abort-min': { type: 'string', arg: 'N', text: '... and at least N are terminal (default 1)' },
  'abort-criterion': {
    type: 'string',
    multiple: true,
    arg: 'TYPE:P:N',
    text: 'abort when TYPE (failed, rejected, timed_out, all) reaches P % after N executed (repeat it)',
  },
  retry: { type: 'string', multiple: true, arg: 'TYPE:MAX', text: 'retry executions that end TYPE (failed, timed_out, all), MAX attempts' },
  'start-at': { type: 'string', arg: 'ISO', text: 'schedule: nothing is delivered before this instant' },
  'end-at': { type: 'string', arg: 'ISO', text: 'schedule: its end' },
  'end-behavior': { type: 'string', arg: 'B', text: 'at end-at: stop_rollout (default), cancel or force_cancel' },
  description: { type: 'string', arg: 'TEXT', text: 'a note for operators (at most 256 characters)' },
  body: { type: 'string', arg: 'FILE', text: 'a create body as JSON from FILE (- for stdin); the options above go on top of it' },
};

function splitSpec(value: string, name: string, parts: number): string[] {
  const out = value.split(':');
  if (out.length !== parts || out.some((part) => part === ''))
    throw new UsageError(`--${name} ${JSON.stringify(value)}: expected ${parts} parts separated by ':'`);
  return out;
}

function number(text: string, name: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new UsageError(`--${name}: ${JSON.stringify(text)} is not a number`);
  return value;
}

/** The create body from --body and the options on top of it. */
export async function jobBody(ctx: Ctx): Promise<Record<string, unknown>> {
  const v = ctx.values;
  let body: Record<string, any> = {};
  const file = str(v, 'body');
  if (file !== undefined) {
    try {
      body = JSON.parse(await readSource(ctx, file));
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`--body ${file}: not JSON`);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new UsageError('--body must hold a JSON object');
  }
  const set = (name: string, value: unknown) => {
    if (value !== undefined) body[name] = value;
  };
  set('command', str(v, 'command'));
  set('args', jsonOption(v, 'args'));
  const agents = list(v, 'agent');
  const groups = list(v, 'group');
  if (agents.length > 0 || groups.length > 0) {
    body.targets = { ...body.targets, ...(agents.length > 0 ? { agents } : {}), ...(groups.length > 0 ? { groups } : {}) };
  }
  set('ttl_seconds', int(v, 'ttl', 1, Number.MAX_SAFE_INTEGER));
  set('timeout_seconds', int(v, 'timeout', 1, Number.MAX_SAFE_INTEGER));
  if (v.continuous === true) body.continuous = true;
  set('description', str(v, 'description'));
  const max = int(v, 'max-per-minute', 1, Number.MAX_SAFE_INTEGER);
  const exponential = str(v, 'exponential');
  if (max !== undefined || exponential !== undefined) {
    body.rollout = { ...body.rollout };
    if (max !== undefined) body.rollout.max_per_minute = max;
    if (exponential !== undefined) {
      const [base, factor, kind, n] = splitSpec(exponential, 'exponential', 4) as [string, string, string, string];
      if (kind !== 'notified' && kind !== 'succeeded') throw new UsageError('--exponential: the third part is notified or succeeded');
      body.rollout.exponential = {
        base_per_minute: number(base, 'exponential'),
        increment_factor: number(factor, 'exponential'),
        increase_after: { [kind]: number(n, 'exponential') },
      };
    }
  }
  const percent = int(v, 'abort-percent', 1, 100);
  const criteria = list(v, 'abort-criterion').map((spec) => {
    const [type, p, n] = splitSpec(spec, 'abort-criterion', 3) as [string, string, string];
    return { failure_type: type, threshold_percent: number(p, 'abort-criterion'), min_executed: number(n, 'abort-criterion') };
  });
  if (percent !== undefined && criteria.length > 0) throw new UsageError('give --abort-percent or --abort-criterion, not both');
  if (percent !== undefined)
    body.abort = { failure_threshold_percent: percent, min_executed: int(v, 'abort-min', 1, Number.MAX_SAFE_INTEGER) ?? 1 };
  else if (str(v, 'abort-min') !== undefined) throw new UsageError('--abort-min goes with --abort-percent');
  if (criteria.length > 0) body.abort = { criteria };
  const retries = list(v, 'retry').map((spec) => {
    const [type, n] = splitSpec(spec, 'retry', 2) as [string, string];
    return { failure_type: type, max_attempts: number(n, 'retry') };
  });
  if (retries.length > 0) body.retry = { criteria: retries };
  const start = str(v, 'start-at');
  const end = str(v, 'end-at');
  const behavior = str(v, 'end-behavior');
  if (start !== undefined || end !== undefined || behavior !== undefined) {
    body.schedule = { ...body.schedule };
    if (start !== undefined) body.schedule.start_at = start;
    if (end !== undefined) body.schedule.end_at = end;
    if (behavior !== undefined) body.schedule.end_behavior = behavior;
  }
  if (typeof body.command !== 'string') throw new UsageError('give --command (or a --body with "command")');
  if (body.targets === undefined) throw new UsageError('give at least one --agent or --group (or a --body with "targets")');
  return body;
}

function jobLines(job: JobView & Record<string, any>, ctx: Ctx): string[] {
  const p = ctx.paint;
  const total = totalOf(job.counts);
  const terminal = terminalOf(job.counts);
  const targets = [
    job.targets?.agents?.length ? `agents ${job.targets.agents.join(', ')}` : '',
    job.targets?.groups?.length ? `groups ${job.targets.groups.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  const lines = [
    `${p.bold(`job ${job.job_id}`)}  ${job.command}  ${stateColor(p, job.status)(job.status)}${job.cancel_reason ? ` (${job.cancel_reason})` : ''}${job.pause_reason ? ` (${job.pause_reason})` : ''}`,
    `${bar(terminal, total, 30)} ${terminal}/${total} terminal`,
    `counts: ${countsLine(job.counts, p, true)}`,
    `targets: ${targets || '-'}${job.continuous ? ' (continuous)' : ''}`,
  ];
  if (job.rollout) {
    const rollout = job.rollout as Record<string, any>;
    const exp = rollout.exponential;
    const parts = [
      rollout.max_per_minute ? `max ${rollout.max_per_minute}/min` : '',
      rollout.current_per_minute !== undefined ? `now ${rollout.current_per_minute}/min` : '',
      exp
        ? `exponential from ${exp.base_per_minute}/min ×${exp.increment_factor} every ${Object.entries(exp.increase_after ?? {})
            .map(([kind, n]) => `${n} ${kind}`)
            .join('')}`
        : '',
    ];
    lines.push(`rollout: ${parts.filter(Boolean).join(', ')}`);
  }
  for (const c of criteriaOf(job)) lines.push(`abort: ${c.type} at ${c.thresholdPercent}% after ${c.minExecuted} executed`);
  if (job.retry?.criteria)
    lines.push(`retry: ${job.retry.criteria.map((c: any) => `${c.failure_type} up to ${c.max_attempts} attempts`).join(', ')}`);
  if (job.schedule) lines.push(`schedule: ${cell(job.schedule)}`);
  lines.push(
    `created ${job.created_at}${job.created_by ? ` by ${job.created_by}` : ''}, expires ${cell(job.expires_at)}${job.completed_at ? `, ended ${job.completed_at}` : ''}`,
  );
  if (job.description) lines.push(`description: ${job.description}`);
  return lines;
}

const jobPath = (ctx: Ctx) => `/api/jobs/${seg(ctx.args[0] as string)}`;

function statusFilter(values: Values): string | undefined {
  const value = str(values, 'status');
  if (value !== undefined && !/^[a-z_]+(,[a-z_]+)*$/.test(value))
    throw new UsageError('--status takes states separated by commas (failed,timed_out)');
  return value;
}

/** The execution's reason to show: what the agent said, the start of its result, or the cancel reason. */
function reasonOf(execution: Record<string, any>): string {
  const parts = [
    execution.status_details ? cell(execution.status_details) : '',
    execution.result_excerpt ? String(execution.result_excerpt) : '',
    execution.cancel_reason ? `canceled: ${execution.cancel_reason}` : '',
  ].filter(Boolean);
  return parts.length === 0 ? '-' : parts.join(' | ');
}

const FAILED = new Set(['failed', 'rejected', 'timed_out']);
/** At most this many failed executions are read one by one for their reason (below). */
const REASON_LOOKUPS = 100;

/**
 * A service whose listing does not carry `status_details` and `result_excerpt` yet: the reason of
 * each failed execution shown (at most 100) is read from its command, 8 requests at once, as the
 * newer listing would give it (the first 256 characters of the result's JSON text).
 */
async function fillReasons(ctx: Ctx, executions: Record<string, any>[]): Promise<void> {
  const todo = executions
    .filter((e) => FAILED.has(e.status) && e.command_id && !('result_excerpt' in e) && !('status_details' in e))
    .slice(0, REASON_LOOKUPS);
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const e = todo[next++] as Record<string, any>;
      const command = (await ctx.api.get(`/api/agents/${seg(e.agent_id)}/commands/${seg(e.command_id)}`)).body;
      e.status_details = command.status_details ?? null;
      if (command.result !== null && command.result !== undefined) e.result_excerpt = JSON.stringify(command.result).slice(0, 256);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, todo.length) }, worker));
}

/** A job verb that posts to /api/jobs/{id}/{action} and shows the job. */
function jobAction(verb: 'cancel' | 'pause' | 'resume', summary: string, options: Record<string, OptionSpec>, help?: string): Verb {
  return {
    noun: 'jobs',
    verb,
    args: 'ID',
    positionals: [1, 1],
    summary,
    ...(help ? { help } : {}),
    options,
    async run(ctx) {
      const reason = str(ctx.values, 'reason');
      const body = { ...(reason === undefined ? {} : { reason }), ...(ctx.values.force === true ? { force: true } : {}) };
      const answer = await ctx.api.request('POST', `${jobPath(ctx)}/${verb}`, Object.keys(body).length > 0 ? { body } : {});
      print(ctx, answer.text, () => jobLines(answer.body, ctx));
      return 0;
    },
  };
}

export const JOB_VERBS: Verb[] = [
  {
    noun: 'jobs',
    verb: 'create',
    args: '',
    positionals: [0, 0],
    summary: 'create a job: one command for agents and groups, with its rollout, abort, retry and schedule',
    help: [
      'Sends an Idempotency-Key (a new one each run, or --idempotency-key), so that a retry after a',
      '503 never makes a second job. Example:',
      '  bizops jobs create --command restart --args \'{"service":"nginx"}\' --group web-eu \\',
      '    --max-per-minute 50 --abort-percent 10 --abort-min 20',
    ].join('\n'),
    options: { ...JOB_BODY_OPTIONS, 'idempotency-key': { type: 'string', arg: 'KEY', text: 'the Idempotency-Key (a new one by default)' } },
    async run(ctx) {
      const body = await jobBody(ctx);
      const key = str(ctx.values, 'idempotency-key') ?? randomUUID();
      const answer = await ctx.api.request('POST', '/api/jobs', { body, headers: { 'idempotency-key': key } });
      print(ctx, answer.text, () => jobLines(answer.body, ctx));
      return 0;
    },
  },
  {
    noun: 'jobs',
    verb: 'dry-run',
    args: '',
    positionals: [0, 0],
    summary: 'what a create would target, per group, and how long its rollout would take; writes nothing',
    help: [
      'Takes the options of jobs create and sends POST /api/jobs?dry_run=true: the create is checked and',
      'its targets counted as a create would, and nothing is written.',
    ].join('\n'),
    options: JOB_BODY_OPTIONS,
    async run(ctx) {
      const body = await jobBody(ctx);
      const answer = await ctx.api.request('POST', '/api/jobs', { body, query: { dry_run: 'true' } });
      const r = answer.body;
      print(ctx, answer.text, () => [
        `dry run: ${r.targets} target(s), ${r.agents_listed} named`,
        ...Object.entries((r.by_group ?? {}) as Record<string, number>).map(([group, n]) => `  group ${group}: ${n}`),
        `estimated rollout: ${r.estimated_rollout_minutes === null ? 'at once (no rollout limit)' : `${r.estimated_rollout_minutes} min`}`,
      ]);
      return 0;
    },
  },
  {
    noun: 'jobs',
    verb: 'list',
    args: '',
    positionals: [0, 0],
    summary: 'jobs, newest first',
    options: {
      status: { type: 'string', arg: 'S,S', text: 'only these statuses (in_progress, paused, scheduled, completed, canceled, aborted)' },
      ...LISTING_OPTIONS,
    },
    async run(ctx) {
      const status = statusFilter(ctx.values);
      const page = await ctx.api.collect('/api/jobs', 'jobs', { ...listing(ctx.values), query: { status } });
      printValue(ctx, page, () => {
        const jobs = page.jobs as (JobView & Record<string, any>)[];
        const rows = jobs.map((job) => {
          const total = totalOf(job.counts);
          return [
            job.job_id,
            stateColor(ctx.paint, job.status)(job.status),
            clip(job.command, 24),
            `${terminalOf(job.counts)}/${total}`,
            countsLine(job.counts),
            job.created_at,
            clip(job.description ?? '-', 40),
          ];
        });
        return [
          ...table(['JOB', 'STATUS', 'COMMAND', 'DONE', 'COUNTS', 'CREATED', 'DESCRIPTION'], rows, ctx.paint),
          ...(page.next_cursor ? [`more: --cursor ${page.next_cursor}`] : []),
        ];
      });
      return 0;
    },
  },
  {
    noun: 'jobs',
    verb: 'get',
    args: 'ID',
    positionals: [1, 1],
    summary: 'a job: status, progress, counts, rollout, abort, schedule',
    options: {},
    async run(ctx) {
      const answer = await ctx.api.get(jobPath(ctx));
      print(ctx, answer.text, () => jobLines(answer.body, ctx));
      return 0;
    },
  },
  {
    noun: 'jobs',
    verb: 'watch',
    args: 'ID',
    positionals: [1, 1],
    summary: 'follow a job until it ends: exit 0 completed, 3 aborted, 4 canceled',
    help: [
      'In a terminal, a live view redrawn every interval: progress, counts per state, the rate, the',
      'failure share against each abort criterion, elapsed time and an estimate of the rest. Without',
      'a terminal (a pipe, a CI log), one line per change; with --json, the job as the API answers',
      'it, one line per change.',
    ].join('\n'),
    options: { interval: { type: 'string', arg: 'SECONDS', text: 'time between two reads (default 2)' } },
    async run(ctx) {
      const text = str(ctx.values, 'interval') ?? '2';
      const seconds = Number(text);
      if (!/^\d+(\.\d+)?$/.test(text) || seconds < 0.1 || seconds > 3600)
        throw new UsageError('--interval must be from 0.1 to 3600 seconds');
      return watchJob(ctx.api, ctx.args[0] as string, seconds * 1000, {
        out: ctx.out,
        warn: ctx.err,
        tty: ctx.tty,
        json: ctx.json,
        paint: ctx.paint,
        columns: ctx.columns,
        signal: ctx.signal,
      });
    },
  },
  {
    noun: 'jobs',
    verb: 'executions',
    args: 'ID',
    positionals: [1, 1],
    summary: "a job's executions: agent, attempt, status, when, and why (status_details, result excerpt)",
    help: 'Example: bizops jobs executions JOB --status failed,timed_out',
    options: {
      status: {
        type: 'string',
        arg: 'S,S',
        text: 'only these states (pending, delivered, in_progress, completed, failed, rejected, timed_out, canceled, expired)',
      },
      ...LISTING_OPTIONS,
    },
    async run(ctx) {
      const status = statusFilter(ctx.values);
      const page = await ctx.api.collect(`${jobPath(ctx)}/executions`, 'executions', { ...listing(ctx.values), query: { status } });
      if (!ctx.json) await fillReasons(ctx, page.executions as Record<string, any>[]);
      printValue(ctx, page, () => {
        const rows = (page.executions as Record<string, any>[]).map((e) => [
          e.agent_id,
          cell(e.attempt ?? (e.delivery_count > 0 ? 1 : null)),
          stateColor(ctx.paint, e.status)(e.status),
          cell(e.completed_at ?? e.updated_at ?? e.delivered_at),
          // Cut to the terminal's width; whole in a pipe or a log.
          ctx.tty ? clip(reasonOf(e), Math.max(30, ctx.columns - 70)) : reasonOf(e),
        ]);
        return [
          ...table(['AGENT', 'ATTEMPT', 'STATUS', 'WHEN', 'REASON'], rows, ctx.paint),
          ...(page.next_cursor ? [`more: --cursor ${page.next_cursor}`] : []),
        ];
      });
      return 0;
    },
  },
  {
    noun: 'jobs',
    verb: 'history',
    args: 'ID AGENT',
    positionals: [2, 2],
    summary: "one agent's execution of a job, with every transition (GET /api/jobs/{id}/executions/{agent})",
    options: {},
    async run(ctx) {
      const answer = await ctx.api.get(`${jobPath(ctx)}/executions/${seg(ctx.args[1] as string)}`);
      print(ctx, answer.text, () => historyLines(answer.body, ctx));
      return 0;
    },
  },
  jobAction('cancel', 'cancel a job: undelivered executions are canceled (--force: delivered ones too)', {
    reason: { type: 'string', arg: 'TEXT', text: 'why (at most 256 characters)' },
    force: { type: 'boolean', text: 'cancel delivered and in-progress executions too' },
  }),
  jobAction(
    'pause',
    'pause a job: nothing new is delivered until it is resumed',
    { reason: { type: 'string', arg: 'TEXT', text: 'why, shown as pause_reason' } },
    'Delivered executions go on and may report; time-based transitions still happen.',
  ),
  jobAction('resume', 'resume a paused job', { reason: { type: 'string', arg: 'TEXT', text: 'why' } }),
];

/** An execution or command with its history, for people. */
export function historyLines(record: Record<string, any>, ctx: Ctx): string[] {
  const head = `${record.agent_id ?? '-'}  ${record.command_id ?? '-'}  ${stateColor(ctx.paint, record.status)(record.status)}${record.attempt ? `  attempt ${record.attempt}` : ''}`;
  const history = record.history as Record<string, any>[] | undefined;
  if (!Array.isArray(history)) {
    // A service without history: what the record's own times say.
    const steps = [
      ['created', record.created_at],
      ['delivered', record.delivered_at],
      ['in_progress', record.started_at],
      [record.status, record.completed_at],
    ].filter(([, at]) => typeof at === 'string');
    return [
      head,
      ...table(
        ['AT', 'STATUS'],
        steps.map(([status, at]) => [at as string, status as string]),
        ctx.paint,
      ),
      "(from the record's times: this service keeps no history)",
    ];
  }
  const rows = history.map((h) => [
    cell(h.at),
    stateColor(ctx.paint, h.status)(h.status),
    cell(h.attempt),
    [h.status_details ? cell(h.status_details) : '', h.reason ? String(h.reason) : ''].filter(Boolean).join(' | ') || '-',
  ]);
  return [
    head,
    ...table(['AT', 'STATUS', 'ATTEMPT', 'DETAILS'], rows, ctx.paint),
    ...(record.history_truncated ? ['(older entries dropped: the 50 most recent are kept)'] : []),
  ];
}

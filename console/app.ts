/**
 * The operators' web console: plain TypeScript and the DOM, no framework (a few views of tables,
 * bars and forms redrawn from one JSON answer each need no virtual DOM; the bundle stays a few
 * kilobytes). Bundled by console/build.ts.
 *
 * The token: pasted by the operator, kept in this module's memory, and in sessionStorage only when
 * "Remember for this tab" is ticked (never a cookie, never localStorage). Every call goes to a
 * relative URL, so to this page's origin only, with `credentials: 'omit'`. Nothing from an answer
 * is ever parsed as HTML: every text is set with textContent.
 *
 * Views, by the location's hash: #/jobs, #/jobs/<id>, #/groups[/<group>], #/agents[/<agentId>].
 */
import { criteriaShares, failuresOf } from '../ops/criteria.ts';

const REMEMBER_KEY = 'biz-service-console-token';
const JOB_POLL_MS = 2_000;
const LIST_POLL_MS = 5_000;
/** Samples kept for the rate and the chart: an hour at one per 2 s. */
const MAX_SAMPLES = 1_800;

const COUNT_NAMES = ['pending', 'delivered', 'in_progress', 'completed', 'failed', 'rejected', 'timed_out', 'canceled', 'expired'] as const;
type CountName = (typeof COUNT_NAMES)[number];
type Counts = Record<CountName, number>;
const TERMINAL: readonly CountName[] = ['completed', 'failed', 'rejected', 'timed_out', 'canceled', 'expired'];
const ENDED = new Set(['completed', 'canceled', 'aborted']);

interface Job {
  job_id: string;
  command: string;
  status: string;
  counts: Counts;
  created_at: string;
  created_by?: string | null;
  updated_at?: string | null;
  completed_at?: string | null;
  expires_at?: string | null;
  description?: string | null;
  continuous?: boolean;
  targets?: { agents?: string[]; groups?: string[] };
  rollout?: { max_per_minute?: number; current_per_minute?: number; exponential?: Record<string, unknown> } | null;
  abort?: {
    criteria?: { failure_type: string; threshold_percent: number; min_executed: number }[];
    failure_threshold_percent?: number;
    min_executed?: number;
  } | null;
  schedule?: { start_at?: string; end_at?: string | null; end_behavior?: string } | null;
  pause_reason?: string | null;
  paused_at?: string | null;
  cancel_reason?: string | null;
}

interface Sample {
  readonly at: number;
  readonly counts: Counts;
}

// ---------------------------------------------------------------------------------------------
// The API: relative URLs, the token in memory, errors in the API's own shape.

let token: string | undefined;

class ApiFailure extends Error {
  readonly status: number;
  readonly error: string;
  readonly description: string;
  readonly requestId: string | null;
  constructor(status: number, error: string, description: string, requestId: string | null) {
    super(`${status} ${error}: ${description}`);
    this.status = status;
    this.error = error;
    this.description = description;
    this.requestId = requestId;
  }
}

async function api<T = any>(method: string, url: string, body?: unknown): Promise<T> {
  if (token === undefined) throw new ApiFailure(0, 'missing_token', 'paste an operator token first', null);
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      credentials: 'omit',
      cache: 'no-store',
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new ApiFailure(0, 'network_error', (error as Error).message, null);
  }
  const text = await response.text();
  let parsed: any = null;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    throw new ApiFailure(
      response.status,
      typeof parsed?.error === 'string' ? parsed.error : `http_${response.status}`,
      typeof parsed?.error_description === 'string' ? parsed.error_description : text.slice(0, 200),
      typeof parsed?.request_id === 'string' ? parsed.request_id : response.headers.get('x-request-id'),
    );
  }
  return parsed as T;
}

const seg = (value: string) => encodeURIComponent(value);

// ---------------------------------------------------------------------------------------------
// DOM helpers.

type Child = Node | string | number | null | undefined | false | readonly Child[];

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(typeof child === 'number' ? String(child) : (child as Node | string));
  }
}

/** Replaces an element's children. */
function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

function on<E extends HTMLElement>(el: E, type: string, listener: (event: Event) => void): E {
  el.addEventListener(type, listener);
  return el;
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** An update's status_details ({"step": "download", ...}) as `step: download; ...`. */
function details(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'object' || Array.isArray(value)) return JSON.stringify(value);
  return Object.entries(value as Record<string, unknown>)
    .map(([name, text]) => `${name}: ${String(text)}`)
    .join('; ');
}

const timeEl = (iso: string | null | undefined) => (iso ? h('time', { datetime: iso }, when(iso)) : '—');

function table(caption: string, header: readonly string[], rows: Node[]): HTMLElement {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, ...header.map((name) => h('th', { scope: 'col' }, name)))),
      h('tbody', {}, ...rows),
    ),
  );
}

function statusBadge(status: string): HTMLElement {
  return h('span', { class: `badge s-${status}` }, status.replace('_', ' '));
}

// ---------------------------------------------------------------------------------------------
// Errors and the confirmation dialog.

function showError(error: unknown): void {
  const box = byId<HTMLDivElement>('error');
  box.replaceChildren();
  if (error instanceof ApiFailure) {
    append(box, [
      h('strong', { class: 'error-code' }, error.status > 0 ? `${error.status} ${error.error}` : error.error),
      ': ',
      h('span', { class: 'error-description' }, error.description),
      error.requestId ? h('span', { class: 'request-id' }, ` (request_id ${error.requestId})`) : null,
    ]);
  } else {
    box.textContent = String((error as Error)?.message ?? error);
  }
  box.hidden = false;
}

function clearError(): void {
  const box = byId<HTMLDivElement>('error');
  box.hidden = true;
  box.replaceChildren();
}

/** Asks before an action; resolves to the reason typed (possibly '') or undefined when backed out. */
function confirmAction(text: string, action: string, askReason = true): Promise<string | undefined> {
  const dialog = byId<HTMLDialogElement>('confirm');
  byId('confirm-title').textContent = action;
  byId('confirm-text').textContent = text;
  byId<HTMLButtonElement>('confirm-ok').textContent = action;
  const reason = byId<HTMLInputElement>('confirm-reason');
  reason.value = '';
  reason.hidden = !askReason;
  byId('confirm-reason-label').hidden = !askReason;
  return new Promise((resolve) => {
    const form = byId<HTMLFormElement>('confirm-form');
    const back = byId<HTMLButtonElement>('confirm-back');
    const done = (value: string | undefined) => {
      form.removeEventListener('submit', submit);
      back.removeEventListener('click', cancel);
      dialog.removeEventListener('cancel', cancel);
      dialog.close();
      resolve(value);
    };
    const submit = (event: Event) => {
      event.preventDefault();
      done(reason.value.trim());
    };
    const cancel = (event: Event) => {
      event.preventDefault();
      done(undefined);
    };
    form.addEventListener('submit', submit);
    back.addEventListener('click', cancel);
    dialog.addEventListener('cancel', cancel);
    dialog.showModal();
    (askReason ? reason : byId<HTMLButtonElement>('confirm-ok')).focus();
  });
}

// ---------------------------------------------------------------------------------------------
// What a job's counts say: totals, the abort criteria, the rate over the page's samples.

const sum = (counts: Counts, names: readonly CountName[]) => names.reduce((total, name) => total + (counts[name] ?? 0), 0);
const totalOf = (counts: Counts) => sum(counts, COUNT_NAMES);
const terminalOf = (counts: Counts) => sum(counts, TERMINAL);

/** Per minute over the last minute of samples (at least two, 5 s apart); null before. */
function ratePerMinute(samples: readonly Sample[], measure: (counts: Counts) => number): number | null {
  const last = samples[samples.length - 1];
  if (last === undefined) return null;
  const first = samples.find((sample) => sample.at >= last.at - 60_000) ?? last;
  const span = last.at - first.at;
  if (span < 5_000) return null;
  return ((measure(last.counts) - measure(first.counts)) * 60_000) / span;
}

const startedOf = (counts: Counts) => totalOf(counts) - (counts.pending ?? 0);
const allFailuresOf = (counts: Counts) => failuresOf('all', counts);

function percent(part: number, whole: number): string {
  return whole === 0 ? '—' : `${((part * 100) / whole).toFixed(1)} %`;
}

// ---------------------------------------------------------------------------------------------
// The views.

let stopView: (() => void) | undefined;
const view = () => byId<HTMLElement>('view');

function every(ms: number, tick: () => Promise<unknown>): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const run = async () => {
    const again = await tick().catch((error: unknown) => {
      showError(error);
      return true;
    });
    if (!stopped && again !== false) timer = setTimeout(run, ms);
  };
  stopView = () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
  void run();
}

function progress(done: number, total: number, label: string): HTMLElement {
  return h('progress', { max: Math.max(total, 1), value: done, 'aria-label': label, title: `${done} of ${total}` });
}

async function jobsView(): Promise<void> {
  const body = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  let cursor: string | null = null;
  const row = (job: Job) => {
    const total = totalOf(job.counts);
    const done = terminalOf(job.counts);
    return h(
      'tr',
      { 'data-job': job.job_id },
      h('td', {}, h('a', { href: `#/jobs/${seg(job.job_id)}` }, job.job_id.slice(0, 8)), h('div', { class: 'sub' }, job.description ?? '')),
      h('td', {}, job.command),
      h('td', {}, statusBadge(job.status)),
      h('td', { class: 'progress' }, progress(done, total, `job ${job.job_id}: ${done} of ${total} ended`), ` ${done}/${total}`),
      h('td', {}, job.created_by ?? '—'),
      h('td', {}, timeEl(job.created_at)),
    );
  };
  const load = async (after: string | null) => {
    const page = await api<{ jobs: Job[]; next_cursor: string | null }>('GET', `/api/jobs?limit=50${after ? `&cursor=${seg(after)}` : ''}`);
    return page;
  };
  on(more, 'click', () => {
    load(cursor)
      .then((page) => {
        body.append(...page.jobs.map(row));
        cursor = page.next_cursor;
        more.hidden = cursor === null;
      })
      .catch(showError);
  });
  view().replaceChildren(
    h('h2', {}, 'Jobs'),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { id: 'jobs' },
        h('caption', {}, 'Jobs, newest first (refreshed every 5 s)'),
        h(
          'thead',
          {},
          h('tr', {}, ...['Job', 'Command', 'Status', 'Progress', 'Created by', 'Created'].map((n) => h('th', { scope: 'col' }, n))),
        ),
        body,
      ),
    ),
    more,
  );
  every(LIST_POLL_MS, async () => {
    // The first page is redrawn; pages loaded with "Load more" are left as they are until the next visit.
    const page = await load(null);
    clearError();
    const rows = page.jobs.map(row);
    if (rows.length === 0) body.replaceChildren(h('tr', {}, h('td', { colspan: 6 }, 'No jobs yet.')));
    else body.replaceChildren(...rows);
    cursor = page.next_cursor;
    more.hidden = cursor === null;
  });
}

function stackedBar(counts: Counts): HTMLElement {
  const total = totalOf(counts);
  const bar = h('div', { class: 'stack', role: 'img', 'aria-label': COUNT_NAMES.map((n) => `${n} ${counts[n]}`).join(', ') });
  for (const name of COUNT_NAMES) {
    if (!counts[name]) continue;
    const part = h('span', { class: `s-${name}`, title: `${name}: ${counts[name]}` });
    part.style.flexGrow = String(counts[name]);
    bar.append(part);
  }
  if (total === 0) bar.append(h('span', { class: 'empty' }));
  return bar;
}

function countsList(counts: Counts): HTMLElement {
  return h(
    'dl',
    { class: 'counts', id: 'counts' },
    ...COUNT_NAMES.flatMap((name) => [
      h(
        'div',
        {},
        h('dt', {}, h('i', { class: `key s-${name}`, 'aria-hidden': 'true' }), name.replace('_', ' ')),
        h('dd', { 'data-count': name }, counts[name] ?? 0),
      ),
    ]),
  );
}

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  el.append(...children);
  return el;
}

/** The counts over time as this page sampled them: started, ended and failed, since it opened. */
function chart(samples: readonly Sample[]): Element {
  const width = 600;
  const height = 160;
  const first = samples[0];
  const last = samples[samples.length - 1];
  const series = [
    { name: 'started', measure: startedOf },
    { name: 'ended', measure: terminalOf },
    { name: 'failed', measure: allFailuresOf },
  ];
  const top = Math.max(1, ...samples.map((s) => totalOf(s.counts)));
  const span = first && last ? Math.max(last.at - first.at, 1) : 1;
  const x = (at: number) => (first ? ((at - first.at) / span) * (width - 40) + 36 : 36);
  const y = (value: number) => height - 20 - (value / top) * (height - 30);
  const root = svg(
    'svg',
    { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-labelledby': 'chart-title' },
    svg('title', { id: 'chart-title' }, `Counts over time since this page opened: ${samples.length} samples`),
    svg('line', { x1: 36, y1: y(0), x2: width - 4, y2: y(0), class: 'axis' }),
    svg('text', { x: 2, y: y(top) + 4, class: 'tick' }, String(top)),
    svg('text', { x: 2, y: y(0), class: 'tick' }, '0'),
  );
  for (const { name, measure } of series) {
    const points = samples.map((s) => `${x(s.at).toFixed(1)},${y(measure(s.counts)).toFixed(1)}`).join(' ');
    root.append(svg('polyline', { points, class: `line l-${name}` }));
  }
  const legend = h('p', { class: 'legend' }, ...series.map((s) => h('span', { class: `l-${s.name}` }, `— ${s.name}`)));
  const box = h('figure', { class: 'chart-box' });
  box.append(root, h('figcaption', {}, legend));
  return box;
}

async function jobView(jobId: string): Promise<void> {
  const samples: Sample[] = [];
  const summary = h('section', { id: 'job-summary', 'aria-labelledby': 'job-title' });
  const executions = h('section', { id: 'executions', 'aria-labelledby': 'executions-title' });
  view().replaceChildren(
    h('p', {}, h('a', { href: '#/jobs' }, '← Jobs')),
    h('h2', { id: 'job-title' }, `Job ${jobId}`),
    summary,
    executions,
  );

  const act = async (verb: 'pause' | 'resume' | 'cancel' | 'force cancel') => {
    const reason = await confirmAction(
      verb === 'force cancel'
        ? `Cancel job ${jobId} with force: executions already delivered or in progress are canceled too.`
        : `${verb[0]?.toUpperCase()}${verb.slice(1)} job ${jobId}?`,
      `${verb[0]?.toUpperCase()}${verb.slice(1)}`,
    );
    if (reason === undefined) return;
    const path = verb === 'force cancel' ? 'cancel' : verb;
    const body: Record<string, unknown> = {};
    if (reason !== '') body.reason = reason;
    if (verb === 'force cancel') body.force = true;
    try {
      const job = await api<Job>('POST', `/api/jobs/${seg(jobId)}/${path}`, body);
      clearError();
      record(job);
    } catch (error) {
      showError(error);
    }
  };

  const record = (job: Job) => {
    samples.push({ at: Date.now(), counts: job.counts });
    if (samples.length > MAX_SAMPLES) samples.shift();
    renderSummary(job);
  };

  const renderSummary = (job: Job) => {
    const counts = job.counts;
    const total = totalOf(counts);
    const terminal = terminalOf(counts);
    const started = ratePerMinute(samples, startedOf);
    const ended = ratePerMinute(samples, terminalOf);
    const criteria = criteriaShares(job).map((c) =>
      h(
        'tr',
        { class: c.met ? 'met' : '' },
        h('td', {}, c.type),
        h('td', {}, `${c.failures} of ${c.judged} judged`),
        h('td', {}, c.sharePercent === null ? '—' : `${c.sharePercent.toFixed(1)} %`),
        h('td', {}, `${c.thresholdPercent} %`),
        h('td', {}, String(c.minExecuted)),
        h('td', {}, c.met ? 'reached' : c.judged < c.minExecuted ? `${c.minExecuted - c.judged} more to judge` : 'below'),
      ),
    );
    const ended_ = ENDED.has(job.status);
    const button = (label: string, verb: Parameters<typeof act>[0], enabled: boolean, danger = false) =>
      on(h('button', { type: 'button', class: danger ? 'danger' : undefined, disabled: !enabled }, label), 'click', () => void act(verb));
    const rollout = job.rollout;
    const schedule = job.schedule;
    fill(
      summary,
      h(
        'div',
        { class: 'job-head' },
        h('p', {}, statusBadge(job.status), ' ', h('code', {}, job.command), job.description ? ` — ${job.description}` : ''),
        h(
          'div',
          { class: 'actions', role: 'group', 'aria-label': 'Job actions' },
          button('Pause', 'pause', job.status === 'in_progress' || job.status === 'scheduled'),
          button('Resume', 'resume', job.status === 'paused'),
          button('Cancel', 'cancel', !ended_, true),
          button('Force cancel', 'force cancel', !ended_, true),
        ),
      ),
      job.pause_reason
        ? h(
            'p',
            { class: 'sub' },
            `Last pause or resume reason: ${job.pause_reason}`,
            job.paused_at ? ` (paused ${when(job.paused_at)})` : '',
          )
        : null,
      job.cancel_reason ? h('p', { class: 'sub' }, `Cancel reason: ${job.cancel_reason}`) : null,
      h(
        'p',
        { class: 'totals' },
        progress(terminal, total, `${terminal} of ${total} ended`),
        ` ${terminal} of ${total} ended (${percent(terminal, total)})`,
      ),
      stackedBar(counts),
      countsList(counts),
      h(
        'div',
        { class: 'grid' },
        h(
          'section',
          { 'aria-labelledby': 'rate-title' },
          h('h3', { id: 'rate-title' }, 'Rate'),
          h(
            'dl',
            { class: 'facts' },
            h('dt', {}, 'First deliveries'),
            h('dd', {}, started === null ? 'measuring…' : `${started.toFixed(1)} / min`),
            h('dt', {}, 'Ended'),
            h('dd', {}, ended === null ? 'measuring…' : `${ended.toFixed(1)} / min`),
            h('dt', {}, 'Rollout'),
            h(
              'dd',
              {},
              rollout
                ? [
                    rollout.current_per_minute !== undefined ? `now ${rollout.current_per_minute} / min` : null,
                    rollout.max_per_minute !== undefined ? `at most ${rollout.max_per_minute} / min` : null,
                    rollout.exponential ? 'exponential' : null,
                  ]
                    .filter(Boolean)
                    .join(', ')
                : 'none (as fast as agents poll)',
            ),
          ),
        ),
        h(
          'section',
          { 'aria-labelledby': 'schedule-title' },
          h('h3', { id: 'schedule-title' }, 'Schedule and time'),
          h(
            'dl',
            { class: 'facts' },
            h('dt', {}, 'Created'),
            h('dd', {}, timeEl(job.created_at), job.created_by ? ` by ${job.created_by}` : ''),
            h('dt', {}, 'Starts'),
            h('dd', {}, schedule?.start_at ? timeEl(schedule.start_at) : 'at creation'),
            h('dt', {}, 'Ends'),
            h('dd', {}, schedule?.end_at ? [timeEl(schedule.end_at), ` (${schedule.end_behavior ?? 'stop_rollout'})`] : 'no end'),
            h('dt', {}, 'Expires'),
            h('dd', {}, timeEl(job.expires_at)),
            h('dt', {}, 'Completed'),
            h('dd', {}, timeEl(job.completed_at)),
          ),
        ),
        h(
          'section',
          { 'aria-labelledby': 'targets-title' },
          h('h3', { id: 'targets-title' }, 'Targets'),
          h(
            'dl',
            { class: 'facts' },
            h('dt', {}, 'Groups'),
            h(
              'dd',
              {},
              ...(job.targets?.groups?.length
                ? job.targets.groups.flatMap((g) => [h('a', { href: `#/groups/${seg(g)}` }, g), ' '])
                : ['none']),
            ),
            h('dt', {}, 'Agents'),
            h(
              'dd',
              {},
              ...(job.targets?.agents?.length
                ? job.targets.agents.slice(0, 50).flatMap((a) => [h('a', { href: `#/agents/${seg(a)}` }, a), ' '])
                : ['none']),
              (job.targets?.agents?.length ?? 0) > 50 ? `and ${(job.targets?.agents?.length ?? 0) - 50} more` : null,
            ),
            h('dt', {}, 'Continuous'),
            h('dd', {}, job.continuous ? 'yes: agents joining its groups become targets' : 'no'),
          ),
        ),
      ),
      h('h3', { id: 'abort-title' }, 'Abort criteria'),
      criteria.length === 0
        ? h('p', {}, 'None: the job runs to the end whatever fails.')
        : table(
            'Failure share against each abort criterion',
            ['Type', 'Failures', 'Share', 'Threshold', 'Min executed', 'State'],
            criteria,
          ),
      h('h3', {}, 'Counts over time'),
      chart(samples),
    );
  };

  // Executions: a status filter, pages, and one agent's history on a click.
  const filter = h(
    'select',
    { id: 'exec-status' },
    h('option', { value: '' }, 'all'),
    ...COUNT_NAMES.map((name) => h('option', { value: name }, name)),
    h('option', { value: 'failed,rejected,timed_out' }, 'failures (failed, rejected, timed out)'),
  );
  const rows = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const history = h('section', { id: 'history', 'aria-live': 'polite' });
  let cursor: string | null = null;
  const execRow = (e: Record<string, any>) =>
    h(
      'tr',
      { 'data-agent': e.agent_id },
      h(
        'td',
        {},
        on(h('button', { type: 'button', class: 'link', 'aria-label': `History of ${e.agent_id}` }, e.agent_id), 'click', () => {
          void showHistory(e.agent_id);
        }),
      ),
      h('td', {}, statusBadge(String(e.status))),
      h('td', {}, e.attempt === undefined || e.attempt === null ? '—' : String(e.attempt)),
      h('td', {}, timeEl(e.updated_at ?? e.delivered_at)),
      h('td', { class: 'detail' }, details(e.status_details)),
      h('td', { class: 'detail' }, e.result_excerpt ?? ''),
    );
  const loadExecutions = async (after: string | null) => {
    const status = filter.value;
    const query = new URLSearchParams({ limit: '100' });
    if (status) query.set('status', status);
    if (after) query.set('cursor', after);
    const page = await api<{ executions: Record<string, any>[]; next_cursor: string | null }>(
      'GET',
      `/api/jobs/${seg(jobId)}/executions?${query}`,
    );
    if (after === null) rows.replaceChildren();
    rows.append(...page.executions.map(execRow));
    if (rows.childElementCount === 0) rows.append(h('tr', {}, h('td', { colspan: 6 }, 'None on this page.')));
    cursor = page.next_cursor;
    more.hidden = cursor === null;
  };
  const showHistory = async (agentId: string) => {
    try {
      const record = await api<Record<string, any>>('GET', `/api/jobs/${seg(jobId)}/executions/${seg(agentId)}`);
      const items = (record.history ?? []) as Record<string, any>[];
      fill(
        history,
        h(
          'h4',
          { id: 'history-title', tabindex: '-1' },
          `History of ${agentId}`,
          ' ',
          h('a', { href: `#/agents/${seg(agentId)}` }, '(agent)'),
        ),
        items.length === 0
          ? h('p', {}, 'Never delivered.')
          : h(
              'ol',
              { class: 'history' },
              ...items.map((item) =>
                h(
                  'li',
                  {},
                  timeEl(item.at),
                  ' ',
                  statusBadge(String(item.status)),
                  item.attempt !== undefined ? ` attempt ${item.attempt}` : '',
                  item.status_details ? ` — ${details(item.status_details)}` : '',
                  item.reason ? ` — ${item.reason}` : '',
                ),
              ),
            ),
        record.history_truncated ? h('p', { class: 'sub' }, 'Older changes were dropped (the 50 most recent are kept).') : null,
      );
      history.querySelector<HTMLElement>('#history-title')?.focus();
    } catch (error) {
      showError(error);
    }
  };
  on(filter, 'change', () => void loadExecutions(null).catch(showError));
  on(more, 'click', () => void loadExecutions(cursor).catch(showError));
  const refresh = h('button', { type: 'button' }, 'Refresh');
  on(refresh, 'click', () => void loadExecutions(null).catch(showError));
  executions.replaceChildren(
    h('h3', { id: 'executions-title' }, 'Executions'),
    h('p', { class: 'toolbar' }, h('label', { for: 'exec-status' }, 'Status '), filter, ' ', refresh),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { id: 'executions-table' },
        h('caption', {}, 'Executions (click an agent for its history)'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Agent', 'Status', 'Attempt', 'Updated', 'Status details', 'Result excerpt'].map((n) => h('th', { scope: 'col' }, n)),
          ),
        ),
        rows,
      ),
    ),
    more,
    history,
  );

  let executionsLoaded = false;
  every(JOB_POLL_MS, async () => {
    const job = await api<Job>('GET', `/api/jobs/${seg(jobId)}`);
    clearError();
    record(job);
    if (!executionsLoaded) {
      executionsLoaded = true;
      await loadExecutions(null);
    }
  });
}

function lookupForm(id: string, label: string, value: string, go: (value: string) => void): HTMLFormElement {
  const input = h('input', { id, required: true, value, spellcheck: 'false' });
  const form = h('form', { class: 'lookup' }, h('label', { for: id }, label), ' ', input, ' ', h('button', { type: 'submit' }, 'Open'));
  on(form, 'submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text) go(text);
  });
  return form;
}

const idsOf = (text: string) => [...new Set(text.split(/[\s,]+/).filter((id) => id !== ''))];

async function groupView(group: string | undefined): Promise<void> {
  const members = h('section', { id: 'members', 'aria-live': 'polite' });
  const parts: Node[] = [
    h('h2', {}, group ? `Group ${group}` : 'Groups'),
    lookupForm('group-name', 'Group', group ?? '', (name) => {
      location.hash = `#/groups/${seg(name)}`;
    }),
  ];
  if (group === undefined) {
    view().replaceChildren(...parts);
    return;
  }
  const ids = h('textarea', { id: 'bulk-ids', rows: 4, spellcheck: 'false', placeholder: 'agent-001 agent-002 …' });
  const outcome = h('p', { id: 'bulk-outcome', role: 'status' });
  const bulk = async (verb: 'add' | 'remove') => {
    const list = idsOf(ids.value);
    if (list.length === 0) return;
    const reason = await confirmAction(
      `${verb === 'add' ? 'Add' : 'Remove'} ${list.length} agent(s) ${verb === 'add' ? 'to' : 'from'} ${group}?`,
      verb === 'add' ? 'Add' : 'Remove',
      false,
    );
    if (reason === undefined) return;
    const totals = { added: 0, removed: 0, unchanged: 0, refused: [] as { agent_id: string; reason: string }[] };
    try {
      // The route takes at most 1,000 ids a request.
      for (let i = 0; i < list.length; i += 1000) {
        const answer = await api('POST', `/api/groups/${seg(group)}/members`, { [verb]: list.slice(i, i + 1000) });
        totals.added += answer.added ?? 0;
        totals.removed += answer.removed ?? 0;
        totals.unchanged += answer.unchanged ?? 0;
        totals.refused.push(...(answer.refused ?? []));
      }
      clearError();
      outcome.textContent = `added ${totals.added}, removed ${totals.removed}, unchanged ${totals.unchanged}${
        totals.refused.length ? `, refused ${totals.refused.map((r) => `${r.agent_id} (${r.reason})`).join(', ')}` : ''
      }`;
      ids.value = '';
      await loadMembers(null);
    } catch (error) {
      showError(error);
    }
  };
  const list = h('ul', { class: 'members' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  let cursor: string | null = null;
  const loadMembers = async (after: string | null) => {
    const page = await api<{ agents: string[]; next_cursor: string | null }>(
      'GET',
      `/api/groups/${seg(group)}/agents?limit=100${after ? `&cursor=${seg(after)}` : ''}`,
    );
    if (after === null) list.replaceChildren();
    list.append(...page.agents.map((agent) => h('li', {}, h('a', { href: `#/agents/${seg(agent)}` }, agent))));
    if (list.childElementCount === 0) list.append(h('li', {}, 'No members.'));
    cursor = page.next_cursor;
    more.hidden = cursor === null;
  };
  on(more, 'click', () => void loadMembers(cursor).catch(showError));
  members.replaceChildren(h('h3', {}, 'Members'), list, more);
  view().replaceChildren(
    ...parts,
    h(
      'section',
      { 'aria-labelledby': 'bulk-title' },
      h('h3', { id: 'bulk-title' }, 'Add or remove in bulk'),
      h('label', { for: 'bulk-ids' }, 'Agent ids (spaces, commas or lines between them)'),
      ids,
      h(
        'p',
        { class: 'buttons' },
        on(h('button', { type: 'button' }, 'Add to group'), 'click', () => void bulk('add')),
        ' ',
        on(h('button', { type: 'button', class: 'danger' }, 'Remove from group'), 'click', () => void bulk('remove')),
      ),
      outcome,
    ),
    members,
  );
  await loadMembers(null).then(clearError, showError);
}

async function agentView(agentId: string | undefined): Promise<void> {
  const parts: Node[] = [
    h('h2', {}, agentId ? `Agent ${agentId}` : 'Agent'),
    lookupForm('agent-id', 'Agent id', agentId ?? '', (id) => {
      location.hash = `#/agents/${seg(id)}`;
    }),
  ];
  if (agentId === undefined) {
    view().replaceChildren(...parts);
    return;
  }
  const groups = h('p', { id: 'agent-groups' }, 'loading…');
  const commands = h('tbody');
  view().replaceChildren(
    ...parts,
    h('h3', {}, 'Groups'),
    groups,
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        {},
        h('caption', {}, 'Commands, with the executions of jobs'),
        h('thead', {}, h('tr', {}, ...['Command', 'Status', 'Job', 'Created', 'Status details'].map((n) => h('th', { scope: 'col' }, n)))),
        commands,
      ),
    ),
  );
  try {
    const [memberOf, page] = await Promise.all([
      api<{ groups: string[] }>('GET', `/api/agents/${seg(agentId)}/groups`),
      api<{ commands: Record<string, any>[] }>('GET', `/api/agents/${seg(agentId)}/commands?limit=100`),
    ]);
    clearError();
    groups.replaceChildren(
      ...(memberOf.groups.length === 0
        ? ['in no group']
        : memberOf.groups.flatMap((g) => [h('a', { href: `#/groups/${seg(g)}` }, g), ' '])),
    );
    commands.replaceChildren(
      ...page.commands.map((c) =>
        h(
          'tr',
          {},
          h('td', {}, h('code', {}, c.command), h('div', { class: 'sub' }, c.command_id)),
          h('td', {}, statusBadge(String(c.status))),
          h('td', {}, c.job_id ? h('a', { href: `#/jobs/${seg(c.job_id)}` }, String(c.job_id).slice(0, 8)) : '—'),
          h('td', {}, timeEl(c.created_at)),
          h('td', { class: 'detail' }, details(c.status_details)),
        ),
      ),
    );
    if (page.commands.length === 0) commands.append(h('tr', {}, h('td', { colspan: 5 }, 'No commands.')));
  } catch (error) {
    groups.textContent = '—';
    showError(error);
  }
}

// ---------------------------------------------------------------------------------------------
// Routing and the token.

function route(): void {
  stopView?.();
  stopView = undefined;
  if (token === undefined) return;
  const [, asked, id] = location.hash.replace(/^#\/?/, '/').split('/');
  // Anything else is the jobs list.
  const noun = asked === 'groups' || asked === 'agents' ? asked : 'jobs';
  const arg = id ? decodeURIComponent(id) : undefined;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === `#/${noun}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (noun === 'jobs' && arg) void jobView(arg);
  else if (noun === 'groups') void groupView(arg);
  else if (noun === 'agents') void agentView(arg);
  else void jobsView();
}

function useToken(value: string, remember: boolean): void {
  token = value;
  if (remember) sessionStorage.setItem(REMEMBER_KEY, value);
  else sessionStorage.removeItem(REMEMBER_KEY);
  byId('token-state').textContent = remember ? 'Token set (remembered for this tab)' : 'Token set (this page only)';
  clearError();
  route();
}

function start(): void {
  const form = byId<HTMLFormElement>('token-form');
  const input = byId<HTMLInputElement>('token');
  const remember = byId<HTMLInputElement>('remember');
  on(form, 'submit', (event) => {
    event.preventDefault();
    const value = input.value.trim().replace(/^Bearer\s+/i, '');
    input.value = '';
    if (value) useToken(value, remember.checked);
  });
  on(byId('forget'), 'click', () => {
    token = undefined;
    sessionStorage.removeItem(REMEMBER_KEY);
    remember.checked = false;
    stopView?.();
    byId('token-state').textContent = 'No token';
    view().replaceChildren(h('p', {}, 'Token forgotten. Paste one to go on.'));
  });
  window.addEventListener('hashchange', route);
  const kept = sessionStorage.getItem(REMEMBER_KEY);
  if (kept) {
    remember.checked = true;
    useToken(kept, true);
  }
}

start();

/**
 * The walkthroughs work as written: their sh blocks (the README's "Walkthrough with curl" and its
 * groups, then docs/local.md's "Progress, a timeout, a cancel and the list", then docs/jobs.md's
 * "Fleet jobs: a walkthrough" and the later ones, then docs/tokens.md's DPoP walkthrough) are read from the docs at test time (no second copy here), run in
 * order in one bash against `npm start` on a free port (the only change: the port in the base
 * URL), and every step's answer is checked. A new step without a check here fails the test.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../dev/own-redis.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BASE_URL = 'http://127.0.0.1:5000';

/** The fenced sh blocks of a section (up to the next heading of any level outside a code block). */
function shBlocks(markdown: string, heading: string): string[] {
  const blocks: string[] = [];
  let inSection = false;
  let fence: string[] | undefined;
  let language = '';
  for (const line of markdown.split('\n')) {
    if (fence === undefined && /^#{1,6} /.test(line)) {
      if (inSection) break;
      inSection = line === heading;
    } else if (inSection && line.startsWith('```')) {
      if (fence === undefined) {
        fence = [];
        language = line.slice(3).trim();
      } else {
        if (language === 'sh') blocks.push(`${fence.join('\n')}\n`);
        fence = undefined;
      }
    } else if (fence !== undefined) fence.push(line);
  }
  return blocks;
}

const PREAMBLE = '(before the first comment)';
/** The sections whose sh blocks are run, in this order: the file (from the root) and the heading line. */
const SECTIONS: readonly { file: string; heading: string }[] = [
  { file: 'README.md', heading: '## Walkthrough with curl' },
  { file: 'docs/local.md', heading: '## Progress, a timeout, a cancel and the list' },
  { file: 'docs/jobs.md', heading: '## Fleet jobs: a walkthrough' },
  { file: 'docs/jobs.md', heading: '## Schedule, exponential rollout, abort by type, pause: a walkthrough' },
  { file: 'docs/jobs.md', heading: '## Dry run' },
  { file: 'docs/jobs.md', heading: '## Bulk group membership' },
  { file: 'docs/jobs.md', heading: '## History, and why it failed' },
  { file: 'docs/tokens.md', heading: '### The walkthrough with a bound token' },
  { file: 'docs/signing.md', heading: '## Walkthrough: a signed command, checked by the agent' },
];

const blocksOf = ({ file, heading }: { file: string; heading: string }) => shBlocks(readFileSync(path.join(ROOT, file), 'utf8'), heading);

/** The steps of a block: each begins at a comment line; what comes before the first one is a step too. */
function steps(block: string): { title: string; code: string }[] {
  const out: { title: string; code: string }[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('# ')) out.push({ title: line.slice(2), code: '' });
    else if (line.trim() !== '') {
      if (out.length === 0) out.push({ title: PREAMBLE, code: '' });
      (out.at(-1) as { code: string }).code += `${line}\n`;
    }
  }
  return out;
}

function walkthrough(): { title: string; code: string }[] {
  return SECTIONS.flatMap(blocksOf).flatMap(steps);
}

const checkFor = (title: string) =>
  Object.entries(CHECKS).find(([key]) => (key === PREAMBLE ? title === PREAMBLE : title.startsWith(key)))?.[1];

/** The JSON documents of a text, written one after the other (curl -s adds no newline). */
function documents(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let inString = false;
  let from = -1;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i += 1;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) from = i;
      depth += 1;
    } else if (c === '}' || c === ']') {
      depth -= 1;
      if (depth === 0) out.push(JSON.parse(text.slice(from, i + 1)));
    }
  }
  return out;
}

/** What each step must answer, by the start of its comment. */
const CHECKS: Record<string, (output: string) => void> = {
  'tokens signed with the local configuration': (output) => expect(output.trim()).toBe(''),
  'an operator queues a command for agent-001': (output) =>
    expect(documents(output)).toEqual([expect.objectContaining({ agent_id: 'agent-001', command: 'restart', status: 'pending' })]),
  'the agent fetches its commands': (output) => {
    const [answer] = documents(output) as { agent_id: string; commands: { command: string }[] }[];
    expect(answer?.agent_id).toBe('agent-001');
    expect(answer?.commands.map((command) => command.command)).toEqual(['restart']);
  },
  'the agent reports the outcome': (output) =>
    expect(documents(output)).toEqual([expect.objectContaining({ status: 'completed', accepted: true })]),
  'the operator reads it back': (output) =>
    expect(documents(output)).toEqual([expect.objectContaining({ status: 'completed', result: { exit_code: 0 } })]),
  'configuration: defaults merged': (output) => {
    const answers = documents(output) as { config: Record<string, unknown> }[];
    expect(answers).toHaveLength(2);
    for (const answer of answers) expect(answer.config).toMatchObject({ poll_interval_seconds: 10, commands_per_fetch: 10 });
    expect(answers[1]).toMatchObject({ agent_id: 'agent-001' });
  },
  'what the service sees in a token': (output) =>
    expect(documents(output)).toEqual([{ agent_id: 'agent-001', client_id: 'agent-001', scopes: ['agent:commands', 'agent:results'] }]),
  [PREAMBLE]: (output) => expect(output.trim()).toBe(''),
  'put three agents in web-eu': (output) => expect(output.trim()).toBe('204\n204\n204'),
  'the members, two per page': (output) =>
    expect(documents(output)).toEqual([
      { group: 'web-eu', agents: ['agent-001', 'agent-002'], next_cursor: expect.any(String) },
      { group: 'web-eu', agents: ['agent-003'], next_cursor: null },
    ]),
  "an agent's groups, and taking it out of one": (output) =>
    expect(documents(output)).toEqual([{ agent_id: 'agent-001', groups: ['canary', 'web-eu'] }]),
  'start a command, idempotently': (output) => expect(output.trim()).toMatch(/^[0-9a-f-]{36}$/),
  'the agent fetches it': (output) => {
    const [fetched, progress, shown] = documents(output) as Record<string, unknown>[];
    expect(fetched?.commands).toEqual([expect.objectContaining({ command: 'deploy', status: 'delivered' })]);
    expect(progress).toMatchObject({ status: 'in_progress', accepted: true });
    expect(shown).toMatchObject({ status: 'in_progress', status_details: { step: '2 of 3' } });
  },
  'one that times out': (output) =>
    expect(documents(output)).toEqual([expect.objectContaining({ status: 'timed_out' }), expect.objectContaining({ error: 'conflict' })]),
  'cancel the deploy': (output) =>
    expect(documents(output)).toEqual([expect.objectContaining({ status: 'canceled' }), expect.objectContaining({ error: 'conflict' })]),
  'list them': (output) => {
    // Three answers: the NEXT=$(...) line prints nothing.
    const [all, second, some] = documents(output) as { commands: { command_id: string; status: string }[]; next_cursor: unknown }[];
    expect(all?.commands.map((command) => command.status).sort()).toEqual(['canceled', 'completed', 'completed', 'timed_out']);
    expect(second?.commands.map((command) => command.command_id)).toEqual([all?.commands[1]?.command_id]);
    expect(some?.commands.map((command) => command.status).sort()).toEqual(['canceled', 'timed_out']);
  },
  'a group of four agents': (output) => expect(output.trim()).toBe('204\n204\n204\n204'),
  'a job for the group': (output) =>
    expect(documents(output)).toEqual([
      expect.objectContaining({
        command: 'restart',
        targets: { agents: [], groups: ['web-fleet'] },
        rollout: { max_per_minute: 2 },
        abort: {
          criteria: [{ failure_type: 'all', threshold_percent: 50, min_executed: 2 }],
          failure_threshold_percent: 50,
          min_executed: 2,
        },
        status: 'in_progress',
        counts: expect.objectContaining({ pending: 4, delivered: 0 }),
      }),
    ]),
  'every agent polls': (output) => {
    const answers = documents(output) as Record<string, any>[];
    expect(answers).toHaveLength(5);
    const polls = answers.slice(0, 4) as { agent_id: string; commands: { command_id: string; job_id: string | null }[] }[];
    expect(polls.map((answer) => answer.agent_id)).toEqual(['web-1', 'web-2', 'web-3', 'web-4']);
    expect(polls.map((answer) => answer.commands.length)).toEqual([1, 1, 0, 0]);
    for (const { commands } of polls.slice(0, 2)) expect(commands[0]?.job_id).toBe(commands[0]?.command_id);
    expect(answers[4]).toMatchObject({ pending: 2, delivered: 2, completed: 0 });
  },
  'web-1 reports success': (output) =>
    expect(documents(output)).toEqual([
      expect.objectContaining({ status: 'completed', accepted: true }),
      expect.objectContaining({ pending: 2, delivered: 1, completed: 1 }),
    ]),
  'web-2 fails': (output) => {
    const [posted, job, canceled, polled] = documents(output) as Record<string, any>[];
    expect(posted).toMatchObject({ status: 'failed', accepted: true });
    expect(job).toMatchObject({
      status: 'aborted',
      cancel_reason: 'job_aborted',
      counts: { pending: 0, delivered: 0, completed: 1, failed: 1, canceled: 2 },
    });
    expect(canceled?.executions.map((entry: { agent_id: string; cancel_reason: string }) => [entry.agent_id, entry.cancel_reason])).toEqual(
      [
        ['web-3', 'job_aborted'],
        ['web-4', 'job_aborted'],
      ],
    );
    expect(polled).toEqual({ agent_id: 'web-3', commands: [] });
  },
  'a second job, for web-3 by name': (output) =>
    expect(documents(output)).toEqual([
      expect.objectContaining({ command: 'upgrade', status: 'canceled', cancel_reason: 'wrong version', force: false }),
      expect.objectContaining({ error: 'conflict', error_description: 'the job was canceled' }),
    ]),
  'the jobs that ended early': (output) => {
    const [answer] = documents(output) as { jobs: { command: string; status: string }[]; next_cursor: unknown }[];
    expect(answer?.jobs.map((job) => [job.command, job.status])).toEqual([
      ['upgrade', 'canceled'],
      ['restart', 'aborted'],
    ]);
    expect(answer?.next_cursor).toBeNull();
  },
  'a canary group of four agents': (output) => expect(output.trim()).toBe('204\n204\n204\n204'),
  'a scheduled job': (output) => {
    const [job, polled] = documents(output) as Record<string, any>[];
    expect(job).toMatchObject({
      status: 'scheduled',
      schedule: { end_at: null, end_behavior: 'stop_rollout' },
      rollout: { max_per_minute: 8, current_per_minute: 1 },
      retry: { criteria: [{ failure_type: 'failed', max_attempts: 2 }] },
      abort: { criteria: [{ failure_type: 'timed_out' }, { failure_type: 'rejected' }] },
      counts: expect.objectContaining({ pending: 4 }),
    });
    expect(polled).toMatchObject({ agent_id: 'can-1', commands: [] });
  },
  'once started': (output) => {
    const polls = documents(output) as { agent_id: string; commands: { command: string }[] }[];
    expect(polls.map((poll) => [poll.agent_id, poll.commands.map((command) => command.command)])).toEqual([
      ['can-1', ['upgrade']],
      ['can-2', []],
    ]);
  },
  'can-1 succeeds': (output) => {
    const [posted, rollout, polled] = documents(output) as Record<string, any>[];
    expect(posted).toMatchObject({ status: 'completed', accepted: true });
    expect(rollout).toMatchObject({ current_per_minute: 2 });
    expect(polled).toMatchObject({ agent_id: 'can-2', commands: [{ command: 'upgrade' }] });
  },
  'pause it': (output) => {
    const [paused, polled, posted, listed] = documents(output) as Record<string, any>[];
    expect(paused).toMatchObject({ status: 'paused', pause_reason: 'checking the canaries' });
    expect(polled).toMatchObject({ agent_id: 'can-3', commands: [] });
    expect(posted).toMatchObject({ status: 'completed', accepted: true });
    expect(listed?.jobs).toEqual([
      expect.objectContaining({ status: 'paused', counts: expect.objectContaining({ completed: 2, pending: 2 }) }),
    ]);
  },
  'resume it': (output) => {
    const [resumed, third, fourth, counts] = documents(output) as Record<string, any>[];
    expect(resumed).toMatchObject({ status: 'in_progress', rollout: { current_per_minute: 4 } });
    expect([third, fourth].map((poll) => poll?.commands.length)).toEqual([1, 1]);
    expect(counts).toMatchObject({ pending: 0, delivered: 2, completed: 2 });
  },
  'can-4 succeeds': (output) => {
    const [fourth, third, counts, polled] = documents(output) as Record<string, any>[];
    expect(fourth).toMatchObject({ status: 'completed', accepted: true });
    expect(third).toMatchObject({ status: 'failed', accepted: true });
    expect(counts).toMatchObject({ pending: 1, delivered: 0, completed: 3, failed: 0 });
    expect(polled).toMatchObject({ agent_id: 'can-3', commands: [{ command: 'upgrade', attempt: 2, status: 'delivered' }] });
  },
  'a late report on attempt 1': (output) => {
    const [late, posted, ...more] = documents(output) as unknown[];
    expect(late).toMatchObject({ error: 'conflict' });
    expect(posted).toMatchObject({ status: 'completed', accepted: true });
    expect(more).toEqual([]);
    expect(output.trim().endsWith('"completed"')).toBe(true);
  },
  "can-3's execution with its history": (output) =>
    expect(output.trim().split('\n')).toEqual(['delivered 1', 'failed 1', 'pending 2 retry', 'delivered 2', 'completed 2']),
  'a dry run: dry-web': (output) =>
    expect(documents(output)).toEqual([
      { dry_run: true, targets: 4, targets_exact: true, by_group: { 'dry-web': 3 }, agents_listed: 2, estimated_rollout_minutes: 2 },
    ]),
  'a dry run over a group without members': (output) =>
    expect(documents(output)).toEqual([expect.objectContaining({ error: 'no_targets' })]),
  'bulk membership: three agents': (output) => expect(documents(output)).toEqual([{ added: 3, removed: 0, unchanged: 1, refused: [] }]),
  'then one more in and one out': (output) =>
    expect(documents(output)).toEqual([
      { added: 1, removed: 1, unchanged: 1, refused: [] },
      { group: 'bulk-web', agents: ['bulk-1', 'bulk-3', 'bulk-4'], next_cursor: null },
    ]),
  'hist-1 reports progress': (output) =>
    expect(documents(output)).toEqual([
      expect.objectContaining({ status: 'in_progress', accepted: true }),
      expect.objectContaining({ status: 'failed', accepted: true }),
      expect.objectContaining({ status: 'completed', accepted: true }),
    ]),
  'why it failed, in the listing': (output) => {
    const [page] = documents(output) as { executions: Record<string, unknown>[] }[];
    expect(page?.executions).toEqual([
      expect.objectContaining({
        agent_id: 'hist-1',
        status: 'failed',
        status_details: { step: 'download' },
        result_excerpt: '{"exit_code":2,"stderr":"disk full"}',
      }),
    ]);
  },
  "hist-1's execution with its history": (output) => {
    const [execution] = documents(output) as { history: { status: string; attempt: number }[]; history_truncated: boolean }[];
    expect(execution).toMatchObject({ agent_id: 'hist-1', status: 'failed', history_truncated: false });
    expect(execution?.history.map((entry) => [entry.status, entry.attempt])).toEqual([
      ['delivered', 1],
      ['in_progress', 1],
      ['failed', 1],
    ]);
  },
  'queue an echo for agent-001': (output) =>
    expect(documents(output)).toEqual([expect.objectContaining({ agent_id: 'agent-001', command: 'echo', args: { bound: true } })]),
  'mint a token bound to the key': (output) => expect(output.trim()).toBe(''),
  'stolen and sent as a bearer token': (output) => {
    expect(output).toMatch(/^HTTP\/1\.1 401 /m);
    expect(output).toMatch(
      /^www-authenticate: DPoP realm="biz-service", error="invalid_token", error_description="dpop_bound_token", algs="ES256 RS256 PS256 EdDSA"\r?$/im,
    );
    expect(documents(output)).toEqual([expect.objectContaining({ error: 'invalid_token', error_description: 'dpop_bound_token' })]);
  },
  'the reference agent holds the key': (output) => {
    expect(output).toMatch(/ran echo: completed/);
    expect(output).toMatch(/result accepted \(completed\)/);
    expect(output).toMatch(/stopped after 1 poll\(s\): \d+ run, \d+ accepted, 0 dropped, 0 not reported/);
  },
  'the public keys (no token)': (output) => expect(output.trim()).toBe(''),
  'a command for agent-101; its delivery carries the signature': (output) => {
    const [created, payload] = documents(output) as Record<string, unknown>[];
    expect(created).toMatchObject({ agent_id: 'agent-101', command: 'echo', status: 'pending' });
    expect(payload).toMatchObject({
      agent_id: 'agent-101',
      command_id: created?.command_id,
      command: 'echo',
      // The SHA-256 of {"a":1,"b":2}, the args' canonical JSON (the next step prints it).
      args_sha256: '43258cff783fe7036d8a43033f830adfc60ec037382473548ac742b888292777',
      expires_at: created?.expires_at,
    });
  },
  "the args' hash, by hand": (output) => expect(output.trim()).toBe('43258cff783fe7036d8a43033f830adfc60ec037382473548ac742b888292777  -'),
  'with the pinned keys, the reference agent checks it': (output) => {
    expect(output).toMatch(/ran echo: completed/);
    expect(output).not.toMatch(/refused|warning/);
    expect(output).toMatch(/stopped after 1 poll\(s\): 1 run, 1 accepted, 0 dropped, 0 not reported/);
  },
  'the reference agent': (output) => {
    expect(documents(output)[0]).toMatchObject({ command: 'echo', status: 'pending' });
    expect(output).toMatch(/ran echo: completed/);
    expect(output).toMatch(/result accepted \(completed\)/);
    expect(output).toMatch(/stopped after 1 poll\(s\): 1 run, 1 accepted, 0 dropped, 0 not reported/);
  },
};

describe('the walkthroughs of the README and docs/, run as written against npm start', () => {
  let server: ChildProcess;
  let url: string;
  let tail = '';
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // Its own process group, so that npm and the node it starts stop together.
    server = spawn('npm', ['start'], { cwd: ROOT, env: { ...env, BIZ_SERVICE_PORT: String(port) }, detached: true, stdio: 'pipe' });
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    server.stdout?.on('data', keep);
    server.stderr?.on('data', keep);
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`npm start exited: ${tail}`);
      if (
        await fetch(`${url}/health`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (Date.now() > deadline) throw new Error(`npm start did not answer /health: ${tail}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 30_000);

  afterAll(() => {
    if (server?.pid !== undefined && server.exitCode === null) process.kill(-server.pid, 'SIGTERM');
  });

  it('finds the walkthrough blocks and a check for each of their steps', () => {
    expect(SECTIONS.map(blocksOf).map((blocks) => blocks.length)).toEqual([2, 1, 1, 1, 1, 1, 1, 1, 1]);
    const titles = walkthrough().map((step) => step.title);
    expect(titles.filter((title) => checkFor(title) === undefined)).toEqual([]);
    // Every check is used (the preamble by both later blocks).
    expect(Object.keys(CHECKS).filter((key) => !titles.some((title) => checkFor(title) === CHECKS[key]))).toEqual([]);
  });

  it('answers every step as the docs say', async () => {
    const all = walkthrough();
    expect(all.length).toBeGreaterThan(Object.keys(CHECKS).length);
    const marker = (i: number) => `@@step ${i}@@`;
    // The steps as written, the base URL aside; a marker line between them to tell their output apart.
    const script = ['set -e', ...all.flatMap((step, i) => [`echo '${marker(i)}'`, step.code.replaceAll(BASE_URL, url)])].join('\n');
    const { stdout } = await promisify(execFile)('bash', ['-c', script], { cwd: ROOT, env, timeout: 150_000 }).catch((error) => {
      throw new Error(`the walkthrough failed: ${error.stderr ?? error.message}\n${error.stdout ?? ''}\nserver: ${tail}`);
    });
    for (const [i, step] of all.entries()) {
      const from = stdout.indexOf(marker(i)) + marker(i).length;
      const to = i + 1 < all.length ? stdout.indexOf(marker(i + 1)) : stdout.length;
      const output = stdout.slice(from, to);
      const check = checkFor(step.title);
      if (check === undefined) throw new Error(`no check for the step "${step.title}"`);
      try {
        check(output);
      } catch (error) {
        throw new Error(`step "${step.title}" answered:\n${output}\n${(error as Error).message}`);
      }
    }
  }, 180_000);
});

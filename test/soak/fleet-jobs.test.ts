/**
 * A fleet under one job: a few hundred simulated agents polling concurrently over real HTTP
 * against the local server (its own process, as `npm start` runs it) on real Redis through its
 * Upstash bridge, all in one group, and one job over that group with a rollout budget and an
 * abort threshold. Half of the agents report failure (by their id, so the share is known), the
 * others completion. The budget is small and the abort needs more terminal executions than one
 * minute's budget, so the run crosses the rollout's first minute and then trips the abort in the
 * second. Real time throughout (the server's clock is the system's).
 *
 * Then, from what the agents saw and what the service says: no agent was given the job twice
 * (a redelivery of the same command before its report aside) nor anything after its result was
 * accepted; no sliding minute holds more first deliveries than the budget, and the first holds
 * exactly the budget; nothing was delivered after the abort; every agent's result was accepted;
 * and the job's final counts equal a recount of its executions listing.
 *
 *   FLEET_JOBS_AGENTS=500 FLEET_JOBS_RATE=100 FLEET_JOBS_MIN=150 npm run test:soak -- test/soak/fleet-jobs.test.ts
 */
import { describe, expect, it } from 'vitest';
import { mostInAnyMinute } from '../helpers/job-contract.ts';
import { serverOnRedis } from '../helpers/load.ts';
import { HAS_REDIS } from '../helpers/redis.ts';
import { signToken } from '../helpers/tokens.ts';

const AGENTS = Number(process.env.FLEET_JOBS_AGENTS || 300);
/** The rollout budget: first deliveries per sliding minute. */
const RATE = Number(process.env.FLEET_JOBS_RATE || 40);
/** The abort's min_executed: more than one minute's budget, so the abort comes in the second minute. */
const MIN_EXECUTED = Number(process.env.FLEET_JOBS_MIN || Math.round(RATE * 1.5));
const THRESHOLD_PERCENT = 30;
const POLL_MS = 1_000;
/** How long after the abort the agents keep polling (they must get nothing new). */
const AFTER_ABORT_MS = 5_000;
const REDIS_TIMEOUT_MS = process.env.FLEET_REDIS_TIMEOUT_MS || '5000';
const LIMIT_MS = 4 * 60_000;

interface Seen {
  readonly id: string;
  readonly fails: boolean;
  /** Each time the job's execution was handed out: its command id, delivery count and wall time. */
  readonly deliveries: { commandId: string; count: number; at: number }[];
  /** When its result was accepted (wall time). */
  acceptedAt?: number;
  readonly problems: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!HAS_REDIS)(`fleet jobs: ${AGENTS} agents, one job at ${RATE}/min with an abort guard, on real Redis`, () => {
  const running = serverOnRedis('fleet-jobs', REDIS_TIMEOUT_MS);

  it(
    'delivers once per agent, within the budget of every sliding minute, nothing after the abort, and counts what it lists',
    async () => {
      // Prepare: an operator, the fleet in one group, each agent with its own token.
      const url = running.server.url;
      const operator = await signToken(
        { sub: 'fleet-jobs-operator', scope: 'admin:groups admin:jobs admin:commands' },
        { expiresIn: 3600 },
      );
      const api = async (method: string, path: string, body?: unknown) => {
        const response = await fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${operator}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await response.text();
        return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as any };
      };
      const group = 'fleet:jobs';
      const fleet: Seen[] = Array.from({ length: AGENTS }, (_, i) => ({
        id: `jobs-agent-${String(i).padStart(4, '0')}`,
        fails: i % 2 === 0,
        deliveries: [],
        problems: [],
      }));
      const tokens = new Map<string, string>();
      for (const agent of fleet) tokens.set(agent.id, await signToken({ sub: agent.id }, { expiresIn: 3600 }));
      let next = 0;
      const joiner = async () => {
        while (next < fleet.length) {
          const agent = fleet[next++] as Seen;
          const answer = await api('PUT', `/api/groups/${encodeURIComponent(group)}/agents/${agent.id}`);
          if (answer.status !== 204) throw new Error(`join of ${agent.id}: ${answer.status}`);
        }
      };
      await Promise.all(Array.from({ length: 16 }, joiner));

      // Act: the fleet polls; the job is created; agents run it as it reaches them.
      let jobId = '';
      let stop = false;
      const agentLoop = async (agent: Seen) => {
        const token = tokens.get(agent.id) as string;
        await sleep(Math.random() * POLL_MS);
        while (!stop) {
          try {
            const response = await fetch(`${url}/api/commands?limit=5`, {
              headers: { authorization: `Bearer ${token}` },
              signal: AbortSignal.timeout(15_000),
            });
            const body = (await response.json()) as { commands?: { command_id: string; job_id: string | null; delivery_count: number }[] };
            if (response.status !== 200) agent.problems.push(`poll: ${response.status}`);
            for (const command of body.commands ?? []) {
              if (command.job_id !== jobId) {
                agent.problems.push(`given ${command.command_id} of job ${command.job_id}`);
                continue;
              }
              agent.deliveries.push({ commandId: command.command_id, count: command.delivery_count, at: Date.now() });
              if (agent.acceptedAt !== undefined) agent.problems.push(`given ${command.command_id} again after its result was accepted`);
              await sleep(Math.random() * 200);
              const status = agent.fails ? 'failed' : 'completed';
              const posted = await fetch(`${url}/api/results`, {
                method: 'POST',
                headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
                body: JSON.stringify({ command_id: command.command_id, status, result: { agent: agent.id } }),
                signal: AbortSignal.timeout(15_000),
              });
              await posted.text();
              if (posted.status === 200) agent.acceptedAt ??= Date.now();
              else agent.problems.push(`report ${status}: ${posted.status}`);
            }
          } catch (error) {
            agent.problems.push(`network: ${(error as Error).message}`);
          }
          await sleep(POLL_MS * (0.5 + Math.random()));
        }
      };
      const created = await api('POST', '/api/jobs', {
        command: 'fleet.check',
        args: { depth: 1 },
        targets: { groups: [group] },
        rollout: { max_per_minute: RATE },
        abort: { failure_threshold_percent: THRESHOLD_PERCENT, min_executed: MIN_EXECUTED },
        ttl_seconds: 900,
        description: 'the fleet soak',
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      jobId = created.body.job_id as string;
      const loops = fleet.map((agent) => agentLoop(agent));
      const started = Date.now();
      let job = created.body;
      while (job.status === 'in_progress' && Date.now() - started < LIMIT_MS - 60_000) {
        await sleep(1_000);
        const read = await api('GET', `/api/jobs/${jobId}`);
        if (read.status === 200) job = read.body;
      }
      const abortSeenAt = Date.now();
      await sleep(AFTER_ABORT_MS);
      stop = true;
      await Promise.all(loops);

      // Read back the job and every execution.
      const final = (await api('GET', `/api/jobs/${jobId}`)).body;
      const executions: { agent_id: string; command_id: string | null; status: string; delivered_at: string | null }[] = [];
      let cursor: string | null = null;
      do {
        const page = await api('GET', `/api/jobs/${jobId}/executions?limit=100${cursor === null ? '' : `&cursor=${cursor}`}`);
        expect(page.status).toBe(200);
        executions.push(...page.body.executions);
        cursor = page.body.next_cursor;
      } while (cursor !== null);

      // Assess.
      const recount: Record<string, number> = Object.fromEntries(Object.keys(final.counts).map((status) => [status, 0]));
      for (const execution of executions) recount[execution.status] = (recount[execution.status] ?? 0) + 1;
      const firsts = executions.filter((e) => e.delivered_at !== null).map((e) => Date.parse(e.delivered_at as string));
      const createdAt = Date.parse(final.created_at);
      const abortAt = final.completed_at === null ? Number.NaN : Date.parse(final.completed_at);
      const deliveredAgents = fleet.filter((agent) => agent.deliveries.length > 0);
      const twice = fleet.filter(
        (agent) => new Set(agent.deliveries.map((d) => d.commandId)).size > 1 || agent.deliveries.some((d) => d.commandId !== jobId),
      );
      const unreported = deliveredAgents.filter((agent) => agent.acceptedAt === undefined).map((agent) => agent.id);
      const problems = fleet.flatMap((agent) => agent.problems.map((problem) => `${agent.id}: ${problem}`));
      const deliveredAfter = firsts.filter((at) => at > abortAt).length;
      const terminal = final.counts.completed + final.counts.failed + final.counts.rejected + final.counts.timed_out;
      console.info(
        [
          `fleet jobs: ${AGENTS} agents, budget ${RATE}/min, abort at ${THRESHOLD_PERCENT}% of >= ${MIN_EXECUTED}: ` +
            `${final.status} after ${((abortAt - createdAt) / 1000).toFixed(1)} s (seen ${((abortSeenAt - started) / 1000).toFixed(1)} s)`,
          `  first deliveries ${firsts.length} (most in one minute ${mostInAnyMinute(firsts)}), agents that got it ${deliveredAgents.length}, ` +
            `redeliveries ${fleet.reduce((n, a) => n + Math.max(0, a.deliveries.length - 1), 0)}`,
          `  counts ${JSON.stringify(final.counts)}`,
        ].join('\n'),
      );
      if (problems.length > 0) console.info(`server log (last lines):\n${running.server.output()}`);

      expect(problems.slice(0, 5), 'failed polls or reports, or deliveries that should not be').toEqual([]);
      expect(twice.map((agent) => agent.id).slice(0, 5), 'agents given the job more than once').toEqual([]);
      expect(final.status).toBe('aborted');
      expect(final.cancel_reason).toBe('job_aborted');
      expect(recount, 'counts against a recount of the executions').toEqual(final.counts);
      expect(executions).toHaveLength(AGENTS);
      expect(firsts.length, 'every execution made was seen by its agent').toBe(deliveredAgents.length);
      expect(mostInAnyMinute(firsts), 'first deliveries in one sliding minute').toBeLessThanOrEqual(RATE);
      expect(firsts.filter((at) => at < createdAt + 60_000).length, 'first deliveries in the first minute').toBe(RATE);
      expect(firsts.length, 'the abort came after the first minute').toBeGreaterThan(RATE);
      expect(deliveredAfter, 'first deliveries after the abort').toBe(0);
      expect(unreported.slice(0, 5), 'delivered but no result accepted').toEqual([]);
      expect(terminal).toBeGreaterThanOrEqual(MIN_EXECUTED);
      expect(final.counts.canceled, 'every undelivered target canceled by the abort').toBe(AGENTS - firsts.length);
      expect(final.counts.pending + final.counts.delivered + final.counts.in_progress).toBe(0);
      expect(final.counts.failed).toBe(deliveredAgents.filter((agent) => agent.fails).length);
    },
    LIMIT_MS,
  );
});

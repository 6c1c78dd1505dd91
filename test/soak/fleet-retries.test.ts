/**
 * A fleet under one job with retries: a few hundred simulated agents polling concurrently over
 * real HTTP against the local server (its own process) on real Redis through its Upstash bridge,
 * all in one group, and one job over that group with an exponential rollout, a short timeout,
 * retries of failures (3 attempts in all) and of timeouts (2), and two abort criteria: one on
 * timed_out, one on failed that must not trip. Agents act by their id, so every share is known:
 * half complete at once, a fifth fail their first attempt and complete the next, a tenth fail
 * every attempt, a fifth ("silent") never report, so they time out, are retried, time out
 * again, and one in twenty is offline until the abort is seen, then polls. A retry's delivery takes its place in the rollout as a first one does. The rate's
 * growth step is larger than its base, so the first minute holds the base alone (first deliveries:
 * no retry is due yet); the abort needs more judged executions than that, so it comes in the
 * second minute, where the rate climbs to its cap, once the silent agents' final timeouts are a
 * large enough share. Real time throughout; on a busy machine a report may come after its
 * attempt's deadline: it is answered 409 and the agent takes that attempt as timed out.
 *
 * Then, from what the agents saw and what the service says: each delivery's attempt is 1 or the
 * agent's last, or one more than it after its last was over; nothing was handed out for an
 * attempt that was over (its result accepted, or timed out); a report naming an older attempt is
 * 409 and changes nothing; no sliding minute holds more deliveries (first ones and retries) than
 * the exponential rate allowed at its last one, nor than max_per_minute, and the first minute holds
 * base_per_minute; the job aborted on the timed_out criterion (at the abort's instant the failed
 * share was under its threshold), never before a criterion was met; no attempt was delivered
 * after the abort (the agents coming online then are given nothing, their targets canceled); each execution reads
 * as its agent saw and reported it; the final counts equal a recount of the executions listing;
 * and a silent agent's history reads delivered, timed_out, pending (retry, attempt 2), delivered
 * (attempt 2), timed_out.
 *
 *   FLEET_RETRIES_AGENTS=500 FLEET_RETRIES_BASE=50 FLEET_RETRIES_STEP=60 FLEET_RETRIES_MIN=70 \
 *     npm run test:soak -- test/soak/fleet-retries.test.ts
 */
import { describe, expect, it } from 'vitest';
import { mostInAnyMinute } from '../helpers/job-contract.ts';
import { serverOnRedis } from '../helpers/load.ts';
import { HAS_REDIS } from '../helpers/redis.ts';
import { signToken } from '../helpers/tokens.ts';

const AGENTS = Number(process.env.FLEET_RETRIES_AGENTS || 300);
/** The exponential rollout: its base rate, its factor, the first deliveries between two raises, its cap. */
const BASE = Number(process.env.FLEET_RETRIES_BASE || 30);
const FACTOR = Number(process.env.FLEET_RETRIES_FACTOR || 2);
const STEP = Number(process.env.FLEET_RETRIES_STEP || 40);
const CAP = Number(process.env.FLEET_RETRIES_MAX || 480);
/** The timed_out criterion's min_executed: more than the first minute's base, so the abort comes after it. */
const MIN_EXECUTED = Number(process.env.FLEET_RETRIES_MIN || 40);
const TIMEOUT_SECONDS = Number(process.env.FLEET_RETRIES_TIMEOUT || 5);
/** The silent agents are a fifth of the fleet; the abort needs a tenth of the judged ones timed out. */
const TIMED_OUT_PERCENT = Number(process.env.FLEET_RETRIES_TIMED_OUT_PERCENT || 10);
/** The failed criterion: failures stay well under it (a tenth of the fleet fails for good). */
const FAILED_PERCENT = 40;
const FAILED_MIN = 20;
const FAILED_ATTEMPTS = 3;
const TIMED_OUT_ATTEMPTS = 2;
const POLL_MS = 1_000;
/** How long after the abort the agents keep polling: past the timeout of any attempt delivered before it. */
const AFTER_ABORT_MS = (TIMEOUT_SECONDS + 4) * 1_000;
/**
 * Concurrent polls take the server's clock before their store call, so two first deliveries may be
 * stamped in the other order than they were counted: the rate a delivery was judged by is bounded
 * by the deliveries stamped up to this much after it.
 */
const STAMP_SLACK_MS = 2_000;
/** Redis is slow on a busy machine, not down: the server waits for it rather than answering 503. */
const REDIS_TIMEOUT_MS = process.env.FLEET_REDIS_TIMEOUT_MS || '15000';
const HTTP_TIMEOUT_MS = 30_000;
const LIMIT_MS = 5 * 60_000;

if (STEP <= BASE) throw new Error('FLEET_RETRIES_STEP must exceed FLEET_RETRIES_BASE (the first minute holds the base alone)');
if (MIN_EXECUTED <= BASE) throw new Error('FLEET_RETRIES_MIN must exceed FLEET_RETRIES_BASE (the abort comes after the first minute)');

type Kind = 'completes' | 'fails_once' | 'fails' | 'silent' | 'offline';

/**
 * By id: a fifth silent, a tenth failing every attempt, a fifth failing the first, one in twenty
 * offline until the abort is seen (then polling, to be given nothing), the rest completing.
 */
function kindOf(i: number): Kind {
  const r = i % 10;
  if (i % 20 === 19) return 'offline';
  if (r === 0 || r === 5) return 'silent';
  if (r === 1) return 'fails';
  if (r === 2 || r === 7) return 'fails_once';
  return 'completes';
}

/** The exponential rate after `materialized` first deliveries, as issue 21 states it (floor at each step, capped). */
function rateAfter(materialized: number): number {
  let rate = BASE;
  for (let step = 0; step < Math.floor(materialized / STEP) && rate < CAP; step += 1) {
    const next = Math.floor((rate * Math.round(FACTOR * 10)) / 10);
    if (next <= rate) break;
    rate = next;
  }
  return Math.min(rate, CAP);
}

interface Seen {
  readonly id: string;
  readonly kind: Kind;
  /** Each time the job's execution was handed out: its command id, attempt and wall time. */
  readonly deliveries: { commandId: string; attempt: number; at: number }[];
  /**
   * How each attempt it reported on ended, in order: the status of a result answered 200, or
   * timed_out for one answered 409 (reported after its deadline on a busy machine: over).
   */
  readonly outcomes: { attempt: number; status: string }[];
  /** Results answered 409 because their attempt had timed out. */
  late: number;
  /** Reports naming an older attempt, and what they were answered. */
  readonly staleAnswers: number[];
  readonly problems: string[];
}

interface Execution {
  agent_id: string;
  command_id: string | null;
  status: string;
  attempt: number;
  delivered_at: string | null;
  completed_at: string | null;
  cancel_reason?: string | null;
}

interface HistoryEntry {
  status: string;
  at: string;
  attempt: number;
  reason?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!HAS_REDIS)(
  `fleet retries: ${AGENTS} agents, one job at ${BASE}/min x${FACTOR} per ${STEP} (max ${CAP}) with retries and a timed_out abort, on real Redis`,
  () => {
    const running = serverOnRedis('fleet-retries', REDIS_TIMEOUT_MS);

    it(
      'hands out attempts in order, none after its result, within the rate, aborts on timeouts and counts what it lists',
      async () => {
        // Prepare: an operator, the fleet in one group, each agent with its own token.
        const url = running.server.url;
        const operator = await signToken(
          { sub: 'fleet-retries-operator', scope: 'admin:groups admin:jobs admin:commands' },
          { expiresIn: 3600 },
        );
        const api = async (method: string, path: string, body?: unknown) => {
          const response = await fetch(`${url}${path}`, {
            method,
            headers: { authorization: `Bearer ${operator}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
          });
          const text = await response.text();
          return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as any };
        };
        const group = 'fleet:retries';
        const fleet: Seen[] = Array.from({ length: AGENTS }, (_, i) => ({
          id: `retries-agent-${String(i).padStart(4, '0')}`,
          kind: kindOf(i),
          deliveries: [],
          outcomes: [],
          late: 0,
          staleAnswers: [],
          problems: [],
        }));
        const byId = new Map(fleet.map((agent) => [agent.id, agent]));
        const tokens = new Map<string, string>();
        for (const agent of fleet) tokens.set(agent.id, await signToken({ sub: agent.id }, { expiresIn: 3600 }));
        const inParallel = async <T>(items: readonly T[], work: (item: T) => Promise<void>) => {
          let next = 0;
          const worker = async () => {
            while (next < items.length) await work(items[next++] as T);
          };
          await Promise.all(Array.from({ length: 16 }, worker));
        };
        await inParallel(fleet, async (agent) => {
          const answer = await api('PUT', `/api/groups/${encodeURIComponent(group)}/agents/${agent.id}`);
          if (answer.status !== 204) throw new Error(`join of ${agent.id}: ${answer.status}`);
        });

        // Act: the fleet polls; the job is created; agents run it as it reaches them.
        let jobId = '';
        let stop = false;
        let busyPolls = 0;
        let busyReports = 0;
        /**
         * A report, sent again (the same body) while it is answered 503 (the store out of reach a
         * moment on a busy machine): its answer, and whether a 503 came first (so it may have been
         * stored by then: a failure then retried makes the next try 409 as stale).
         */
        const report = async (agent: Seen, body: Record<string, unknown>) => {
          let busy = false;
          for (let tries = 1; ; tries += 1) {
            const posted = await fetch(`${url}/api/results`, {
              method: 'POST',
              headers: { authorization: `Bearer ${tokens.get(agent.id) as string}`, 'content-type': 'application/json' },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
            });
            await posted.text();
            if (posted.status !== 503 || tries === 3) return { status: posted.status, busy };
            busy = true;
            busyReports += 1;
            await sleep(300);
          }
        };
        let seenEnded: () => void = () => {};
        const ended = new Promise<void>((resolve) => {
          seenEnded = resolve;
        });
        const agentLoop = async (agent: Seen) => {
          if (agent.kind === 'offline') await ended;
          const token = tokens.get(agent.id) as string;
          await sleep(Math.random() * POLL_MS);
          while (!stop) {
            try {
              const response = await fetch(`${url}/api/commands?limit=5`, {
                headers: { authorization: `Bearer ${token}` },
                signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
              });
              const body = (await response.json()) as { commands?: { command_id: string; job_id: string | null; attempt: number }[] };
              if (response.status === 503) busyPolls += 1;
              else if (response.status !== 200) agent.problems.push(`poll: ${response.status}`);
              for (const command of body.commands ?? []) {
                if (command.job_id !== jobId) {
                  agent.problems.push(`given ${command.command_id} of job ${command.job_id}`);
                  continue;
                }
                const { attempt } = command;
                const last = agent.deliveries.at(-1);
                const over = agent.outcomes.at(-1);
                // A delivered attempt is handed out again until it is over; the next one only after.
                const inOrder = last === undefined ? attempt === 1 : attempt === last.attempt || attempt === last.attempt + 1;
                if (!inOrder) agent.problems.push(`attempt ${attempt} after attempt ${last?.attempt}`);
                if (over !== undefined && attempt <= over.attempt) {
                  agent.problems.push(`given attempt ${attempt} after attempt ${over.attempt} was over (${over.status})`);
                }
                if (over?.status === 'completed') agent.problems.push(`given attempt ${attempt} after completing`);
                agent.deliveries.push({ commandId: command.command_id, attempt, at: Date.now() });
                if (agent.kind === 'silent') continue;
                if (attempt > 1 && agent.kind === 'fails_once' && agent.staleAnswers.length === 0) {
                  // Once per such agent: a report on the attempt that is over; it must change nothing.
                  agent.staleAnswers.push(
                    (
                      await report(agent, {
                        command_id: command.command_id,
                        attempt: attempt - 1,
                        status: 'failed',
                        result: { stale: true },
                      })
                    ).status,
                  );
                }
                await sleep(Math.random() * 200);
                const status = agent.kind === 'fails' || (agent.kind === 'fails_once' && attempt === 1) ? 'failed' : 'completed';
                const answered = await report(agent, {
                  command_id: command.command_id,
                  attempt,
                  status,
                  result: { agent: agent.id, attempt },
                });
                if (answered.status === 200) agent.outcomes.push({ attempt, status });
                else if (answered.status === 409) {
                  // Over: it timed out; or, after a 503, the failure was stored and retried.
                  agent.outcomes.push({ attempt, status: answered.busy && status === 'failed' ? 'failed' : 'timed_out' });
                  agent.late += 1;
                } else agent.problems.push(`report ${status} on attempt ${attempt}: ${answered.status}`);
              }
            } catch (error) {
              agent.problems.push(`network: ${(error as Error).message}`);
            }
            await sleep(POLL_MS * (0.5 + Math.random()));
          }
        };
        const created = await api('POST', '/api/jobs', {
          command: 'fleet.upgrade',
          args: { to: '2.1' },
          targets: { groups: [group] },
          rollout: {
            max_per_minute: CAP,
            exponential: { base_per_minute: BASE, increment_factor: FACTOR, increase_after: { notified: STEP } },
          },
          timeout_seconds: TIMEOUT_SECONDS,
          retry: {
            criteria: [
              { failure_type: 'failed', max_attempts: FAILED_ATTEMPTS },
              { failure_type: 'timed_out', max_attempts: TIMED_OUT_ATTEMPTS },
            ],
          },
          abort: {
            criteria: [
              { failure_type: 'timed_out', threshold_percent: TIMED_OUT_PERCENT, min_executed: MIN_EXECUTED },
              { failure_type: 'failed', threshold_percent: FAILED_PERCENT, min_executed: FAILED_MIN },
            ],
          },
          ttl_seconds: 900,
          description: 'the retries soak',
        });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        jobId = created.body.job_id as string;
        const loops = fleet.map((agent) => agentLoop(agent));
        const started = Date.now();
        let job = created.body;
        while (job.status === 'in_progress' && Date.now() - started < LIMIT_MS - 90_000) {
          await sleep(1_000);
          const read = await api('GET', `/api/jobs/${jobId}`);
          if (read.status === 200) job = read.body;
        }
        const abortSeenAt = Date.now();
        seenEnded();
        await sleep(AFTER_ABORT_MS);
        stop = true;
        await Promise.all(loops);

        // Read back the job, every execution, and the history of each one made.
        const final = (await api('GET', `/api/jobs/${jobId}`)).body;
        const executions: Execution[] = [];
        let cursor: string | null = null;
        do {
          const page = await api('GET', `/api/jobs/${jobId}/executions?limit=100${cursor === null ? '' : `&cursor=${cursor}`}`);
          expect(page.status).toBe(200);
          executions.push(...page.body.executions);
          cursor = page.body.next_cursor;
        } while (cursor !== null);
        const made = executions.filter((execution) => execution.command_id !== null);
        const histories = new Map<string, HistoryEntry[]>();
        await inParallel(made, async (execution) => {
          const read = await api('GET', `/api/jobs/${jobId}/executions/${execution.agent_id}`);
          if (read.status !== 200) throw new Error(`history of ${execution.agent_id}: ${read.status}`);
          histories.set(execution.agent_id, read.body.history);
        });

        // Assess.
        const createdAt = Date.parse(final.created_at);
        const abortAt = final.completed_at === null ? Number.NaN : Date.parse(final.completed_at);
        const recount: Record<string, number> = Object.fromEntries(Object.keys(final.counts).map((status) => [status, 0]));
        for (const execution of executions) recount[execution.status] = (recount[execution.status] ?? 0) + 1;
        // Each attempt's delivery as the service stamped it (its first hand-out), and the first deliveries alone.
        const attemptDeliveries = [...histories].flatMap(([agentId, history]) =>
          history
            .filter(
              (entry, i) =>
                entry.status === 'delivered' && !history.slice(0, i).some((e) => e.status === 'delivered' && e.attempt === entry.attempt),
            )
            .map((entry) => ({ agentId, attempt: entry.attempt, at: Date.parse(entry.at) })),
        );
        const firsts = attemptDeliveries.filter((d) => d.attempt === 1).map((d) => d.at);
        // A retry's delivery takes its place in the rollout as a first one does; the rate grows with first deliveries.
        const handed = attemptDeliveries.map((d) => d.at).sort((a, b) => a - b);
        const overRate: string[] = [];
        for (const [k, at] of handed.entries()) {
          const inWindow = handed.filter((t) => t > at - 60_000 && t <= at).length;
          const rate = rateAfter(firsts.filter((t) => t <= at + STAMP_SLACK_MS).length);
          if (inWindow > rate) overRate.push(`#${k} at +${at - createdAt} ms: ${inWindow} in its minute, rate ${rate}`);
        }
        // The counts at the abort's instant, from each execution's end: what the criteria judged.
        const endedBy = (execution: Execution) =>
          execution.completed_at !== null && Date.parse(execution.completed_at) <= abortAt && execution.cancel_reason !== 'job_aborted';
        const atAbort = { judged: 0, timed_out: 0, failed: 0 };
        for (const execution of executions.filter(endedBy)) {
          if (execution.status === 'expired') continue;
          atAbort.judged += 1;
          if (execution.status === 'timed_out') atAbort.timed_out += 1;
          if (execution.status === 'failed') atAbort.failed += 1;
        }
        // The first instant the ends met a criterion (ends at one instant taken together).
        const ends = executions
          .filter((e) => e.completed_at !== null && e.status !== 'expired' && e.cancel_reason !== 'job_aborted')
          .map((e) => ({ at: Date.parse(e.completed_at as string), status: e.status }))
          .sort((a, b) => a.at - b.at);
        let firstMet = Number.NaN;
        const sofar = { judged: 0, timed_out: 0, failed: 0 };
        for (const [i, end] of ends.entries()) {
          sofar.judged += 1;
          if (end.status === 'timed_out') sofar.timed_out += 1;
          if (end.status === 'failed') sofar.failed += 1;
          if (ends[i + 1]?.at === end.at) continue;
          const met =
            (sofar.judged >= MIN_EXECUTED && 100 * sofar.timed_out >= TIMED_OUT_PERCENT * sofar.judged) ||
            (sofar.judged >= FAILED_MIN && 100 * sofar.failed >= FAILED_PERCENT * sofar.judged);
          if (met) {
            firstMet = end.at;
            break;
          }
        }
        const deliveredAfter = attemptDeliveries.filter((d) => d.at > abortAt);
        // An attempt that failed or timed out with a retry left is retried before the abort, not after it.
        const retryLeft = (e: Execution) =>
          (e.status === 'timed_out' && e.attempt < TIMED_OUT_ATTEMPTS) || (e.status === 'failed' && e.attempt < FAILED_ATTEMPTS);
        const endedAt = (e: Execution) => Date.parse(e.completed_at as string);
        const unretried = executions.filter(
          (e) => retryLeft(e) && (e.status === 'timed_out' ? endedAt(e) <= abortAt : endedAt(e) < abortAt),
        );
        const cutByAbort = executions.filter((e) => retryLeft(e) && !unretried.includes(e)).length;
        const problems = fleet.flatMap((agent) => agent.problems.map((problem) => `${agent.id}: ${problem}`));
        const staleAnswers = fleet.flatMap((agent) => agent.staleAnswers);
        const retried = fleet.filter((agent) => agent.deliveries.some((d) => d.attempt > 1));
        // What each execution must read as, from what its agent saw and was told.
        const mismatched: string[] = [];
        for (const execution of made) {
          const agent = byId.get(execution.agent_id) as Seen;
          const seen = Math.max(...agent.deliveries.map((d) => d.attempt));
          // How its last attempt ended: a silent agent's timed out; another's as its report was answered.
          const last = agent.kind === 'silent' ? { attempt: seen, status: 'timed_out' } : agent.outcomes.at(-1);
          const expected =
            last !== undefined &&
            // As it ended; or, that attempt failed or timed out with a retry left, the retry canceled by the abort.
            ((execution.status === last.status && execution.attempt === last.attempt) ||
              (execution.status === 'canceled' &&
                execution.cancel_reason === 'job_aborted' &&
                last.status !== 'completed' &&
                execution.attempt === last.attempt + 1));
          const maxAttempts = agent.kind === 'silent' ? TIMED_OUT_ATTEMPTS : FAILED_ATTEMPTS;
          if (!expected || execution.attempt > maxAttempts) {
            mismatched.push(
              `${agent.id} (${agent.kind}, saw ${seen}, outcomes ${JSON.stringify(agent.outcomes)}): ${JSON.stringify(execution)}`,
            );
          }
        }
        const silentTwice = made.find(
          (execution) => byId.get(execution.agent_id)?.kind === 'silent' && execution.status === 'timed_out' && execution.attempt === 2,
        );
        console.info(
          [
            `fleet retries: ${AGENTS} agents, ${BASE}/min x${FACTOR} per ${STEP} notified (max ${CAP}), timeout ${TIMEOUT_SECONDS} s, ` +
              `abort at ${TIMED_OUT_PERCENT}% timed_out of >= ${MIN_EXECUTED}: ${final.status} at +${abortAt - createdAt} ms ` +
              `(seen ${((abortSeenAt - started) / 1000).toFixed(1)} s), rate then ${final.rollout?.current_per_minute}/min`,
            `  first deliveries ${firsts.length}, attempt deliveries ${handed.length} (most in one minute ${mostInAnyMinute(handed)}), ` +
              `agents retried ${retried.length}, stale reports ${staleAnswers.length}, late reports ${fleet.reduce((n, a) => n + a.late, 0)}, not retried after the abort ${cutByAbort}, polls answered 503 ${busyPolls}, reports ${busyReports}`,
            `  at the abort: ${JSON.stringify(atAbort)}; criteria first met at +${firstMet - createdAt} ms; final counts ${JSON.stringify(final.counts)}`,
          ].join('\n'),
        );
        if (problems.length > 0) console.info(`server log (last lines):\n${running.server.output()}`);
        else if (busyPolls + busyReports > 0) {
          const why = running.server
            .output()
            .split('\n')
            .find((line) => line.includes('"status":503'));
          console.info(`a poll answered 503: ${why ?? '(not in the last lines of the log)'}`);
        }

        expect(problems.slice(0, 5), 'failed polls or reports, attempts out of order or after their result').toEqual([]);
        expect(final.status).toBe('aborted');
        expect(final.cancel_reason).toBe('job_aborted');
        expect(recount, 'counts against a recount of the executions').toEqual(final.counts);
        expect(executions).toHaveLength(AGENTS);
        expect(final.counts.pending + final.counts.delivered + final.counts.in_progress, 'nothing live after the abort settled').toBe(0);
        expect(final.counts.canceled, 'every target not ended by the abort canceled by it').toBe(
          executions.filter((e) => e.cancel_reason === 'job_aborted').length,
        );
        expect(mismatched.slice(0, 5), 'executions as their agents saw and reported them').toEqual([]);
        expect(new Set(made.map((e) => e.agent_id)), 'every execution made was seen by its agent').toEqual(
          new Set(fleet.filter((agent) => agent.deliveries.length > 0).map((agent) => agent.id)),
        );

        // Retries: some were made, stale reports were refused.
        const offline = fleet.filter((agent) => agent.kind === 'offline');
        expect(
          executions.filter(
            (e) => byId.get(e.agent_id)?.kind === 'offline' && (e.status !== 'canceled' || e.cancel_reason !== 'job_aborted'),
          ),
          'targets offline until the abort, canceled by it',
        ).toEqual([]);
        expect(
          offline.filter((agent) => agent.deliveries.length > 0).map((agent) => agent.id),
          'given to agents after the abort',
        ).toEqual([]);
        expect(retried.length, 'agents given a retry').toBeGreaterThan(0);
        expect(staleAnswers.length, 'stale reports made').toBeGreaterThan(0);
        expect(
          staleAnswers.filter((status) => status !== 409),
          'stale reports answered otherwise than 409',
        ).toEqual([]);

        // The rollout: the first minute at the base, no minute over the rate at its last delivery, nor over the cap.
        expect(firsts.length, 'a first delivery per execution made').toBe(made.length);
        expect(handed.filter((at) => at < createdAt + 60_000).length, 'deliveries in the first minute').toBe(BASE);
        expect(firsts.filter((at) => at < createdAt + 60_000).length, 'first deliveries in the first minute').toBeLessThanOrEqual(BASE);
        expect(overRate.slice(0, 5), 'minutes over the exponential rate').toEqual([]);
        expect(mostInAnyMinute(handed), 'deliveries in one sliding minute').toBeLessThanOrEqual(CAP);
        expect(firsts.length, 'the abort came after the first minute').toBeGreaterThan(BASE);

        // The abort: on timed_out, with the failed share under its threshold, and nothing delivered after it.
        expect(atAbort.judged, 'judged at the abort').toBeGreaterThanOrEqual(MIN_EXECUTED);
        expect(firstMet, 'the abort came once a criterion was met, not before').toBeLessThanOrEqual(abortAt);
        expect(100 * atAbort.timed_out, 'timed_out share at the abort').toBeGreaterThanOrEqual(TIMED_OUT_PERCENT * atAbort.judged);
        expect(100 * atAbort.failed, 'failed share at the abort').toBeLessThan(FAILED_PERCENT * atAbort.judged);
        expect(deliveredAfter.slice(0, 5), 'attempts delivered after the abort').toEqual([]);
        expect(unretried.slice(0, 5), 'attempts with a retry left that ended before the abort and were not retried').toEqual([]);

        // A silent agent's whole story.
        expect(silentTwice, 'a silent agent timed out on its second attempt').toBeDefined();
        const story = (histories.get((silentTwice as Execution).agent_id) as HistoryEntry[]).map(({ status, attempt, reason }) => ({
          status,
          attempt,
          ...(reason === undefined ? {} : { reason }),
        }));
        expect(story).toEqual([
          { status: 'delivered', attempt: 1 },
          { status: 'timed_out', attempt: 1 },
          { status: 'pending', attempt: 2, reason: 'retry' },
          { status: 'delivered', attempt: 2 },
          { status: 'timed_out', attempt: 2 },
        ]);
      },
      LIMIT_MS,
    );
  },
);

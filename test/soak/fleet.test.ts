/**
 * A fleet of reference agents (dev/agent.ts, the built-in demo executor, as `npm run agent` runs
 * them) polling the local server (its own process, as `npm start` runs it) on real Redis through
 * its Upstash bridge, while an operator enqueues `echo` commands for random agents. Then the
 * operator stops, the agents drain what is left and are stopped, and: every command enqueued was
 * run exactly once, by its own agent; every one reads back `completed` with its args echoed; no
 * answer was a 5xx; and the agents' own counters agree with what they were seen to do.
 *
 * Short by default (CI): 40 agents, 6 seconds of enqueuing. Longer or larger:
 *
 *   FLEET_AGENTS=200 FLEET_SECONDS=120 npm run test:soak -- test/soak/fleet.test.ts
 *
 * FLEET_REDIS_TIMEOUT_MS (default 5000) is the server's REDIS_TIMEOUT_MS, for the reason the
 * load test gives (test/soak/load.test.ts): this test is about correctness, not a slow Redis.
 */
import { describe, expect, it } from 'vitest';
import { Agent, type AgentEvent, fixedToken, type RunSummary } from '../../dev/agent.ts';
import { serverOnRedis } from '../helpers/load.ts';
import { HAS_REDIS } from '../helpers/redis.ts';
import { signToken } from '../helpers/tokens.ts';

const AGENTS = Number(process.env.FLEET_AGENTS || 40);
const SECONDS = Number(process.env.FLEET_SECONDS || 6);
const REDIS_TIMEOUT_MS = process.env.FLEET_REDIS_TIMEOUT_MS || '5000';
/** The agents' poll interval (fixed here; the service's default config says 30 s). */
const POLL_SECONDS = 0.5;
/** How long the agents get to finish what is left once the operator stops. */
const DRAIN_MS = 30_000;

/** One agent of the fleet and everything it was seen to do. */
interface Member {
  readonly id: string;
  readonly agent: Agent;
  /** command ids in the order the agent ran them (its `ran` events). */
  readonly ran: string[];
  /** command ids whose result the service accepted (its `accepted` events). */
  readonly accepted: Set<string>;
  /** command ids delivered again after they ran (its `duplicate` events). */
  readonly duplicates: string[];
  /** Anything that should not happen: a 5xx, a network error, a dropped result, a failed run. */
  readonly problems: string[];
  run?: Promise<RunSummary | Error>;
}

describe.skipIf(!HAS_REDIS)(`fleet: ${AGENTS} reference agents for ${SECONDS} s on real Redis`, () => {
  const running = serverOnRedis('fleet', REDIS_TIMEOUT_MS);

  it(
    'runs every command once, by its own agent, and reads each back completed with its echo, without a 5xx',
    async () => {
      // Prepare: the fleet, each agent with its own token and the demo executor.
      const operator = await signToken({ sub: 'fleet-operator', scope: 'admin:commands' }, { expiresIn: 3600 });
      const members: Member[] = [];
      for (let i = 0; i < AGENTS; i += 1) {
        const id = `fleet-agent-${String(i).padStart(3, '0')}`;
        const member: Omit<Member, 'agent'> = { id, ran: [], accepted: new Set(), duplicates: [], problems: [] };
        const log = (event: AgentEvent) => {
          if (event.type === 'ran') {
            member.ran.push(event.commandId);
            if (event.status !== 'completed') member.problems.push(`${id} ran ${event.commandId}: ${event.status}`);
          } else if (event.type === 'accepted') member.accepted.add(event.commandId);
          else if (event.type === 'duplicate') member.duplicates.push(event.commandId);
          else if (event.type === 'response' && event.status >= 500)
            member.problems.push(`${id} ${event.method} ${event.path}: ${event.status}`);
          else if (event.type === 'network_error') member.problems.push(`${id} ${event.method} ${event.path}: ${event.message}`);
          else if (event.type === 'dropped') member.problems.push(`${id} dropped ${event.commandId}: ${event.status} ${event.error ?? ''}`);
          else if (event.type === 'error') member.problems.push(`${id}: ${event.message}`);
        };
        const token = await signToken({ sub: id }, { expiresIn: 3600 });
        const agent = new Agent({ baseUrl: running.server.url, tokens: fixedToken(token), log, pollIntervalSeconds: POLL_SECONDS });
        members.push({ ...member, agent });
      }
      /** command id → its agent and the args it was enqueued with. */
      const enqueued = new Map<string, { agent: string; args: Record<string, unknown> }>();
      const operatorProblems: string[] = [];
      const api = async (method: string, path: string, body?: unknown) => {
        const response = await fetch(`${running.server.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${operator}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(15_000),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };

      // Act: the fleet polls while the operator enqueues; then the operator stops and the fleet drains.
      const stop = new AbortController();
      for (const member of members) {
        member.run = member.agent.run({ signal: stop.signal }).catch((error: unknown) => error as Error);
      }
      const started = performance.now();
      const until = started + SECONDS * 1000;
      let seq = 0;
      while (performance.now() < until) {
        const agent = members[Math.floor(Math.random() * members.length)]?.id as string;
        seq += 1;
        const args = { agent, seq, note: Math.random().toString(36).slice(2) };
        try {
          const created = await api('POST', `/api/agents/${agent}/commands`, { command: 'echo', args });
          if (created.status === 201) enqueued.set(created.body.command_id as string, { agent, args });
          else operatorProblems.push(`enqueue ${seq} for ${agent}: ${created.status}`);
        } catch (error) {
          operatorProblems.push(`enqueue ${seq} for ${agent}: ${(error as Error).message}`);
        }
      }
      const enqueuedFor = performance.now() - started;
      const drainUntil = performance.now() + DRAIN_MS;
      const acceptedCount = () => members.reduce((n, m) => n + m.accepted.size, 0);
      while (acceptedCount() < enqueued.size && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 100));
      const drainedIn = performance.now() - started - enqueuedFor;
      stop.abort();
      const summaries = await Promise.all(members.map((member) => member.run as Promise<RunSummary | Error>));

      // Read every command back as the operator.
      const readProblems: string[] = [];
      const ids = [...enqueued.keys()];
      let next = 0;
      const reader = async () => {
        while (next < ids.length) {
          const commandId = ids[next++] as string;
          const { agent, args } = enqueued.get(commandId) as { agent: string; args: Record<string, unknown> };
          const answer = await api('GET', `/api/agents/${agent}/commands/${commandId}`);
          if (answer.status !== 200 || answer.body.status !== 'completed' || JSON.stringify(answer.body.result) !== JSON.stringify(args)) {
            readProblems.push(`${commandId} of ${agent}: ${answer.status} ${answer.body.status} ${JSON.stringify(answer.body.result)}`);
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, reader));

      // Assess.
      const runsOf = new Map<string, string[]>();
      for (const member of members)
        for (const commandId of member.ran) runsOf.set(commandId, [...(runsOf.get(commandId) ?? []), member.id]);
      const misrouted: string[] = [];
      for (const member of members) {
        for (const commandId of [...member.ran, ...member.duplicates]) {
          const owner = enqueued.get(commandId)?.agent;
          if (owner !== member.id) misrouted.push(`${member.id} was given ${commandId} (enqueued for ${owner ?? 'nobody'})`);
        }
      }
      const notOnce = [...enqueued.keys()]
        .filter((id) => runsOf.get(id)?.length !== 1)
        .map((id) => `${id}: run by [${runsOf.get(id) ?? []}]`);
      const duplicates = members.reduce((n, m) => n + m.duplicates.length, 0);
      const ran = members.reduce((n, m) => n + m.ran.length, 0);
      console.info(
        [
          `fleet: ${AGENTS} agents, ${enqueued.size} echo commands enqueued in ${(enqueuedFor / 1000).toFixed(1)} s ` +
            `(${Math.round(enqueued.size / (enqueuedFor / 1000))}/s), drained ${(drainedIn / 1000).toFixed(1)} s later`,
          `  run ${ran}, accepted ${acceptedCount()}, delivered again after running ${duplicates}, read back ${ids.length}: ${readProblems.length} problems`,
        ].join('\n'),
      );
      const problems = members.flatMap((m) => m.problems);
      if (problems.length > 0) console.info(`server log (last lines):\n${running.server.output()}`);

      expect(operatorProblems.slice(0, 5), 'operator answers other than 201').toEqual([]);
      expect(problems.slice(0, 5), '5xx, network errors, dropped or failed results').toEqual([]);
      expect(misrouted.slice(0, 5), 'commands given to another agent').toEqual([]);
      expect(notOnce.slice(0, 5), 'commands not run exactly once').toEqual([]);
      expect(readProblems.slice(0, 5), 'commands not completed with their echo').toEqual([]);
      expect(enqueued.size).toBeGreaterThan(AGENTS);
      for (const [i, member] of members.entries()) {
        expect(summaries[i], `${member.id}'s counters`).toEqual({
          polls: expect.any(Number),
          ran: member.ran.length,
          accepted: member.accepted.size,
          dropped: 0,
          errors: 0,
          unreported: 0,
        });
      }
      expect(summaries.reduce((n, s) => n + (s instanceof Error ? 0 : s.ran), 0)).toBe(enqueued.size);
    },
    SECONDS * 1000 + DRAIN_MS + 60_000,
  );
});

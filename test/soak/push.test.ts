/**
 * The push channel at fleet size: 500 reference agents with --push (dev/agent.ts + dev/agent-push.ts)
 * connected to the local server (on Redis through the bridge when it answers, else in memory),
 * their plain poll interval long (60 s) and their safety poll the default 15 min, so that every
 * poll they make after their first two (at start, and when their socket opens) is a wake's. An
 * operator enqueues a command for every agent, then creates a job over a group of all of them.
 * Then: every agent ran both, each once (nothing delivered twice), each within the run; and no
 * agent polled more than once per wake it received.
 *
 *   PUSH_SOAK_AGENTS=1000 npm run test:soak -- test/soak/push.test.ts
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent, type AgentEvent, fixedToken } from '../../dev/agent.ts';
import { PushLink } from '../../dev/agent-push.ts';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { runtime } from '../../lib/runtime.ts';
import { type StoreTarget, storeTargets } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

const AGENTS = Number(process.env.PUSH_SOAK_AGENTS || 500);
const target = storeTargets('push-soak').at(-1) as StoreTarget;

describe(`500 reference agents on the push channel (${target.name} store)`, () => {
  let server: LocalServer | undefined;
  const stops: (() => void)[] = [];
  afterAll(async () => {
    for (const stop of stops) stop();
    await server?.close();
  });

  it('runs every command and the job once on every agent, with at most one poll per wake', { timeout: 180_000 }, async () => {
    server = await startServer({
      env: { ...TEST_ENV, ...target.env({ REDIS_TIMEOUT_MS: '10000' }), POWERTOOLS_LOG_LEVEL: 'WARN' },
      port: 0,
    });
    const url = server.url;
    const tag = randomUUID().slice(0, 8);
    const fleet = await Promise.all(
      Array.from({ length: AGENTS }, async (_, i) => {
        const id = `soak-${tag}-${i}`;
        const events: AgentEvent[] = [];
        const tokens = fixedToken(await signToken({ sub: id }, { expiresIn: 900 }));
        const link = new PushLink({ baseUrl: url, tokens, log: (e) => events.push(e), backoffBaseMs: 200, backoffCapMs: 2_000 });
        const agent = new Agent({ baseUrl: url, tokens, wakeups: link, pollIntervalSeconds: 60, log: (e) => events.push(e) });
        return { id, events, link, agent };
      }),
    );
    const controller = new AbortController();
    const runs = fleet.map(({ agent }) => agent.run({ signal: controller.signal }));
    stops.push(() => controller.abort());
    for (const { link } of fleet) {
      link.start();
      stops.push(() => link.stop());
      // The local server takes 500 new connections at its own pace, as API Gateway takes 500 a second.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await expect.poll(() => fleet.filter(({ link }) => link.connected).length, { timeout: 60_000, interval: 500 }).toBe(AGENTS);
    const polls = (events: AgentEvent[]) =>
      events.filter((e) => e.type === 'response' && e.method === 'GET' && e.path.startsWith('/api/commands')).length;
    // Let the first polls end: one at start, one when the socket opened.
    await expect.poll(() => fleet.every(({ events }) => polls(events) >= 2), { timeout: 30_000 }).toBe(true);

    const operator = await signToken({ sub: 'ops', scope: 'admin:commands admin:jobs admin:groups' }, { expiresIn: 900 });
    const commands = new Map<string, string>();
    for (let i = 0; i < fleet.length; i += 25) {
      await Promise.all(
        fleet.slice(i, i + 25).map(async ({ id }) => {
          const answer = await fetch(`${url}/api/agents/${id}/commands`, {
            method: 'POST',
            headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
            body: JSON.stringify({ command: 'echo', args: { id } }),
          });
          expect(answer.status).toBe(201);
          commands.set(id, ((await answer.json()) as { command_id: string }).command_id);
        }),
      );
    }
    const group = `soak-${tag}`;
    const { groups } = (await runtime()).stores.unchecked;
    for (const { id } of fleet) await groups.join(group, id);
    const created = await fetch(`${url}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'echo', args: {}, targets: { groups: [group] } }),
    });
    expect(created.status).toBe(201);
    const jobId = ((await created.json()) as { job_id: string }).job_id;

    const ran = (events: AgentEvent[]) => events.flatMap((e) => (e.type === 'ran' ? [e.commandId] : []));
    await expect
      .poll(() => fleet.filter(({ events }) => ran(events).length >= 2 && events.filter((e) => e.type === 'accepted').length >= 2).length, {
        timeout: 60_000,
        interval: 500,
      })
      .toBe(AGENTS);
    controller.abort();
    for (const { link } of fleet) link.stop();
    await Promise.all(runs);

    for (const { id, events, link } of fleet) {
      expect(ran(events).sort(), id).toEqual([commands.get(id), jobId].sort());
      expect(
        events.filter((e) => e.type === 'duplicate'),
        id,
      ).toEqual([]);
      // Two polls before any wake, then at most one per wake received.
      expect(polls(events) - 2, id).toBeLessThanOrEqual(link.wakes);
    }
  });
});

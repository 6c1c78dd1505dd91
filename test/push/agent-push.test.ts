/**
 * The reference agent with --push (dev/agent.ts, dev/agent-push.ts) against the real local
 * server, on both stores: it runs a command within a second of its enqueue while its plain poll
 * interval is long; while the socket is down it polls at its plain interval, and it reconnects
 * by itself (back-off with jitter) when the server closes it; its back-off and its renewal before
 * the 2 h limit.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, type AgentEvent, fixedToken } from '../../dev/agent.ts';
import { PushLink } from '../../dev/agent-push.ts';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { type StoreTarget, storeTargets } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';

describe.each(storeTargets('agent-push'))('the reference agent with --push on the $name store', (target: StoreTarget) => {
  let server: LocalServer | undefined;
  const stops: (() => void)[] = [];

  afterEach(async () => {
    for (const stop of stops.splice(0)) stop();
    await server?.close();
    server = undefined;
  });

  async function agentOn(agentId: string, pollIntervalSeconds: number) {
    const events: AgentEvent[] = [];
    const ran: { id: string; at: number }[] = [];
    const tokens = fixedToken(await signToken({ sub: agentId }, { expiresIn: 600 }));
    const link = new PushLink({ baseUrl: server?.url ?? '', tokens, log: (e) => events.push(e), backoffBaseMs: 50, backoffCapMs: 200 });
    const agent = new Agent({
      baseUrl: server?.url ?? '',
      tokens,
      wakeups: link,
      pollIntervalSeconds,
      log: (event) => {
        events.push(event);
        if (event.type === 'ran') ran.push({ id: event.commandId, at: performance.now() });
      },
    });
    const controller = new AbortController();
    link.start();
    const running = agent.run({ signal: controller.signal });
    stops.push(() => {
      controller.abort();
      link.stop();
    });
    await expect.poll(() => link.connected, { timeout: 2_000 }).toBe(true);
    return { link, events, ran, running };
  }

  const enqueue = async (agentId: string) => {
    const operator = await signToken({ sub: 'ops', scope: 'admin:commands' });
    const response = await fetch(`${server?.url}/api/agents/${agentId}/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'echo', args: { n: 1 } }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { command_id: string }).command_id;
  };

  it('runs a command within a second of its enqueue, though it would not poll for a minute', async () => {
    server = await startServer({ env: { ...TEST_ENV, ...target.env() }, port: 0 });
    const agentId = `agent-${randomUUID()}`;
    const { ran } = await agentOn(agentId, 60);
    // Let the first poll (made when the socket opened) end.
    await new Promise((resolve) => setTimeout(resolve, 200));

    const started = performance.now();
    const commandId = await enqueue(agentId);
    await expect.poll(() => ran.map((r) => r.id), { timeout: 1_000, interval: 20 }).toEqual([commandId]);

    expect((ran[0]?.at ?? Number.POSITIVE_INFINITY) - started).toBeLessThan(1_000);
  });

  it('polls at its plain interval while its socket is down, and so still runs what is enqueued', async () => {
    server = await startServer({ env: { ...TEST_ENV, ...target.env() }, port: 0 });
    const agentId = `agent-${randomUUID()}`;
    const { link, events, ran } = await agentOn(agentId, 0.3);

    // The link goes down for good: no wake can come.
    link.stop();
    await expect.poll(() => link.connected, { timeout: 1_000 }).toBe(false);
    const commandId = await enqueue(agentId);

    await expect.poll(() => ran.map((r) => r.id), { timeout: 2_000 }).toEqual([commandId]);
    expect(events.filter((event) => event.type === 'push').map((event) => (event as { state: string }).state)).toEqual(['up', 'down']);
  });

  it('connects again after the service closed its connection, with a jittered back-off', async () => {
    server = await startServer({ env: { ...TEST_ENV, ...target.env() }, port: 0 });
    const { link, events } = await agentOn(`agent-${randomUUID()}`, 60);

    server.push.server.closeAll();

    await expect
      .poll(() => events.filter((e) => e.type === 'push').map((e) => (e as { state: string }).state), { timeout: 2_000 })
      .toEqual(['up', 'down', 'up']);
    expect(link.connected).toBe(true);
  });
});

/**
 * The reference agent checks every command's signature before it runs anything, against the real
 * local server over real HTTP, on both stores. A man in the middle (a real HTTP proxy,
 * test/helpers/rewrite-proxy.ts) rewrites a command's args: the agent refuses it and reports it
 * `rejected`, signature_invalid. So for an unsigned command, one meant for another agent, one
 * expired, one signed with a key it does not hold; and the key pinning: the first config's keys
 * (with a warning over plain http), or --command-keys; another config's keys refused unless
 * --accept-new-keys.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommandKeyPin, readKeysFile } from '../../dev/agent-keys.ts';
import { Agent, type AgentEvent, commandExecutor, DEMO_COMMANDS, fixedToken, parseAgentArgs } from '../../dev/agent.ts';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { LoadedKeySigner } from '../../lib/signing/signer.ts';
import { type RewriteProxy, startRewriteProxy } from '../helpers/rewrite-proxy.ts';
import { type StoreTarget, storeTargets } from '../helpers/targets.ts';
import { signToken, TEST_ENV } from '../helpers/tokens.ts';
import { jsonCall } from '../helpers/http-json.ts';

const targets = storeTargets('agent-signing');

type Commands = { agent_id: string; commands: Record<string, unknown>[] };

describe.each(targets)('the reference agent checks signatures on the $name store', (target: StoreTarget) => {
  let server: LocalServer | undefined;
  let proxy: RewriteProxy | undefined;
  let operator: string;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'biz-agent-signing-'));
    return () => rm(dir, { recursive: true, force: true });
  });

  async function start() {
    server = await startServer({ env: { ...TEST_ENV, ...target.env({}) }, port: 0 });
    operator = await signToken({ sub: 'ops', scope: 'admin:commands' });
    return server;
  }

  afterEach(async () => {
    await proxy?.close();
    await server?.close();
    proxy = undefined;
    server = undefined;
  });

  const api = (method: string, url: string, token: string, body?: unknown) => jsonCall(server?.url ?? '', method, url, token, body);
  const enqueue = async (agent: string, command: string, args: Record<string, unknown> = {}, ttl = 3600) => {
    const created = await api('POST', `/api/agents/${agent}/commands`, operator, { command, args, ttl_seconds: ttl });
    expect(created.status).toBe(201);
    return created.body.command_id as string;
  };
  const readBack = async (agent: string, id: string) => (await api('GET', `/api/agents/${agent}/commands/${id}`, operator)).body;

  /** An agent as `sub` through `baseUrl`, its runs and events kept. */
  const agentFor = async (sub: string, baseUrl: string, extra: { commandKeys?: CommandKeyPin; now?: () => number } = {}) => {
    const events: AgentEvent[] = [];
    const runs: string[] = [];
    const executor = commandExecutor(
      Object.fromEntries(
        Object.entries(DEMO_COMMANDS).map(([name, run]) => [
          name,
          (args: Record<string, unknown>, signal: AbortSignal, command: { command_id: string }) => {
            runs.push(command.command_id);
            return run(args, signal, command as never);
          },
        ]),
      ),
    );
    const agent = new Agent({
      baseUrl,
      tokens: fixedToken(await signToken({ sub }, { expiresIn: 600 })),
      executor,
      log: (event) => events.push(event),
      pollIntervalSeconds: 0.2,
      backoffBaseMs: 100,
      ...extra,
    });
    return { agent, events, runs };
  };
  const refusals = (events: AgentEvent[]) => events.flatMap((e) => (e.type === 'signature_invalid' ? [[e.commandId, e.reason]] : []));

  it('runs a signed command as it came, and refuses one whose args a proxy rewrote: reported rejected, never run', async () => {
    await start();
    const honest = await enqueue('agent-s1', 'echo', { text: 'hello' });
    const tampered = await enqueue('agent-s1', 'echo', { path: '/tmp/safe' });
    proxy = await startRewriteProxy(server?.url ?? '', (method, url, body) => {
      if (method !== 'GET' || !url.startsWith('/api/commands')) return undefined;
      const answer = body as Commands;
      return {
        ...answer,
        commands: answer.commands.map((c) => (c.command_id === tampered ? { ...c, args: { path: '/etc/shadow' } } : c)),
      };
    });
    const { agent, events, runs } = await agentFor('agent-s1', proxy.url);

    const summary = await agent.run({ once: true });

    expect(proxy.rewritten).toBeGreaterThan(0);
    expect(runs).toEqual([honest]);
    expect(refusals(events)).toEqual([[tampered, 'args_mismatch']]);
    expect(summary).toMatchObject({ accepted: 2, errors: 0 });
    expect(await readBack('agent-s1', honest)).toMatchObject({ status: 'completed', result: { text: 'hello' } });
    expect(await readBack('agent-s1', tampered)).toMatchObject({
      status: 'rejected',
      result: { reason: 'signature_invalid', detail: 'args_mismatch' },
      status_details: { reason: 'signature_invalid', detail: 'args_mismatch' },
    });
  });

  it('refuses an unsigned command and one signed for another agent', async () => {
    await start();
    const own = await enqueue('agent-s2', 'echo', { n: 1 });
    const theirs = await enqueue('agent-s3', 'echo', { n: 2 });
    const other = (await api('GET', '/api/commands', await signToken({ sub: 'agent-s3', scope: 'agent:commands' }))).body as Commands;
    proxy = await startRewriteProxy(server?.url ?? '', (method, url, body) => {
      if (method !== 'GET' || !url.startsWith('/api/commands')) return undefined;
      const answer = body as Commands;
      // Its own command, stripped of its signature; and the other agent's, signed for that agent.
      return { ...answer, commands: [...answer.commands.map((c) => ({ ...c, signature: null })), ...other.commands] };
    });
    const { agent, events, runs } = await agentFor('agent-s2', proxy.url);

    await agent.run({ once: true });

    expect(runs).toEqual([]);
    expect(refusals(events)).toEqual([
      [own, 'unsigned'],
      [theirs, 'wrong_agent'],
    ]);
    expect(await readBack('agent-s2', own)).toMatchObject({ status: 'rejected', result: { detail: 'unsigned' } });
  });

  it('refuses a command past the expires_at it was signed with', async () => {
    await start();
    const id = await enqueue('agent-s4', 'echo', {}, 60);
    // The agent's clock is two minutes on: the signed expires_at has passed for it.
    const { agent, events, runs } = await agentFor('agent-s4', server?.url ?? '', { now: () => Date.now() + 120_000 });

    await agent.run({ once: true });

    expect(runs).toEqual([]);
    expect(refusals(events)).toEqual([[id, 'expired']]);
  });

  it('with --command-keys, refuses a config that offers other keys and a command signed with them (unknown_kid)', async () => {
    await start();
    const id = await enqueue('agent-s5', 'echo', {});
    const elsewhere = await new LoadedKeySigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey).keySet();
    const file = path.join(dir, `keys-${target.name}.json`);
    await writeFile(file, JSON.stringify(elsewhere));
    const { agent, events, runs } = await agentFor('agent-s5', server?.url ?? '', {
      commandKeys: new CommandKeyPin({ keys: readKeysFile(file) }),
    });

    await agent.run({ once: true });

    expect(runs).toEqual([]);
    expect(events).toContainEqual({ type: 'command_keys', offer: 'refused', kids: [elsewhere.keys[0]?.kid] });
    expect(refusals(events)).toEqual([[id, 'unknown_kid']]);
  });

  it('pins the first config over plain http with a warning; takes new keys only with --accept-new-keys', async () => {
    await start();
    const pin = new CommandKeyPin();
    const { agent, events } = await agentFor('agent-s6', server?.url ?? '', { commandKeys: pin });
    await agent.run({ once: true });
    expect(events).toContainEqual({ type: 'command_keys', offer: 'pinned_insecure', kids: server?.commandKeys.keys.map((k) => k.kid) });

    const other = await new LoadedKeySigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey).keySet();
    expect(pin.offer(other, true)).toBe('refused');
    expect(pin.keys).toEqual(server?.commandKeys.keys);
    const accepting = new CommandKeyPin({ keys: pin.keys, acceptNewKeys: true });
    expect(accepting.offer(server?.commandKeys, true)).toBe('same');
    expect(accepting.offer(other, true)).toBe('replaced');
    expect(accepting.keys.map((k) => k.kid)).toEqual(other.keys.map((k) => k.kid));
    expect(new CommandKeyPin().offer(other, true)).toBe('pinned');
  });
});

describe('the agent command line', () => {
  it('takes --command-keys and --accept-new-keys', () => {
    expect(parseAgentArgs(['--base-url', 'https://h', '--token', 't', '--command-keys', 'keys.json', '--accept-new-keys'])).toMatchObject({
      commandKeysFile: 'keys.json',
      acceptNewKeys: true,
    });
    expect(parseAgentArgs(['--base-url', 'https://h', '--token', 't'])).toMatchObject({ acceptNewKeys: false });
  });
});

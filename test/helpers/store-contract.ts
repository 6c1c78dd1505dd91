/**
 * The behaviour every CommandStore / RevocationStore must show, written once and run against
 * each implementation (in-memory, and Upstash through the bridge to a real Redis): the
 * store-level contract, and the same flows through the real handlers.
 *
 * Times: the stores take `now` from their caller, so most cases pass explicit times around a
 * realistic base (Redis TTLs are absolute times built from them). Cases that need time to pass
 * for real (expiry of revocations, retention) wait on the wall clock for a second or two.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as enqueueCommand } from '../../functions/enqueue-command.ts';
import { handler as getCommand } from '../../functions/get-command.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as getConfig } from '../../functions/get-config.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { handler as postRevocations } from '../../functions/post-revocations.ts';
import { handler as putConfig } from '../../functions/put-config.ts';
import type { RevocationMode } from '../../lib/auth/revocation.ts';
import type { Runtime } from '../../lib/runtime.ts';
import type { NewCommand, Outcome } from '../../lib/commands/model.ts';
import type { CommandStore, RevocationStore } from '../../lib/store/types.ts';
import { invoke } from './lambda.ts';
import type { StoreTarget } from './targets.ts';
import { signToken } from './tokens.ts';

export interface Stores {
  commands: CommandStore;
  revocations: RevocationStore;
}

/** Makes fresh stores (empty as far as the test can see) with this retention and revocation mode (default denylist). */
export type StoreFactory = (options: { resultRetentionSeconds: number; revocationMode?: RevocationMode }) => Promise<Stores>;

/** Fresh unchecked stores on the target, not installed; their clock is the system's (revocations expire for real). */
function storesOn(target: StoreTarget): StoreFactory {
  return async ({ resultRetentionSeconds, revocationMode = 'denylist' }) =>
    target.runtime({ RESULT_RETENTION_SECONDS: String(resultRetentionSeconds), REVOCATION_MODE: revocationMode }).stores.unchecked;
}

/** An outcome as one word, with the state that won when refused ("refused canceled"). */
export function said(outcome: Outcome): string {
  return outcome.outcome === 'refused' ? `refused ${outcome.status}` : outcome.outcome;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let agentCounter = 0;
/** A fresh agent id per test, with characters the id rules allow (including ':' and '@'). */
function newAgent(): string {
  agentCounter += 1;
  return `agent-${agentCounter}-${randomUUID().slice(0, 8)}`;
}

function newCommand(agentId: string, createdAt: number, extra: Partial<NewCommand> = {}): NewCommand {
  return {
    commandId: randomUUID(),
    agentId,
    command: 'restart',
    args: { service: 'nginx' },
    createdAt,
    expiresAt: createdAt + DAY,
    ...extra,
  };
}

export function storeContract(target: StoreTarget): void {
  const { name } = target;
  const factory = storesOn(target);
  describe(`${name}: command store contract`, () => {
    const retentionSeconds = 7 * 24 * 3600;
    let commands: CommandStore;
    let t0: number;
    beforeEach(async () => {
      ({ commands } = await factory({ resultRetentionSeconds: retentionSeconds }));
      t0 = Date.now();
    });

    it('returns nothing for an agent without commands', async () => {
      expect(await commands.fetch(newAgent(), 10, t0)).toEqual([]);
    });

    it('delivers in enqueue order, even when createdAt says otherwise', async () => {
      const agent = newAgent();
      const a = newCommand(agent, t0);
      const b = newCommand(agent, t0 - 5_000); // an instance with a slower clock enqueued second
      const c = newCommand(agent, t0 + 1);
      for (const command of [a, b, c]) await commands.enqueue(command);

      const fetched = await commands.fetch(agent, 10, t0 + 10);

      expect(fetched.map((r) => r.commandId)).toEqual([a.commandId, b.commandId, c.commandId]);
    });

    it('returns each record exactly as enqueued, with deliveredAt = the first fetch time', async () => {
      const agent = newAgent();
      const args = {
        nested: { list: [1, 'two', null, { x: [] }], empty: {}, emptyList: [] },
        text: 'héllo "quotes" \\ \u2603',
        big: 12345678901234,
        neg: -0.5,
      };
      const command = newCommand(agent, t0, { command: 'run:script', args });
      await commands.enqueue(command);

      const [record] = await commands.fetch(agent, 10, t0 + 7);

      expect(record).toStrictEqual({ ...command, deliveredAt: t0 + 7, deliveryCount: 1, updatedAt: t0 + 7 });
      expect(JSON.stringify(record?.args)).toBe(JSON.stringify(args));
    });

    it('redelivers until a result arrives, keeping the first deliveredAt', async () => {
      const agent = newAgent();
      const command = newCommand(agent, t0);
      await commands.enqueue(command);

      const first = await commands.fetch(agent, 10, t0 + 1_000);
      const second = await commands.fetch(agent, 10, t0 + 2_000);
      await commands.complete(agent, command.commandId, { status: 'completed', resultJson: '{"ok":true}', completedAt: t0 + 3_000 });
      const third = await commands.fetch(agent, 10, t0 + 4_000);

      expect(first.map((r) => r.deliveredAt)).toEqual([t0 + 1_000]);
      expect(second.map((r) => r.deliveredAt)).toEqual([t0 + 1_000]);
      expect(third).toEqual([]);
      expect((await commands.get(agent, command.commandId))?.deliveredAt).toBe(t0 + 1_000);
    });

    it('honours the limit and gives the rest on the next fetch, in order', async () => {
      const agent = newAgent();
      const list = Array.from({ length: 5 }, (_, i) => newCommand(agent, t0 + i));
      for (const command of list) await commands.enqueue(command);

      const first = await commands.fetch(agent, 2, t0 + 10);
      for (const record of first) {
        await commands.complete(agent, record.commandId, { status: 'completed', resultJson: undefined, completedAt: t0 + 11 });
      }
      const second = await commands.fetch(agent, 10, t0 + 12);

      expect(first.map((r) => r.commandId)).toEqual(list.slice(0, 2).map((c) => c.commandId));
      expect(second.map((r) => r.commandId)).toEqual(list.slice(2).map((c) => c.commandId));
    });

    it('keeps the order of the remaining commands when new ones arrive after a completion', async () => {
      const agent = newAgent();
      const [a, b, c] = [newCommand(agent, t0), newCommand(agent, t0 + 1), newCommand(agent, t0 + 2)];
      for (const command of [a, b, c]) await commands.enqueue(command);
      await commands.complete(agent, b.commandId, { status: 'failed', resultJson: '"boom"', completedAt: t0 + 3 });
      await commands.complete(agent, c.commandId, { status: 'completed', resultJson: undefined, completedAt: t0 + 3 });
      const d = newCommand(agent, t0 + 4);
      await commands.enqueue(d);

      const fetched = await commands.fetch(agent, 10, t0 + 5);

      expect(fetched.map((r) => r.commandId)).toEqual([a.commandId, d.commandId]);
    });

    it('never delivers a command at or after its expiresAt, yet still shows it', async () => {
      const agent = newAgent();
      const short = newCommand(agent, t0, { expiresAt: t0 + 1_000 });
      const long = newCommand(agent, t0);
      await commands.enqueue(short);
      await commands.enqueue(long);

      const before = await commands.fetch(agent, 10, t0 + 999);
      const at = await commands.fetch(agent, 10, t0 + 1_000);
      const later = await commands.fetch(agent, 10, t0 + 2_000);

      expect(before.map((r) => r.commandId)).toEqual([short.commandId, long.commandId]);
      expect(at.map((r) => r.commandId)).toEqual([long.commandId]);
      expect(later.map((r) => r.commandId)).toEqual([long.commandId]);
      expect((await commands.get(agent, short.commandId))?.commandId).toBe(short.commandId);
    });

    it('answers expired to a result that arrives after expiry, and keeps the command unfinished', async () => {
      const agent = newAgent();
      const command = newCommand(agent, t0, { expiresAt: t0 + 1_000 });
      await commands.enqueue(command);

      const outcome = await commands.complete(agent, command.commandId, { status: 'completed', resultJson: '1', completedAt: t0 + 1_000 });

      expect(said(outcome)).toBe('refused expired');
      const record = await commands.get(agent, command.commandId);
      expect(record?.resultStatus).toBeUndefined();
      expect(record?.completedAt).toBeUndefined();
    });

    it('lets the first result win: same again is duplicate, anything else conflict', async () => {
      const agent = newAgent();
      const command = newCommand(agent, t0);
      await commands.enqueue(command);
      const submit = (status: 'completed' | 'failed', resultJson: string | undefined, at = t0 + 10) =>
        commands.complete(agent, command.commandId, { status, resultJson, completedAt: at });

      expect(said(await submit('completed', '{"exit":0}'))).toBe('accepted');
      expect(said(await submit('completed', '{"exit":0}', t0 + 20))).toBe('duplicate');
      expect(said(await submit('failed', '{"exit":0}'))).toBe('refused completed');
      expect(said(await submit('completed', '{"exit":1}'))).toBe('refused completed');
      expect(said(await submit('completed', undefined))).toBe('refused completed');

      const record = await commands.get(agent, command.commandId);
      expect(record).toMatchObject({ resultStatus: 'completed', resultJson: '{"exit":0}', completedAt: t0 + 10 });
    });

    it('treats a result without a body as its own value', async () => {
      const agent = newAgent();
      const command = newCommand(agent, t0);
      await commands.enqueue(command);

      expect(
        said(await commands.complete(agent, command.commandId, { status: 'failed', resultJson: undefined, completedAt: t0 + 1 })),
      ).toBe('accepted');
      expect(
        said(await commands.complete(agent, command.commandId, { status: 'failed', resultJson: undefined, completedAt: t0 + 2 })),
      ).toBe('duplicate');
      expect(said(await commands.complete(agent, command.commandId, { status: 'failed', resultJson: '""', completedAt: t0 + 3 }))).toBe(
        'refused failed',
      );
      const record = await commands.get(agent, command.commandId);
      expect(record).toBeDefined();
      expect(record && 'resultJson' in record).toBe(false);
    });

    it("answers not_found for unknown commands and for other agents' commands", async () => {
      const agent = newAgent();
      const command = newCommand(agent, t0);
      await commands.enqueue(command);
      const submission = { status: 'completed' as const, resultJson: '1', completedAt: t0 + 1 };

      expect(said(await commands.complete(agent, randomUUID(), submission))).toBe('not_found');
      expect(said(await commands.complete(newAgent(), command.commandId, submission))).toBe('not_found');
      expect(await commands.get(newAgent(), command.commandId)).toBeUndefined();
      expect(await commands.fetch(newAgent(), 10, t0 + 1)).toEqual([]);
      expect(await commands.get(agent, command.commandId)).toBeDefined();
    });

    it('keeps ids with colons apart (agent "x:y" + command "z" is not agent "x" + command "y:z")', async () => {
      const base = newAgent();
      const command = newCommand(`${base}:y`, t0, { commandId: 'z' });
      await commands.enqueue(command);
      const submission = { status: 'completed' as const, resultJson: '1', completedAt: t0 + 1 };

      expect(await commands.get(base, 'y:z')).toBeUndefined();
      expect(said(await commands.complete(base, 'y:z', submission))).toBe('not_found');
      expect(await commands.fetch(base, 10, t0 + 1)).toEqual([]);
      expect(await commands.fetch(`${base}%3Ay`, 10, t0 + 1)).toEqual([]);
      expect(await commands.get(`${base}%3Ay`, 'z')).toBeUndefined();
      expect(said(await commands.complete(`${base}:y`, 'z', submission))).toBe('accepted');
    });

    it('keeps both commands when such ids would meet in a naive key', async () => {
      const base = newAgent();
      const first = newCommand(`${base}:y`, t0, { commandId: 'z', command: 'first' });
      const second = newCommand(base, t0, { commandId: 'y:z', command: 'second' });
      await commands.enqueue(first);
      await commands.enqueue(second);

      expect((await commands.get(`${base}:y`, 'z'))?.command).toBe('first');
      expect((await commands.get(base, 'y:z'))?.command).toBe('second');
      expect((await commands.fetch(`${base}:y`, 10, t0 + 1)).map((r) => r.command)).toEqual(['first']);
    });

    it('forgets a finished command once the retention period has passed', async () => {
      const agent = newAgent();
      const command = newCommand(agent, t0);
      await commands.enqueue(command);
      await commands.complete(agent, command.commandId, { status: 'completed', resultJson: '1', completedAt: t0 + 10 });
      const retentionMs = retentionSeconds * 1000;

      const justBefore = await commands.complete(agent, command.commandId, {
        status: 'completed',
        resultJson: '1',
        completedAt: t0 + 10 + retentionMs - 1,
      });
      const after = await commands.complete(agent, command.commandId, {
        status: 'completed',
        resultJson: '1',
        completedAt: t0 + 10 + retentionMs,
      });

      expect(said(justBefore)).toBe('duplicate');
      expect(said(after)).toBe('not_found');
    });

    it('forgets an expired, never finished command once expiresAt + retention has passed', async () => {
      const agent = newAgent();
      const command = newCommand(agent, t0, { expiresAt: t0 + 1_000 });
      await commands.enqueue(command);
      const retentionMs = retentionSeconds * 1000;
      const submit = (at: number) => commands.complete(agent, command.commandId, { status: 'completed', resultJson: '1', completedAt: at });

      expect(said(await submit(t0 + 1_000 + retentionMs - 1))).toBe('refused expired');
      expect(said(await submit(t0 + 1_000 + retentionMs))).toBe('not_found');
    });

    it('replaces and isolates config overrides per agent', async () => {
      const [agent, other] = [newAgent(), newAgent()];
      expect(await commands.getConfig(agent)).toBeUndefined();

      await commands.putConfig(agent, { poll_interval_seconds: 5, labels: { region: 'eu', tags: [] }, note: '5' });
      expect(await commands.getConfig(agent)).toStrictEqual({ poll_interval_seconds: 5, labels: { region: 'eu', tags: [] }, note: '5' });
      await commands.putConfig(agent, { commands_per_fetch: 3 });

      expect(await commands.getConfig(agent)).toStrictEqual({ commands_per_fetch: 3 });
      expect(await commands.getConfig(other)).toBeUndefined();
    });
  });

  describe(`${name}: command store retention in real time`, () => {
    it('drops a finished command after RESULT_RETENTION_SECONDS of wall-clock time', async () => {
      const { commands } = await factory({ resultRetentionSeconds: 1 });
      const agent = newAgent();
      const start = Date.now();
      const command = newCommand(agent, start);
      await commands.enqueue(command);
      await commands.complete(agent, command.commandId, { status: 'completed', resultJson: '1', completedAt: start });
      expect(await commands.get(agent, command.commandId)).toBeDefined();

      await sleep(1_300);
      await commands.fetch(agent, 10, Date.now());

      expect(await commands.get(agent, command.commandId)).toBeUndefined();
    });
  });

  describe(`${name}: revocation store contract`, () => {
    let revocations: RevocationStore;
    let nowS: number;
    const token = (jti: string | undefined, sub: string, iat: number | undefined) => ({ jti, sub, iat, exp: nowS + 300 });
    beforeEach(async () => {
      ({ revocations } = await factory({ resultRetentionSeconds: 60 }));
      nowS = Math.floor(Date.now() / 1000);
    });

    it('does not revoke what nobody revoked', async () => {
      expect(await revocations.isRevoked(token(randomUUID(), newAgent(), nowS))).toBe(false);
    });

    it('revokes one token by jti and no other', async () => {
      const [jti, sub] = [randomUUID(), newAgent()];
      await revocations.revokeToken(jti, nowS + 300);

      expect(await revocations.isRevoked(token(jti, sub, nowS))).toBe(true);
      expect(await revocations.isRevoked(token(randomUUID(), sub, nowS))).toBe(false);
    });

    it('revokes a token whose exp lies beyond what Redis can expire (above 9.2e15 s)', async () => {
      const jti = randomUUID();
      await revocations.revokeToken(jti, 1e16);

      expect(await revocations.isRevoked(token(jti, newAgent(), nowS))).toBe(true);
    });

    it('ignores a jti revocation whose end has already passed', async () => {
      const jti = randomUUID();
      await revocations.revokeToken(jti, nowS - 1);

      expect(await revocations.isRevoked(token(jti, newAgent(), nowS))).toBe(false);
    });

    it('lets a jti revocation lapse by itself at its end', async () => {
      const jti = randomUUID();
      // At least a whole second ahead: `nowS + 1` may be a few milliseconds away on a loaded machine.
      const end = Math.floor(Date.now() / 1000) + 2;
      await revocations.revokeToken(jti, end);
      expect(await revocations.isRevoked(token(jti, newAgent(), nowS))).toBe(true);

      await sleep(end * 1000 - Date.now() + 150);

      expect(await revocations.isRevoked(token(jti, newAgent(), nowS))).toBe(false);
    });

    it('revokes every token of a subject issued at or before the cut-off, and none issued after', async () => {
      const sub = newAgent();
      await revocations.revokeSubject(sub, nowS);

      expect(await revocations.isRevoked(token(randomUUID(), sub, nowS - 100))).toBe(true);
      expect(await revocations.isRevoked(token(randomUUID(), sub, nowS))).toBe(true);
      expect(await revocations.isRevoked(token(randomUUID(), sub, nowS + 1))).toBe(false);
      expect(await revocations.isRevoked(token(randomUUID(), newAgent(), nowS - 100))).toBe(false);
    });

    it('counts a token without iat under a cut-off as revoked', async () => {
      const sub = newAgent();
      expect(await revocations.isRevoked(token(randomUUID(), sub, undefined))).toBe(false);
      await revocations.revokeSubject(sub, nowS);

      expect(await revocations.isRevoked(token(randomUUID(), sub, undefined))).toBe(true);
    });

    it('only ever moves a cut-off forward', async () => {
      const sub = newAgent();
      await revocations.revokeSubject(sub, nowS);
      await revocations.revokeSubject(sub, nowS - 50);

      expect(await revocations.isRevoked(token(randomUUID(), sub, nowS - 10))).toBe(true);
      await revocations.revokeSubject(sub, nowS + 20);
      expect(await revocations.isRevoked(token(randomUUID(), sub, nowS + 10))).toBe(true);
    });
  });

  describe(`${name}: revocation store contract, allowlist mode`, () => {
    let revocations: RevocationStore;
    let nowS: number;
    const token = (jti: string | undefined, sub: string, iat: number | undefined) => ({ jti, sub, iat, exp: nowS + 300 });
    beforeEach(async () => {
      ({ revocations } = await factory({ resultRetentionSeconds: 60, revocationMode: 'allowlist' }));
      nowS = Math.floor(Date.now() / 1000);
    });

    it('accepts a registered token and refuses one never registered, or without jti', async () => {
      const [registered, sub] = [randomUUID(), newAgent()];
      await revocations.registerToken(registered, nowS + 300);

      expect(await revocations.isRevoked(token(registered, sub, nowS))).toBe(false);
      expect(await revocations.isRevoked(token(randomUUID(), sub, nowS))).toBe(true);
      expect(await revocations.isRevoked(token(undefined, sub, nowS))).toBe(true);
    });

    it('refuses a registration whose end has already passed', async () => {
      const jti = randomUUID();
      await revocations.registerToken(jti, nowS - 1);

      expect(await revocations.isRevoked(token(jti, newAgent(), nowS))).toBe(true);
    });

    it('still honours jti revocations and subject cut-offs on registered tokens', async () => {
      const [revoked, underCutoff, sub] = [randomUUID(), randomUUID(), newAgent()];
      for (const jti of [revoked, underCutoff]) await revocations.registerToken(jti, nowS + 300);
      await revocations.revokeToken(revoked, nowS + 300);
      await revocations.revokeSubject(sub, nowS);

      expect(await revocations.isRevoked(token(revoked, newAgent(), nowS))).toBe(true);
      expect(await revocations.isRevoked(token(underCutoff, sub, nowS))).toBe(true);
      expect(await revocations.isRevoked(token(underCutoff, newAgent(), nowS))).toBe(false);
    });
  });
}

/**
 * The same flows through the real handlers. `install` puts in a fresh runtime (on the target's
 * store) and returns it.
 */
export function handlerContract(target: StoreTarget): void {
  const { name } = target;
  const install = (env: Record<string, string> = {}): Runtime => target.use(env);
  describe(`${name}: through the handlers`, () => {
    let operator: string;
    let admin: string;
    let agentId: string;
    let agent: string;
    beforeEach(async () => {
      await install();
      agentId = newAgent();
      operator = await signToken({ sub: 'operator-1', scope: 'admin:commands admin:config' });
      admin = await signToken({ sub: 'security-1', scope: 'admin:revoke' });
      agent = await signToken({ sub: agentId, scope: 'agent:commands agent:results' });
    });

    const enqueue = (body: unknown, id = agentId) =>
      invoke(enqueueCommand, {
        method: 'POST',
        path: `/api/agents/${id}/commands`,
        pathParameters: { agentId: id },
        token: operator,
        body,
      });

    it('queues, delivers, completes and shows a command, first result winning', async () => {
      const created = await enqueue({ command: 'restart', args: { service: 'nginx', list: [] } });
      expect(created.status).toBe(201);
      const commandId = created.body.command_id as string;

      const fetched = await invoke(getCommands, { path: '/api/commands', token: agent });
      expect(fetched.status).toBe(200);
      expect(fetched.body.commands).toEqual([
        expect.objectContaining({ command_id: commandId, command: 'restart', args: { service: 'nginx', list: [] } }),
      ]);

      const post = (body: unknown) => invoke(postResults, { method: 'POST', path: '/api/results', token: agent, body });
      expect((await post({ command_id: commandId, status: 'completed', result: { exit: 0 } })).status).toBe(200);
      expect((await post({ command_id: commandId, status: 'completed', result: { exit: 0 } })).status).toBe(200);
      const conflict = await post({ command_id: commandId, status: 'failed', result: { exit: 1 } });
      expect(conflict.status).toBe(409);
      expect(conflict.body.error).toBe('conflict');

      const shown = await invoke(getCommand, {
        path: `/api/agents/${agentId}/commands/${commandId}`,
        pathParameters: { agentId, commandId },
        token: operator,
      });
      expect(shown.status).toBe(200);
      expect(shown.body).toMatchObject({ command_id: commandId, status: 'completed', result: { exit: 0 } });
      expect(shown.body.delivered_at).toEqual(expect.any(String));
      expect((await invoke(getCommands, { path: '/api/commands', token: agent })).body.commands).toEqual([]);
    });

    it("answers 404 for another agent's command", async () => {
      const created = await enqueue({ command: 'restart' });
      const intruder = await signToken({ sub: newAgent(), scope: 'agent:results' });

      const answer = await invoke(postResults, {
        method: 'POST',
        path: '/api/results',
        token: intruder,
        body: { command_id: created.body.command_id, status: 'completed' },
      });

      expect(answer.status).toBe(404);
    });

    it('delivers oldest first, up to the limit', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i += 1) ids.push((await enqueue({ command: `step-${i}` })).body.command_id as string);

      const answer = await invoke(getCommands, { path: '/api/commands', token: agent, query: { limit: '2' } });

      expect(answer.body.commands.map((c: { command_id: string }) => c.command_id)).toEqual(ids.slice(0, 2));
    });

    it('stores and serves agent config overrides', async () => {
      const put = await invoke(putConfig, {
        method: 'PUT',
        path: `/api/agents/${agentId}/config`,
        pathParameters: { agentId },
        token: operator,
        body: { poll_interval_seconds: 7, region: 'eu' },
      });
      expect(put.status).toBe(200);

      const answer = await invoke(getConfig, { path: '/api/config', token: agent });

      expect(answer.body.config).toMatchObject({ poll_interval_seconds: 7, region: 'eu', commands_per_fetch: 10 });
    });

    it('rejects a token on the very next request after it is revoked', async () => {
      const before = await invoke(getCommands, { path: '/api/commands', token: agent });
      const payload = JSON.parse(Buffer.from(agent.split('.')[1] ?? '', 'base64url').toString()) as { jti: string; exp: number };
      const revoke = await invoke(postRevocations, {
        method: 'POST',
        path: '/api/revocations',
        token: admin,
        body: { jti: payload.jti, exp: payload.exp },
      });

      const after = await invoke(getCommands, { path: '/api/commands', token: agent });

      expect(before.status).toBe(200);
      expect(revoke.status).toBe(204);
      expect(after.status).toBe(401);
      expect(after.body).toEqual({ error: 'invalid_token', error_description: 'token_revoked', request_id: expect.any(String) });
      expect(after.headers['www-authenticate']).toContain('error_description="token_revoked"');
    });
  });
  describe(`${name}: through the handlers, allowlist mode`, () => {
    let rt: Runtime;
    beforeEach(async () => {
      rt = await install({ REVOCATION_MODE: 'allowlist' });
    });
    const claimsOf = (token: string) =>
      JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { jti: string; exp: number };

    it('answers 200 to a registered token and 401 token_revoked to one never registered', async () => {
      const registered = await signToken({ sub: newAgent(), scope: 'agent:commands' });
      const unregistered = await signToken({ sub: newAgent(), scope: 'agent:commands' });
      await rt.stores.unchecked.revocations.registerToken(claimsOf(registered).jti, claimsOf(registered).exp);

      const accepted = await invoke(getCommands, { path: '/api/commands', token: registered });
      const refused = await invoke(getCommands, { path: '/api/commands', token: unregistered });

      expect(accepted.status).toBe(200);
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual({ error: 'invalid_token', error_description: 'token_revoked', request_id: expect.any(String) });
    });
  });
}

/**
 * The command lifecycle through the real handlers, on each store (in-memory, and Redis through
 * the local Upstash bridge): progress, timeouts and expiry at their exact instant for every
 * reader (fetch, get, list, results) with the injectable clock, cancel, listing with cursors,
 * idempotent enqueue, bad input that changes nothing, and the races.
 */
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as cancelCommand } from '../../functions/cancel-command.ts';
import { handler as enqueueCommand } from '../../functions/enqueue-command.ts';
import { handler as getCommand } from '../../functions/get-command.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as listCommands } from '../../functions/list-commands.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { invoke } from '../helpers/lambda.ts';
import { storeTargets, type TestRuntime } from '../helpers/targets.ts';
import { signToken } from '../helpers/tokens.ts';

const targets = storeTargets('lifecycle');

describe.each(targets)('the command lifecycle on the $name store', (target) => {
  let rt: TestRuntime;
  let agentId: string;
  let agent: string;
  let operator: string;

  beforeEach(async () => {
    rt = target.use();
    agentId = `agent-${randomUUID().slice(0, 8)}`;
    const now = Math.floor(rt.clock.now() / 1000);
    agent = await signToken({ sub: agentId, scope: 'agent:commands agent:results' }, { now });
    operator = await signToken({ sub: 'operator-1', scope: 'admin:commands' }, { now });
  });

  const enqueue = (body: unknown, headers?: Record<string, string>, token = operator) =>
    invoke(enqueueCommand, {
      method: 'POST',
      path: `/api/agents/${agentId}/commands`,
      pathParameters: { agentId },
      token,
      body,
      ...(headers ? { headers } : {}),
    });
  const enqueued = async (body: unknown) => (await enqueue(body)).body.command_id as string;
  const fetchCommands = () => invoke(getCommands, { path: '/api/commands', token: agent });
  const fetchedIds = async () => (await fetchCommands()).body.commands.map((c: { command_id: string }) => c.command_id);
  const report = (body: unknown) => invoke(postResults, { method: 'POST', path: '/api/results', token: agent, body });
  const read = (commandId: string) =>
    invoke(getCommand, { path: `/api/agents/${agentId}/commands/${commandId}`, pathParameters: { agentId, commandId }, token: operator });
  const cancel = (commandId: string, body?: unknown) =>
    invoke(cancelCommand, {
      method: 'POST',
      path: `/api/agents/${agentId}/commands/${commandId}/cancel`,
      pathParameters: { agentId, commandId },
      token: operator,
      ...(body === undefined ? {} : { body }),
    });
  const list = (query: Record<string, string> = {}) =>
    invoke(listCommands, { path: `/api/agents/${agentId}/commands`, pathParameters: { agentId }, token: operator, query });
  const listed = async (query: Record<string, string> = {}) =>
    (await list(query)).body.commands.map((c: { command_id: string; status: string }) => [c.command_id, c.status]);
  const iso = (ms: number) => new Date(ms).toISOString();

  describe('progress', () => {
    it('shows in_progress with its details to the agent and the operator, and a final result after it', async () => {
      const id = await enqueued({ command: 'deploy' });
      await fetchCommands();
      rt.clock.advance(1_000);
      const startedAt = rt.clock.now();

      const first = await report({ command_id: id, status: 'in_progress', status_details: { step: '1 of 3' } });
      rt.clock.advance(1_000);
      const again = await report({ command_id: id, status: 'in_progress', status_details: { step: '2 of 3', note: 'é' } });
      const repeat = await report({ command_id: id, status: 'in_progress', status_details: { step: '2 of 3', note: 'é' } });

      expect([first.status, again.status, repeat.status]).toEqual([200, 200, 200]);
      expect(first.body).toEqual({ command_id: id, status: 'in_progress', accepted: true });
      expect((await read(id)).body).toMatchObject({
        status: 'in_progress',
        started_at: iso(startedAt),
        updated_at: iso(rt.clock.now()),
        status_details: { step: '2 of 3', note: 'é' },
        delivery_count: 1,
      });
      const redelivered = (await fetchCommands()).body.commands;
      expect(redelivered).toEqual([expect.objectContaining({ command_id: id, status: 'in_progress', delivery_count: 2 })]);

      expect((await report({ command_id: id, status: 'completed', result: { ok: 1 } })).status).toBe(200);
      const late = await report({ command_id: id, status: 'in_progress' });
      expect(late.status).toBe(409);
      expect(late.body.error_description).toBe('the command was completed');
      expect((await read(id)).body).toMatchObject({
        status: 'completed',
        status_details: { step: '2 of 3', note: 'é' },
        result: { ok: 1 },
      });
    });

    it('takes rejected as a final status', async () => {
      const id = await enqueued({ command: 'unknown-thing' });
      expect((await report({ command_id: id, status: 'rejected', result: { reason: 'unknown command' } })).body.status).toBe('rejected');
      expect(await fetchedIds()).toEqual([]);
      const other = await report({ command_id: id, status: 'completed' });
      expect(other.status).toBe(409);
      expect(other.body.error_description).toBe('the command was rejected, with a different result');
    });
  });

  describe('timeouts and expiry at their exact instant', () => {
    it('times out timeout_seconds after the first delivery, for fetch, get, list and results alike', async () => {
      const id = await enqueued({ command: 'backup', timeout_seconds: 60 });
      rt.clock.advance(5_000);
      const deliveredAt = rt.clock.now();
      const [delivered] = (await fetchCommands()).body.commands;
      expect(delivered).toMatchObject({ command_id: id, deadline_at: iso(deliveredAt + 60_000) });

      rt.clock.set(deliveredAt + 59_999);
      expect((await read(id)).body.status).toBe('delivered');
      expect(await listed({ status: 'timed_out' })).toEqual([]);

      rt.clock.set(deliveredAt + 60_000);
      expect((await read(id)).body).toMatchObject({
        status: 'timed_out',
        completed_at: iso(deliveredAt + 60_000),
        updated_at: iso(deliveredAt + 60_000),
      });
      expect(await listed({ status: 'timed_out' })).toEqual([[id, 'timed_out']]);
      const late = await report({ command_id: id, status: 'completed' });
      expect(late.status).toBe(409);
      expect(late.body.error_description).toBe('the command timed out');
      expect(await fetchedIds()).toEqual([]);
      expect((await cancel(id)).body.error_description).toBe('the command timed out');
    });

    it('moves the deadline with a step timeout, and times out at the new one', async () => {
      const id = await enqueued({ command: 'migrate', timeout_seconds: 3600 });
      await fetchCommands();
      rt.clock.advance(1_000);
      const at = rt.clock.now();
      await report({ command_id: id, status: 'in_progress', timeout_seconds: 10 });
      expect((await read(id)).body.deadline_at).toBe(iso(at + 10_000));

      rt.clock.set(at + 9_999);
      expect(await fetchedIds()).toEqual([id]);
      rt.clock.set(at + 10_000);
      expect(await fetchedIds()).toEqual([]);
      expect((await read(id)).body.status).toBe('timed_out');
      expect((await report({ command_id: id, status: 'in_progress' })).status).toBe(409);
    });

    it('expires at expires_at for every reader, whether or not it was fetched', async () => {
      const id = await enqueued({ command: 'short', ttl_seconds: 30 });
      const created = rt.clock.now();
      rt.clock.set(created + 29_999);
      expect((await read(id)).body.status).toBe('pending');
      rt.clock.set(created + 30_000);
      expect((await read(id)).body).toMatchObject({ status: 'expired', completed_at: iso(created + 30_000) });
      expect(await listed()).toEqual([[id, 'expired']]);
      expect(await fetchedIds()).toEqual([]);
      expect((await report({ command_id: id, status: 'completed' })).body.error_description).toBe(
        'the command expired before a result arrived',
      );
    });
  });

  describe('cancel', () => {
    it.each(['pending', 'delivered', 'in_progress'])('cancels a %s command, which is never delivered again', async (state) => {
      const id = await enqueued({ command: 'scan' });
      if (state !== 'pending') await fetchCommands();
      if (state === 'in_progress') await report({ command_id: id, status: 'in_progress' });

      const answer = await cancel(id, { reason: 'superseded' });

      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        command_id: id,
        status: 'canceled',
        cancel_reason: 'superseded',
        completed_at: iso(rt.clock.now()),
      });
      expect(await fetchedIds()).toEqual([]);
      const agentLearns = await report({ command_id: id, status: 'in_progress' });
      expect(agentLearns.status).toBe(409);
      expect(agentLearns.body.error_description).toBe('the command was canceled');
      expect((await cancel(id)).body.error_description).toBe('the command was canceled');
    });

    it('cancels without a body, and answers 404 for an unknown command', async () => {
      const id = await enqueued({ command: 'scan' });
      expect((await cancel(id)).body).toMatchObject({ status: 'canceled', cancel_reason: null });
      expect((await cancel(randomUUID())).status).toBe(404);
    });

    it('refuses a completed command with 409 naming its state', async () => {
      const id = await enqueued({ command: 'scan' });
      await report({ command_id: id, status: 'failed' });
      const answer = await cancel(id);
      expect(answer.status).toBe(409);
      expect(answer.body.error_description).toBe('the command failed');
    });
  });

  describe('listing', () => {
    it('pages through every command in enqueue order with a cursor that holds while commands are added', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i += 1) ids.push(await enqueued({ command: `c${i}` }));
      await report({ command_id: ids[1], status: 'completed' });

      const first = await list({ limit: '2' });
      for (let i = 0; i < 2; i += 1) ids.push(await enqueued({ command: `late${i}` }));
      const second = await list({ limit: '2', cursor: first.body.next_cursor });
      const third = await list({ limit: '10', cursor: second.body.next_cursor });

      expect(first.body.commands.map((c: { command_id: string }) => c.command_id)).toEqual(ids.slice(0, 2));
      expect(first.body.commands[1].status).toBe('completed');
      expect(second.body.commands.map((c: { command_id: string }) => c.command_id)).toEqual(ids.slice(2, 4));
      expect(third.body.commands.map((c: { command_id: string }) => c.command_id)).toEqual(ids.slice(4));
      expect(third.body.next_cursor).toBeNull();
      expect((await list()).body.commands).toHaveLength(7);
    });

    it('filters by status, and gives no cursor when nothing more matches', async () => {
      const [a, b, c] = [await enqueued({ command: 'a' }), await enqueued({ command: 'b' }), await enqueued({ command: 'c' })];
      await cancel(b);
      await fetchCommands();
      await report({ command_id: c, status: 'in_progress' });

      expect(await listed({ status: 'canceled,in_progress' })).toEqual([
        [b, 'canceled'],
        [c, 'in_progress'],
      ]);
      const one = await list({ status: 'delivered', limit: '1' });
      expect(one.body).toMatchObject({ agent_id: agentId, next_cursor: null });
      expect(one.body.commands.map((x: { command_id: string }) => x.command_id)).toEqual([a]);
    });

    it('answers 400 for a cursor it never gave out, an unknown status and a limit out of range', async () => {
      const queries: Record<string, string>[] = [
        { cursor: 'bm90LWEtY3Vyc29y' },
        { cursor: '!' },
        { status: 'done' },
        { status: '' },
        { limit: '101' },
      ];
      for (const query of queries) {
        const answer = await list(query);
        expect(answer.status, JSON.stringify(query)).toBe(400);
      }
    });
  });

  describe('idempotent enqueue', () => {
    it('answers the original 201 again for the same key and body, 422 for another body, and keeps one command', async () => {
      const body = { command: 'restart', args: { service: 'nginx', flags: [1] } };
      const first = await enqueue(body, { 'idempotency-key': 'restart-nginx-1' });
      await fetchCommands(); // the command moves on; the replay is still the original answer
      const same = await enqueue({ args: { flags: [1], service: 'nginx' }, command: 'restart' }, { 'idempotency-key': 'restart-nginx-1' });
      const other = await enqueue({ command: 'reboot' }, { 'idempotency-key': 'restart-nginx-1' });

      expect(first.status).toBe(201);
      expect(same.status).toBe(201);
      expect(same.raw).toBe(first.raw);
      expect(same.headers.location).toBe(first.headers.location);
      expect(other.status).toBe(422);
      expect(other.body.error).toBe('unprocessable');
      expect((await list()).body.commands).toHaveLength(1);
    });

    it('scopes the key to the operator and the agent', async () => {
      const otherOperator = await signToken({ sub: 'operator-2', scope: 'admin:commands' }, { now: Math.floor(rt.clock.now() / 1000) });
      const a = await enqueue({ command: 'x' }, { 'idempotency-key': 'k' });
      const b = await enqueue({ command: 'x' }, { 'idempotency-key': 'k' }, otherOperator);
      expect(a.body.command_id).not.toBe(b.body.command_id);
      expect((await list()).body.commands).toHaveLength(2);
    });

    it('forgets the key after RESULT_RETENTION_SECONDS', async () => {
      const first = await enqueue({ command: 'x', ttl_seconds: 30 * 24 * 3600 }, { 'idempotency-key': 'k' });
      rt.clock.advance(rt.config.resultRetentionSeconds * 1000);
      const fresh = await signToken({ sub: 'operator-1', scope: 'admin:commands' }, { now: Math.floor(rt.clock.now() / 1000) });
      const later = await enqueue({ command: 'x', ttl_seconds: 30 * 24 * 3600 }, { 'idempotency-key': 'k' }, fresh);
      expect(later.status).toBe(201);
      expect(later.body.command_id).not.toBe(first.body.command_id);
    });

    it('makes exactly one command from concurrent requests with one key', async () => {
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => enqueue({ command: 'once', args: { n: 1 } }, { 'idempotency-key': 'only-once' })),
      );
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
      expect(new Set(answers.map((a) => a.body.command_id)).size).toBe(1);
      expect((await list()).body.commands).toHaveLength(1);
    });
  });

  describe('a result with its status_details', () => {
    it('keeps why it failed (or was rejected) as status_details, shown by the read and in the history entry of the result', async () => {
      const id = await enqueued({ command: 'deploy', args: {} });
      await fetchCommands();
      const failed = await report({ command_id: id, status: 'failed', result: { exit_code: 3 }, status_details: { reason: 'disk full' } });
      expect(failed.status).toBe(200);
      const shown = (await read(id)).body;
      expect(shown).toMatchObject({ status: 'failed', result: { exit_code: 3 }, status_details: { reason: 'disk full' } });
      expect(shown.history.at(-1)).toMatchObject({ status: 'failed', status_details: { reason: 'disk full' } });
      // The same result again is a duplicate (200), whatever its details.
      expect((await report({ command_id: id, status: 'failed', result: { exit_code: 3 } })).status).toBe(200);
    });
  });

  describe('bad input changes nothing', () => {
    it('answers 400 with a precise message to each bad report, and the command stays as it was', async () => {
      const id = await enqueued({ command: 'x' });
      await fetchCommands();
      const before = (await read(id)).raw;
      const tooMany = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']));
      const cases: [unknown, RegExp][] = [
        [{ command_id: id, status: 'in_progress', status_details: tooMany }, /at most 32 values/],
        [{ command_id: id, status: 'in_progress', status_details: { k: 'x'.repeat(1025) } }, /at most 1024 characters/],
        [{ command_id: id, status: 'in_progress', status_details: { k: 1 } }, /must be a string/],
        [{ command_id: id, status: 'in_progress', status_details: ['a'] }, /JSON object of strings/],
        [{ command_id: id, status: 'in_progress', timeout_seconds: 0 }, /timeout_seconds must be a whole number from 1 to 604800/],
        [{ command_id: id, status: 'in_progress', timeout_seconds: 604_801 }, /1 to 604800/],
        [{ command_id: id, status: 'in_progress', result: {} }, /not with in_progress/],
        [{ command_id: id, status: 'completed', timeout_seconds: 5 }, /with "in_progress" only/],
        [{ command_id: id, status: 'failed', status_details: { k: 1 } }, /must be a string/],
        [{ command_id: id, status: 'canceled' }, /status must be/],
        [{ command_id: id, status: 'in_progress', extra: 1 }, /unknown field: extra/],
      ];
      for (const [body, message] of cases) {
        const answer = await report(body);
        expect(answer.status, JSON.stringify(body)).toBe(400);
        expect(answer.body.error_description).toMatch(message);
      }
      const after = (await read(id)).raw;
      expect(after).toBe(before);
    });

    it('answers 400 to a bad enqueue or cancel, and adds or cancels nothing', async () => {
      const id = await enqueued({ command: 'x' });
      for (const [body, headers] of [
        [{ command: 'x', timeout_seconds: 0 }, undefined],
        [{ command: 'x', timeout_seconds: 1.5 }, undefined],
        [{ command: 'x' }, { 'idempotency-key': '' }],
        [{ command: 'x' }, { 'idempotency-key': 'x'.repeat(256) }],
        [{ command: 'x' }, { 'idempotency-key': 'tab\there' }],
      ] as const) {
        expect((await enqueue(body, headers)).status, JSON.stringify([body, headers])).toBe(400);
      }
      for (const body of [{ reason: 'x'.repeat(257) }, { reason: 1 }, { why: 'x' }, ['x']]) {
        expect((await cancel(id, body)).status, JSON.stringify(body)).toBe(400);
      }
      expect(await listed()).toEqual([[id, 'pending']]);
    });
  });

  describe('races', () => {
    it('a cancel and a result together end in exactly one terminal state; the loser gets 409 naming the winner', async () => {
      for (let round = 0; round < 6; round += 1) {
        const id = await enqueued({ command: `race-${round}` });
        await fetchCommands();
        const [canceled, completed] = await Promise.all([cancel(id), report({ command_id: id, status: 'completed', result: round })]);
        const state = (await read(id)).body.status;

        expect([canceled.status, completed.status].sort()).toEqual([200, 409]);
        if (canceled.status === 200) {
          expect(state).toBe('canceled');
          expect(completed.body.error_description).toBe('the command was canceled');
        } else {
          expect(state).toBe('completed');
          expect(canceled.body.error_description).toBe('the command was completed');
        }
      }
    });

    it('concurrent in_progress updates never lose a terminal result', async () => {
      const id = await enqueued({ command: 'busy' });
      await fetchCommands();
      const updates = Array.from({ length: 10 }, (_, i) =>
        report({ command_id: id, status: 'in_progress', status_details: { n: String(i) } }),
      );
      const final = report({ command_id: id, status: 'completed', result: { done: true } });
      const answers = await Promise.all([...updates.slice(0, 5), final, ...updates.slice(5)]);

      expect(answers[5]?.status).toBe(200);
      for (const answer of answers) expect([200, 409]).toContain(answer.status);
      expect((await read(id)).body).toMatchObject({ status: 'completed', result: { done: true } });
    });
  });
});

/**
 * Every endpoint through its real exported handler and Middy chain, on each store.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { handler as enqueueCommand } from '../../functions/enqueue-command.ts';
import { handler as fallback } from '../../functions/fallback.ts';
import { handler as getCommand } from '../../functions/get-command.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as getConfig } from '../../functions/get-config.ts';
import { handler as health } from '../../functions/health.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import { handler as postRevocations } from '../../functions/post-revocations.ts';
import { handler as putConfig } from '../../functions/put-config.ts';
import type { ManualClock } from '../../lib/clock.ts';
import type { Runtime } from '../../lib/runtime.ts';
import { httpEvent, invoke, lambdaContext } from '../helpers/lambda.ts';
import { storeTargets } from '../helpers/targets.ts';
import { signToken } from '../helpers/tokens.ts';

const targets = storeTargets('endpoints');

describe.each(targets)('endpoints on the $name store', (target) => {
  let rt: Runtime & { clock: ManualClock };
  let agent: string;
  let otherAgent: string;
  let operator: string;
  let agentId: string;

  beforeEach(async () => {
    rt = target.use();
    // A fresh agent id per test keeps tests apart on a shared Redis.
    agentId = `agent-${Math.random().toString(36).slice(2, 10)}`;
    const now = Math.floor(rt.clock.now() / 1000);
    agent = await signToken({ sub: agentId, scope: 'agent:commands agent:results' }, { now });
    otherAgent = await signToken({ sub: `${agentId}-other`, scope: 'agent:commands agent:results' }, { now });
    operator = await signToken({ sub: 'operator-1', scope: 'admin:commands admin:config' }, { now });
  });

  const enqueue = (body: unknown, id = agentId, token = operator) =>
    invoke(enqueueCommand, { method: 'POST', path: `/api/agents/${id}/commands`, pathParameters: { agentId: id }, token, body });
  const fetchCommands = (token = agent, query?: Record<string, string>) =>
    invoke(getCommands, { path: '/api/commands', token, ...(query ? { query } : {}) });
  const post = (body: unknown, token = agent, headers?: Record<string, string>) =>
    invoke(postResults, { method: 'POST', path: '/api/results', token, body, ...(headers ? { headers } : {}) });
  const read = (commandId: string, id = agentId) =>
    invoke(getCommand, { path: `/api/agents/${id}/commands/${commandId}`, pathParameters: { agentId: id, commandId }, token: operator });

  describe('GET /health', () => {
    it('answers ok without a token', async () => {
      const answer = await invoke(health, { path: '/health' });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ status: 'ok' });
    });
  });

  describe('the command lifecycle', () => {
    it('delivers an enqueued command to its agent with the agreed fields', async () => {
      const created = await enqueue({ command: 'restart', args: { service: 'nginx' } });
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe(`/api/agents/${agentId}/commands/${created.body.command_id}`);
      expect(created.body).toMatchObject({ agent_id: agentId, command: 'restart', status: 'pending', delivered_at: null });

      const fetched = await fetchCommands();
      expect(fetched.status).toBe(200);
      expect(fetched.body).toEqual({
        agent_id: agentId,
        commands: [
          {
            command_id: created.body.command_id,
            command: 'restart',
            args: { service: 'nginx' },
            status: 'delivered',
            created_at: created.body.created_at,
            expires_at: new Date(rt.clock.now() + 86_400_000).toISOString(),
            delivery_count: 1,
            deadline_at: null,
            job_id: null,
            attempt: 1,
            signature: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
          },
        ],
      });
    });

    it('delivers oldest first, up to limit, and keeps delivering until a result arrives', async () => {
      const ids: string[] = [];
      for (const name of ['one', 'two', 'three']) {
        ids.push((await enqueue({ command: name })).body.command_id);
        rt.clock.advance(1);
      }
      const first = await fetchCommands(agent, { limit: '2' });
      expect(first.body.commands.map((c: { command: string }) => c.command)).toEqual(['one', 'two']);
      const again = await fetchCommands();
      expect(again.body.commands.map((c: { command: string }) => c.command)).toEqual(['one', 'two', 'three']);

      expect((await post({ command_id: ids[0], status: 'completed' })).status).toBe(200);
      const after = await fetchCommands();
      expect(after.body.commands.map((c: { command: string }) => c.command)).toEqual(['two', 'three']);
    });

    it('records delivered_at once, at the first fetch', async () => {
      const id = (await enqueue({ command: 'scan' })).body.command_id;
      expect((await read(id)).body).toMatchObject({ status: 'pending', delivered_at: null });
      rt.clock.advance(5_000);
      const firstFetch = new Date(rt.clock.now()).toISOString();
      await fetchCommands();
      rt.clock.advance(5_000);
      await fetchCommands();
      expect((await read(id)).body).toMatchObject({ status: 'delivered', delivered_at: firstFetch });
    });

    it('never delivers an expired command and reads it as expired', async () => {
      const id = (await enqueue({ command: 'short', ttl_seconds: 60 })).body.command_id;
      rt.clock.advance(61_000);
      expect((await fetchCommands()).body.commands).toEqual([]);
      expect((await read(id)).body.status).toBe('expired');
      const late = await post({ command_id: id, status: 'completed' });
      expect(late.status).toBe(409);
      expect(late.body.error).toBe('conflict');
    });

    it('keeps each agent to its own queue', async () => {
      await enqueue({ command: 'mine' });
      expect((await fetchCommands(otherAgent)).body.commands).toEqual([]);
    });

    it('stores the result and shows it to operators', async () => {
      const id = (await enqueue({ command: 'du' })).body.command_id;
      await fetchCommands();
      rt.clock.advance(1_000);
      const result = { used: [1, 2.5, 'x'], nested: { ok: true, none: null }, text: 'é ✓' };
      const answer = await post({ command_id: id, status: 'failed', result });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ command_id: id, status: 'failed', accepted: true });
      const shown = await read(id);
      expect(shown.body).toMatchObject({ status: 'failed', result, completed_at: new Date(rt.clock.now()).toISOString() });
    });

    it('accepts the identical result again and refuses a different one with 409', async () => {
      const id = (await enqueue({ command: 'x' })).body.command_id;
      const body = { command_id: id, status: 'completed', result: { n: 1 } };
      expect((await post(body)).status).toBe(200);
      expect((await post(body)).status).toBe(200);
      const other = await post({ ...body, result: { n: 2 } });
      expect(other.status).toBe(409);
      expect(other.body).toEqual({ error: 'conflict', error_description: expect.any(String), request_id: expect.any(String) });
      expect((await post({ ...body, status: 'failed' })).status).toBe(409);
      expect((await read(id)).body.result).toEqual({ n: 1 });
    });

    it("answers 404 alike for an unknown command and for another agent's command", async () => {
      const id = (await enqueue({ command: 'x' })).body.command_id;
      const unknown = await post({ command_id: 'no-such-command', status: 'completed' });
      const foreign = await post({ command_id: id, status: 'completed' }, otherAgent);
      expect(unknown.status).toBe(404);
      expect(foreign.status).toBe(404);
      expect({ ...foreign.body, request_id: 'same' }).toEqual({ ...unknown.body, request_id: 'same' });
      expect((await read(id)).body.status).toBe('pending');
    });

    it('lets exactly one of several different concurrent results win', async () => {
      const id = (await enqueue({ command: 'race' })).body.command_id;
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => post({ command_id: id, status: 'completed', result: { writer: i } })),
      );
      const statuses = answers.map((answer) => answer.status).sort();
      expect(statuses.filter((status) => status === 200)).toHaveLength(1);
      expect(statuses.filter((status) => status === 409)).toHaveLength(7);
      const winner = answers.findIndex((answer) => answer.status === 200);
      expect((await read(id)).body.result).toEqual({ writer: winner });
    });
  });

  describe('results read back byte for byte (the text the agent sent)', () => {
    it('keeps large integers, exponents and spacing exactly', async () => {
      const id = (await enqueue({ command: 'scan' })).body.command_id;
      const text = `{"command_id":"${id}","status":"completed","result": {"id":9007199254740993, "n":1e20,"f":1.50}}`;

      const posted = await post(text);
      expect(posted.status).toBe(200);

      const answer = await read(id);
      expect(answer.status).toBe(200);
      expect(answer.raw).toContain('"result":{"id":9007199254740993, "n":1e20,"f":1.50}');
    });

    it('takes another number for a different result (409), and the same text as a retry (200)', async () => {
      const id = (await enqueue({ command: 'scan' })).body.command_id;
      const body = (n: string) => `{"command_id":"${id}","status":"completed","result":{"id":${n}}}`;
      expect((await post(body('9007199254740993'))).status).toBe(200);
      expect((await post(body('9007199254740993'))).status).toBe(200);
      expect((await post(body('9007199254740992'))).status).toBe(409);
    });

    it('accepts a result of exactly result_max_bytes (262144 bytes of JSON), refuses one byte more', async () => {
      const id = (await enqueue({ command: 'dump' })).body.command_id;
      const limit = 256 * 1024;
      const over = await post({ command_id: id, status: 'completed', result: 'x'.repeat(limit - 1) });
      expect(over.status).toBe(400);
      expect(over.body.error_description).toBe(`result must be at most ${limit} bytes of JSON`);
      expect((await read(id)).body.result).toBeNull();

      const exact = await post({ command_id: id, status: 'completed', result: 'x'.repeat(limit - 2) });
      expect(exact.status).toBe(200);
      expect((await read(id)).body.result).toBe('x'.repeat(limit - 2));
    });

    it('bounds what is stored by the limit: 1e20 repeated reads back as sent, not 4x larger', async () => {
      const id = (await enqueue({ command: 'dump' })).body.command_id;
      const numbers = `[${Array.from({ length: 40_000 }, () => '1e20').join(',')}]`;
      expect((await post(`{"command_id":"${id}","status":"completed","result":${numbers}}`)).status).toBe(200);
      const answer = await read(id);
      expect(answer.raw?.length).toBeLessThan(numbers.length + 1024);
      expect(answer.raw).toContain(numbers);
    });

    it('refuses a body that is not valid UTF-8, and strings that are not well-formed Unicode', async () => {
      const id = (await enqueue({ command: 'scan' })).body.command_id;
      const bytes = Buffer.from(`{"command_id":"${id}","status":"completed","result":"@@"}`);
      bytes[bytes.indexOf('@@')] = 0xff;
      const event = httpEvent({ method: 'POST', path: '/api/results', token: agent, body: bytes.toString('base64') });
      event.isBase64Encoded = true;
      const base64 = (await postResults(event, lambdaContext())) as { statusCode: number; body: string };
      expect(base64.statusCode).toBe(400);
      expect(JSON.parse(base64.body).error_description).toBe('the body is not valid UTF-8');
      const lone = await post(`{"command_id":"${id}","status":"completed","result":"x\\ud800"}`);
      expect(lone.status).toBe(400);
      expect((await read(id)).body.result).toBeNull();
    });
  });

  describe('input checks', () => {
    it('answers 400 for a limit outside 1..100', async () => {
      for (const limit of ['0', '101', 'ten', '-1', '1.5']) {
        const answer = await fetchCommands(agent, { limit });
        expect(answer.status, limit).toBe(400);
        expect(answer.body.error).toBe('invalid_request');
      }
    });

    it('answers 400 for a result that does not follow the schema, and changes nothing', async () => {
      const id = (await enqueue({ command: 'x' })).body.command_id;
      for (const body of [
        [],
        'text',
        42,
        null,
        {},
        { command_id: id },
        { command_id: id, status: 'done' },
        { command_id: 5, status: 'completed' },
        { command_id: id, status: 'completed', extra: 1 },
      ]) {
        const answer = await post(body);
        expect(answer.status, JSON.stringify(body)).toBe(400);
        expect(answer.body.error).toBe('invalid_request');
      }
      expect((await read(id)).body.status).toBe('pending');
    });

    it('refuses a result that would not read back unchanged: numbers beyond the double range, deep nesting', async () => {
      const id = (await enqueue({ command: 'x' })).body.command_id;
      const huge = await post(`{"command_id":"${id}","status":"completed","result":{"n":1e400}}`);
      expect(huge.status).toBe(400);
      expect(huge.body.error_description).toContain('result');
      const deep = await post(`{"command_id":"${id}","status":"completed","result":${'['.repeat(200)}${']'.repeat(200)}}`);
      expect(deep.status).toBe(400);
      const veryDeep = await post(`{"command_id":"${id}","status":"completed","result":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
      expect(veryDeep.status).toBe(400);
      expect((await read(id)).body.status).toBe('pending');
    });

    it('answers 400 for malformed JSON and 415 for another content type', async () => {
      expect((await post('{"command_id":')).body.error).toBe('invalid_request');
      const wrongType = await post('command_id=x', agent, { 'content-type': 'application/x-www-form-urlencoded' });
      expect(wrongType.status).toBe(415);
      expect(wrongType.body.error).toBe('unsupported_media_type');
    });

    it('answers 413 for a body over 256 KB and the envelope (260 KB)', async () => {
      const answer = await post({ command_id: 'x', status: 'completed', result: 'x'.repeat(260 * 1024) });
      expect(answer.status).toBe(413);
      expect(answer.body.error).toBe('payload_too_large');
    });

    it('checks agent ids in paths', async () => {
      for (const id of ['has space', 'a/b', 'x'.repeat(129), 'semi;colon']) {
        const answer = await enqueue({ command: 'x' }, id);
        expect(answer.status, id).toBe(400);
        expect(answer.body.error).toBe('invalid_request');
      }
      expect((await enqueue({ command: 'x' }, 'ok.id:with@chars_-')).status).toBe(201);
    });

    it('checks the command an operator enqueues', async () => {
      for (const body of [
        {},
        { command: '' },
        { command: 'x'.repeat(129) },
        { command: 'x', args: [] },
        { command: 'x', ttl_seconds: 0 },
        { command: 'x', ttl_seconds: 1.5 },
        { command: 'x', other: 1 },
      ]) {
        expect((await enqueue(body)).status, JSON.stringify(body)).toBe(400);
      }
      expect((await fetchCommands()).body.commands).toEqual([]);
    });

    it('never lets an agent token through an operator route', async () => {
      const answer = await enqueue({ command: 'x' }, agentId, agent);
      expect(answer.status).toBe(403);
      expect(answer.headers['www-authenticate']).toContain('scope="admin:commands"');
      expect((await read('anything')).status).toBe(404);
    });

    it('answers 404 to an operator asking for a command of another agent', async () => {
      const id = (await enqueue({ command: 'x' })).body.command_id;
      expect((await read(id, `${agentId}-other`)).status).toBe(404);
    });
  });

  describe('agent configuration', () => {
    const put = (body: unknown, token = operator) =>
      invoke(putConfig, { method: 'PUT', path: `/api/agents/${agentId}/config`, pathParameters: { agentId }, token, body });

    it('serves the defaults to an agent without overrides', async () => {
      const answer = await invoke(getConfig, { path: '/api/config', token: agent });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        agent_id: agentId,
        config: { poll_interval_seconds: 30, result_max_bytes: 262144, commands_per_fetch: 10, push_poll_interval_seconds: 900 },
        // The public keys its commands are signed with (docs/signing.md).
        command_keys: { keys: [expect.objectContaining({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })] },
      });
    });

    it("merges an operator's overrides, and a second PUT replaces the first", async () => {
      const first = await put({ poll_interval_seconds: 5, region: 'eu' });
      expect(first.status).toBe(200);
      expect(first.body.config).toMatchObject({ poll_interval_seconds: 5, region: 'eu', result_max_bytes: 262144 });
      await put({ log_level: 'debug' });
      const answer = await invoke(getConfig, { path: '/api/config', token: agent });
      expect(answer.body.config).toEqual({
        poll_interval_seconds: 30,
        result_max_bytes: 262144,
        commands_per_fetch: 10,
        push_poll_interval_seconds: 900,
        log_level: 'debug',
      });
    });

    it('refuses overrides of the wrong type and keeps the old ones', async () => {
      await put({ poll_interval_seconds: 5 });
      for (const body of [
        [],
        { poll_interval_seconds: 'fast' },
        { poll_interval_seconds: 0 },
        { result_max_bytes: 10_000_000 },
        { push_poll_interval_seconds: 0 },
        { push_poll_interval_seconds: 86401 },
        { push_poll_interval_seconds: 1.5 },
      ]) {
        expect((await put(body)).status, JSON.stringify(body)).toBe(400);
      }
      const answer = await invoke(getConfig, { path: '/api/config', token: agent });
      expect(answer.body.config.poll_interval_seconds).toBe(5);
    });

    it('needs admin:config to change it', async () => {
      expect((await put({ a: 1 }, agent)).status).toBe(403);
    });
  });

  describe('revocations that hold', () => {
    const revoke = async (body: unknown) => {
      const admin = await signToken({ sub: 'operator-1', scope: 'admin:revoke' }, { now: Math.floor(rt.clock.now() / 1000) });
      return invoke(postRevocations, { method: 'POST', path: '/api/revocations', token: admin, body });
    };

    it('refuses a jti revocation whose exp has passed (it would revoke nothing), and the token still works', async () => {
      const jti = `j-${agentId}`;
      const token = await signToken({ sub: agentId, jti }, { now: Math.floor(rt.clock.now() / 1000) });

      const answer = await revoke({ jti, exp: Math.floor(rt.clock.now() / 1000) - 3600 });

      expect(answer.status).toBe(400);
      expect(answer.body.error_description).toMatch(/^exp has passed/);
      expect((await fetchCommands(token)).status).toBe(200);
    });

    it('revokes a token given whole, with its own jti and exp', async () => {
      const token = await signToken({ sub: agentId, jti: `w-${agentId}` }, { now: Math.floor(rt.clock.now() / 1000) });
      expect((await fetchCommands(token)).status).toBe(200);

      expect((await revoke({ token })).status).toBe(204);

      expect((await fetchCommands(token)).body).toEqual({
        error: 'invalid_token',
        error_description: 'token_revoked',
        request_id: expect.any(String),
      });
    });

    it('refuses to revoke a token given whole that is expired, forged or has no jti, naming why', async () => {
      const nowS = Math.floor(rt.clock.now() / 1000);
      const expired = await signToken({ sub: agentId }, { now: nowS - 7200, expiresIn: 60 });
      const forged = await signToken({ sub: agentId }, { now: nowS, secret: 'another-secret-0123456789abcdef0123456789' });
      const noJti = await signToken({ sub: agentId }, { now: nowS, omit: ['jti'] });

      expect((await revoke({ token: expired })).body.error_description).toBe('the token has expired already: it can no longer be used');
      expect((await revoke({ token: forged })).body.error_description).toBe(
        'the token is not one this service accepts (invalid_signature)',
      );
      const answer = await revoke({ token: noJti });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toBe('invalid_request');
    });

    it('revokes by subject every token the verifier would still take as issued by now (iat up to now + leeway)', async () => {
      rt.clock.set(Math.floor(rt.clock.now() / 1000) * 1000 + 500);
      const nowS = Math.floor(rt.clock.now() / 1000);
      const skewed = await signToken({ sub: agentId, iat: nowS + 55 }, { now: nowS });
      const fraction = await signToken({ sub: agentId, iat: nowS + 0.999 }, { now: nowS });
      expect((await fetchCommands(skewed)).status).toBe(200);

      expect((await revoke({ sub: agentId })).status).toBe(204);

      expect((await fetchCommands(skewed)).status).toBe(401);
      expect((await fetchCommands(fraction)).status).toBe(401);
      rt.clock.advance(62_000);
      const later = await signToken({ sub: agentId }, { now: Math.floor(rt.clock.now() / 1000) });
      expect((await fetchCommands(later)).status).toBe(200);
    });
  });

  describe('unknown routes', () => {
    it('answers 404 JSON for an unknown path and 405 with Allow for a known path', async () => {
      const missing = await invoke(fallback, { method: 'GET', path: '/api/nothing' });
      expect(missing.status).toBe(404);
      expect(missing.body.error).toBe('not_found');
      const wrong = await invoke(fallback, { method: 'DELETE', path: '/api/commands' });
      expect(wrong.status).toBe(405);
      expect(wrong.headers.allow).toBe('GET');
      expect(wrong.body.error).toBe('method_not_allowed');
    });
  });
});

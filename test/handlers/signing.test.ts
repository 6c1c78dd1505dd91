/**
 * Signed commands through the real handlers on both stores: a plain command signed at enqueue,
 * a job execution signed by the poll that made it (one more store call), the same signature on
 * every delivery, concurrent polls agreeing on one, a failed signing answered 503 with nothing
 * lost. Each signature is checked as the agent checks it (lib/signing/verify.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler as createJob } from '../../functions/create-job.ts';
import { handler as enqueueCommand } from '../../functions/enqueue-command.ts';
import { handler as getCommands } from '../../functions/get-commands.ts';
import { handler as postResults } from '../../functions/post-results.ts';
import type { ManualClock } from '../../lib/clock.ts';
import type { Runtime } from '../../lib/runtime.ts';
import type { CommandPayload } from '../../lib/signing/payload.ts';
import { setCommandSigner } from '../../lib/signing/runtime.ts';
import { type CommandSigner, generateSigningKey, LoadedKeySigner } from '../../lib/signing/signer.ts';
import { verifyCommand } from '../../lib/signing/verify.ts';
import { invoke } from '../helpers/lambda.ts';
import { storeTargets } from '../helpers/targets.ts';
import { signToken } from '../helpers/tokens.ts';

const targets = storeTargets('signing');

/** A signer that counts its signatures and can be made to fail. */
class CountingSigner implements CommandSigner {
  signed = 0;
  failNext = 0;
  readonly inner = new LoadedKeySigner(generateSigningKey());
  async sign(payload: CommandPayload) {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('the signing service is down');
    }
    this.signed += 1;
    return this.inner.sign(payload);
  }
  keySet() {
    return this.inner.keySet();
  }
}

describe.each(targets)('signed commands on the $name store', (target) => {
  let rt: Runtime & { clock: ManualClock };
  let signer: CountingSigner;
  let agentId: string;
  let agent: string;
  let operator: string;

  beforeEach(async () => {
    rt = target.use();
    signer = new CountingSigner();
    setCommandSigner(signer);
    agentId = `agent-${Math.random().toString(36).slice(2, 10)}`;
    agent = await signToken({ sub: agentId, scope: 'agent:commands agent:results' }, { expiresIn: 3600 });
    operator = await signToken({ sub: 'ops-1', scope: 'admin:commands admin:jobs' }, { expiresIn: 3600 });
  });
  afterEach(() => {
    setCommandSigner(new LoadedKeySigner(generateSigningKey()));
  });

  const enqueue = (body: unknown, headers?: Record<string, string>) =>
    invoke(enqueueCommand, {
      method: 'POST',
      path: `/api/agents/${agentId}/commands`,
      pathParameters: { agentId },
      token: operator,
      body,
      ...(headers ? { headers } : {}),
    });
  const poll = () => invoke(getCommands, { path: '/api/commands', token: agent });
  const check = async (command: Record<string, unknown>, as = agentId) =>
    verifyCommand(command as never, { agentId: as, keys: (await signer.keySet()).keys, now: rt.clock.now() });

  it('signs a command when it is enqueued and hands out that signature on every delivery', async () => {
    const created = await enqueue({ command: 'restart', args: { service: 'nginx', grace: 30 } });
    expect(created.status).toBe(201);
    expect(signer.signed).toBe(1);

    const first = (await poll()).body.commands[0];
    const second = (await poll()).body.commands[0];
    expect(await check(first)).toMatchObject({
      ok: true,
      payload: { agent_id: agentId, command_id: created.body.command_id, command: 'restart', expires_at: first.expires_at },
    });
    expect(second.signature).toBe(first.signature);
    expect(second.delivery_count).toBe(2);
    expect(signer.signed).toBe(1);
    expect(await check(first, 'agent-someone-else')).toEqual({ ok: false, reason: 'wrong_agent' });
  });

  it('answers an idempotent replay with the first signature', async () => {
    const body = { command: 'echo', args: { n: 1 } };
    const a = await enqueue(body, { 'idempotency-key': `k-${agentId}` });
    const b = await enqueue(body, { 'idempotency-key': `k-${agentId}` });
    expect(b.body.command_id).toBe(a.body.command_id);
    const [delivered] = (await poll()).body.commands;
    expect(await check(delivered)).toMatchObject({ ok: true });
  });

  it('answers 503 and stores nothing when the command cannot be signed', async () => {
    signer.failNext = 1;
    const answer = await enqueue({ command: 'echo', args: {} });
    expect(answer.status).toBe(503);
    expect((await poll()).body.commands).toEqual([]);
  });

  describe('job executions', () => {
    const job = async () => {
      const created = await invoke(createJob, {
        method: 'POST',
        path: '/api/jobs',
        token: operator,
        body: { command: 'restart', args: { service: 'nginx' }, targets: { agents: [agentId] }, ttl_seconds: 600 },
      });
      expect(created.status).toBe(201);
      return created.body.job_id as string;
    };

    it('signs an execution in the poll that makes it, and hands out the stored signature after', async () => {
      const jobId = await job();
      const first = (await poll()).body.commands;
      expect(first).toHaveLength(1);
      expect(first[0]).toMatchObject({ command_id: jobId, job_id: jobId });
      expect(await check(first[0])).toMatchObject({ ok: true, payload: { job_id: jobId } });
      const signedOnce = signer.signed;

      const again = (await poll()).body.commands;
      expect(again[0].signature).toBe(first[0].signature);
      expect(signer.signed).toBe(signedOnce);
      expect(await check({ ...again[0], job_id: null })).toEqual({ ok: false, reason: 'job_mismatch' });
    });

    it('signs each attempt of a retried execution anew: attempt 2 carries its own signature, which names it', async () => {
      const created = await invoke(createJob, {
        method: 'POST',
        path: '/api/jobs',
        token: operator,
        body: {
          command: 'restart',
          args: { service: 'nginx' },
          targets: { agents: [agentId] },
          timeout_seconds: 60,
          retry: { criteria: [{ failure_type: 'all', max_attempts: 3 }] },
        },
      });
      const jobId = created.body.job_id as string;
      const [first] = (await poll()).body.commands;
      expect(first).toMatchObject({ command_id: jobId, attempt: 1 });
      expect(await check(first)).toMatchObject({ ok: true });
      const report = (body: Record<string, unknown>) =>
        invoke(postResults, { method: 'POST', path: '/api/results', token: agent, body: { command_id: jobId, ...body } });
      expect((await report({ status: 'failed', attempt: 1 })).status).toBe(200);
      const [second] = (await poll()).body.commands;
      expect(second).toMatchObject({ command_id: jobId, attempt: 2 });
      expect(second.signature).not.toBe(first.signature);
      expect(await check(second)).toMatchObject({ ok: true, payload: { attempt: 2 } });
      // The first attempt's signature does not pass for the second (a replayed old command).
      expect(await check({ ...second, signature: first.signature })).toEqual({ ok: false, reason: 'attempt_mismatch' });
      // Its timeout retried too: attempt 3, signed again.
      rt.clock.advance(60_000);
      const [third] = (await poll()).body.commands;
      expect(third).toMatchObject({ attempt: 3 });
      expect(await check(third)).toMatchObject({ ok: true, payload: { attempt: 3 } });
      expect((await report({ status: 'completed', attempt: 2 })).status).toBe(409);
      expect((await report({ status: 'completed', attempt: 3 })).status).toBe(200);
    });

    it('makes concurrent polls agree on one signature', async () => {
      await job();
      const answers = await Promise.all([poll(), poll(), poll()]);
      const signatures = new Set(answers.flatMap((answer) => answer.body.commands.map((c: { signature: string }) => c.signature)));
      const later = (await poll()).body.commands[0];
      expect([...signatures]).toEqual([later.signature]);
      for (const answer of answers) {
        for (const command of answer.body.commands) expect(await check(command)).toMatchObject({ ok: true });
      }
    });

    it('stores a signature once per execution and attempt: never over another, never on a changed attempt, never on a plain command', async () => {
      const jobId = await job();
      signer.failNext = 1;
      expect((await poll()).status).toBe(503); // handed out, left unsigned
      const plain = (await enqueue({ command: 'echo', args: {} })).body.command_id as string;
      const { commands } = rt.stores.unchecked;

      // Another attempt than the execution's (it has none: its first) is not stored.
      expect(await commands.signExecutions(agentId, [{ commandId: jobId, attempt: 2, signature: 'h.p.attempt2' }])).toEqual(
        new Map([[jobId, undefined]]),
      );
      const first = await commands.signExecutions(agentId, [
        { commandId: jobId, attempt: undefined, signature: 'h.p.first' },
        { commandId: plain, attempt: undefined, signature: 'h.p.plain' },
        { commandId: 'no-such-execution', attempt: undefined, signature: 'h.p.none' },
      ]);
      expect(first).toEqual(new Map([[jobId, 'h.p.first']]));
      expect(await commands.signExecutions(agentId, [{ commandId: jobId, attempt: undefined, signature: 'h.p.second' }])).toEqual(
        new Map([[jobId, 'h.p.first']]),
      );
      expect((await commands.get(agentId, jobId))?.signature).toBe('h.p.first');
      expect((await commands.get(agentId, plain))?.signature).not.toBe('h.p.plain');
    });

    it('answers 503 when signing fails, and the next poll signs the same execution', async () => {
      const jobId = await job();
      signer.failNext = 1;
      const failed = await poll();
      expect(failed.status).toBe(503);
      expect(failed.headers['retry-after']).toBe('1');
      const next = (await poll()).body.commands;
      expect(next.map((c: { command_id: string }) => c.command_id)).toEqual([jobId]);
      expect(await check(next[0])).toMatchObject({ ok: true });
    });
  });
});

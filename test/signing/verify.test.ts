/** The agent's check of a signed command (lib/signing/verify.ts): every reason it refuses for, each alone. */
import { generateKeyPairSync } from 'node:crypto';
import { CompactSign, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import type { CommandRecord } from '../../lib/commands/model.ts';
import { argsSha256 } from '../../lib/signing/jcs.ts';
import { commandPayload } from '../../lib/signing/payload.ts';
import { LoadedKeySigner } from '../../lib/signing/signer.ts';
import { type ReceivedCommand, verifyCommand } from '../../lib/signing/verify.ts';

const NOW = Date.parse('2026-12-07T01:00:00.000Z');
const signer = new LoadedKeySigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
const stranger = new LoadedKeySigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
const record: CommandRecord = {
  commandId: 'c-1',
  agentId: 'agent-001',
  command: 'restart',
  args: { service: 'nginx', grace: 30 },
  createdAt: NOW,
  expiresAt: NOW + 3_600_000,
};

async function received(over: Partial<CommandRecord> = {}, by = signer): Promise<ReceivedCommand> {
  const signed = { ...record, ...over };
  return {
    command_id: record.commandId,
    command: record.command,
    args: record.args,
    job_id: null,
    signature: await by.sign(commandPayload(signed, NOW)),
  };
}

const keys = async () => (await signer.keySet()).keys;
const check = async (command: ReceivedCommand, agentId = 'agent-001', now = NOW) =>
  verifyCommand(command, { agentId, keys: await keys(), now });

describe('verifying a signed command', () => {
  it('accepts the command as signed, its args in any member order', async () => {
    const command = await received();
    expect(await check({ ...command, args: { grace: 30, service: 'nginx' } })).toMatchObject({ ok: true });
  });

  it.each([
    ['unsigned', async () => ({ ...(await received()), signature: undefined })],
    ['unsigned', async () => ({ ...(await received()), signature: null })],
    ['malformed', async () => ({ ...(await received()), signature: 'a.b' })],
    ['malformed', async () => ({ ...(await received()), signature: 42 })],
    ['unknown_kid', async () => received({}, stranger)],
    ['args_mismatch', async () => ({ ...(await received()), args: { service: 'sshd', grace: 30 } })],
    ['command_mismatch', async () => ({ ...(await received()), command: 'rm' })],
    ['command_id_mismatch', async () => ({ ...(await received()), command_id: 'c-2' })],
    ['job_mismatch', async () => ({ ...(await received()), job_id: 'job-9' })],
    ['job_mismatch', async () => ({ ...(await received({ jobId: 'job-1' })), job_id: null })],
    ['attempt_mismatch', async () => ({ ...(await received({ attempt: 1 } as Partial<CommandRecord>)), attempt: 2 })],
  ] as const)('refuses: %s', async (reason, make) => {
    expect(await check((await make()) as ReceivedCommand)).toEqual({ ok: false, reason });
  });

  it('refuses a command signed for another agent', async () => {
    expect(await check(await received({ agentId: 'agent-002' }))).toEqual({ ok: false, reason: 'wrong_agent' });
  });

  it('refuses from its expires_at on, and accepts a moment before', async () => {
    const command = await received();
    expect(await check(command, 'agent-001', record.expiresAt - 1)).toMatchObject({ ok: true });
    expect(await check(command, 'agent-001', record.expiresAt)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a signature changed by one byte, and a payload swapped under the same signature', async () => {
    const command = await received();
    const [h, p, s] = (command.signature as string).split('.') as [string, string, string];
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    expect(await check({ ...command, signature: `${h}.${p}.${flipped}` })).toEqual({ ok: false, reason: 'bad_signature' });
    const other = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), args_sha256: argsSha256({}) }),
    ).toString('base64url');
    expect(await check({ ...command, args: {}, signature: `${h}.${other}.${s}` })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses another algorithm or typ, even when signed with a key it knows', async () => {
    const [jwk] = await keys();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const own = new LoadedKeySigner(privateKey);
    const ownKeys = (await own.keySet()).keys;
    const key = await importJWK(privateKey.export({ format: 'jwk' }), 'ES256');
    const bytes = new TextEncoder().encode(JSON.stringify(commandPayload(record, NOW)));
    const withHeader = async (header: Record<string, unknown>) =>
      ({
        ...(await received()),
        signature: await new CompactSign(bytes).setProtectedHeader({ alg: 'ES256', ...header }).sign(key),
      }) as ReceivedCommand;
    const verdict = async (header: Record<string, unknown>) =>
      verifyCommand(await withHeader(header), { agentId: 'agent-001', keys: [...ownKeys, ...(jwk ? [jwk] : [])], now: NOW });
    const kid = ownKeys[0]?.kid;
    expect(await verdict({ typ: 'biz-command+jws', kid })).toMatchObject({ ok: true });
    expect(await verdict({ typ: 'JWT', kid })).toEqual({ ok: false, reason: 'wrong_typ' });
    // Signed by one known key, named as the other.
    expect(await verdict({ typ: 'biz-command+jws', kid: jwk?.kid })).toEqual({ ok: false, reason: 'bad_signature' });
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'biz-command+jws', kid })).toString('base64url')}.${Buffer.from(bytes).toString('base64url')}.AA`;
    expect(verifyCommand({ ...(await received()), signature: none }, { agentId: 'agent-001', keys: ownKeys, now: NOW })).toEqual({
      ok: false,
      reason: 'alg_not_allowed',
    });
  });
});

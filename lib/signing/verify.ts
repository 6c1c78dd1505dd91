/**
 * The agent's side: is this command what the service signed, for this agent, still valid? Pure
 * (node:crypto only): the keys are the caller's (pinned), the clock is the caller's. The answer
 * names why a command is refused, as the agent reports it (`signature_invalid: <reason>`).
 */
import { createPublicKey, verify } from 'node:crypto';
import { argsSha256 } from './jcs.ts';
import { COMMAND_JWS_ALG, COMMAND_JWS_TYP, type CommandPublicJwk } from './jws.ts';
import type { CommandPayload } from './payload.ts';

/** Why a command is refused. */
export type SignatureProblem =
  | 'unsigned'
  | 'malformed'
  | 'alg_not_allowed'
  | 'wrong_typ'
  | 'unknown_kid'
  | 'bad_signature'
  | 'wrong_agent'
  | 'command_mismatch'
  | 'args_mismatch'
  | 'command_id_mismatch'
  | 'job_mismatch'
  | 'attempt_mismatch'
  | 'expired';

/** A command as the agent received it (the fields of GET /api/commands it checks). */
export interface ReceivedCommand {
  readonly command_id: string;
  readonly command: string;
  readonly args: unknown;
  readonly job_id?: string | null;
  readonly attempt?: number | null;
  readonly signature?: unknown;
}

export type Verdict = { readonly ok: true; readonly payload: CommandPayload } | { readonly ok: false; readonly reason: SignatureProblem };

const refuse = (reason: SignatureProblem): Verdict => ({ ok: false, reason });

function decodeJson(part: string): unknown {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) return undefined;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks, in this order: a compact JWS is there; its header is ES256, typ biz-command+jws, a kid
 * among `keys`; the signature verifies with that key; the payload names `agentId`, and the
 * command, args (by canonical hash), command id, job and attempt received; `now` (epoch ms) is
 * before its expires_at.
 */
export function verifyCommand(
  received: ReceivedCommand,
  options: { readonly agentId: string; readonly keys: readonly CommandPublicJwk[]; readonly now: number },
): Verdict {
  const { signature } = received;
  if (signature === undefined || signature === null || signature === '') return refuse('unsigned');
  if (typeof signature !== 'string') return refuse('malformed');
  const parts = signature.split('.');
  if (parts.length !== 3) return refuse('malformed');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart);
  const payload = decodeJson(payloadPart);
  if (!isObject(header) || !isObject(payload) || !/^[A-Za-z0-9_-]+$/.test(signaturePart)) return refuse('malformed');
  if (header.alg !== COMMAND_JWS_ALG) return refuse('alg_not_allowed');
  if (header.typ !== COMMAND_JWS_TYP) return refuse('wrong_typ');
  // A header that asks for more than we understand (RFC 7515 §4.1.11) is refused.
  if (header.crit !== undefined) return refuse('malformed');
  const jwk = options.keys.find((key) => key.kid === header.kid);
  if (typeof header.kid !== 'string' || jwk === undefined) return refuse('unknown_kid');
  let good: boolean;
  try {
    const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
    const raw = Buffer.from(signaturePart, 'base64url');
    good = raw.length === 64 && verify('sha256', Buffer.from(`${headerPart}.${payloadPart}`), { key, dsaEncoding: 'ieee-p1363' }, raw);
  } catch {
    good = false;
  }
  if (!good) return refuse('bad_signature');
  const signed = payload as unknown as CommandPayload;
  if (signed.agent_id !== options.agentId) return refuse('wrong_agent');
  if (signed.command_id !== received.command_id) return refuse('command_id_mismatch');
  if (signed.command !== received.command) return refuse('command_mismatch');
  let hash: string;
  try {
    hash = argsSha256(received.args);
  } catch {
    return refuse('args_mismatch');
  }
  if (signed.args_sha256 !== hash) return refuse('args_mismatch');
  if ((signed.job_id ?? null) !== (received.job_id ?? null)) return refuse('job_mismatch');
  // Attempts count from 1: a payload or a delivery without one is at its first.
  if ((signed.attempt ?? 1) !== (received.attempt ?? 1)) return refuse('attempt_mismatch');
  const expiresAt = typeof signed.expires_at === 'string' ? Date.parse(signed.expires_at) : Number.NaN;
  if (!Number.isFinite(expiresAt)) return refuse('malformed');
  if (options.now >= expiresAt) return refuse('expired');
  return { ok: true, payload: signed };
}

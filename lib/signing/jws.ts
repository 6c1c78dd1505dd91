/**
 * The compact JWS of a signed command (RFC 7515), ES256 only: the header, the signing input, the
 * conversion of a DER ECDSA signature (what KMS returns) to the JWS form (r || s, 32 bytes each,
 * RFC 7518 §3.4), and the RFC 7638 thumbprint of a P-256 public key. Plain node:crypto.
 */
import { createHash, type JsonWebKey } from 'node:crypto';

/** The `typ` of a signed command's header: a command, not a token. */
export const COMMAND_JWS_TYP = 'biz-command+jws';
export const COMMAND_JWS_ALG = 'ES256';

/** A P-256 public key as a JWK (the members a JWKS publishes). */
export interface CommandPublicJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly alg: typeof COMMAND_JWS_ALG;
  readonly use: 'sig';
}

export interface CommandKeySet {
  readonly keys: readonly CommandPublicJwk[];
}

export class SignatureFormatError extends Error {
  override name = 'SignatureFormatError';
}

const b64url = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64url');

/** The signing input `base64url(header).base64url(payload)` for `kid`. */
export function signingInput(kid: string, payload: unknown): string {
  const header = { alg: COMMAND_JWS_ALG, typ: COMMAND_JWS_TYP, kid };
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
}

/** The compact JWS from its signing input and the raw (r || s) signature. */
export function compact(input: string, rawSignature: Uint8Array): string {
  if (rawSignature.length !== 64) throw new SignatureFormatError(`an ES256 signature has 64 bytes, got ${rawSignature.length}`);
  return `${input}.${Buffer.from(rawSignature).toString('base64url')}`;
}

/**
 * A DER `ECDSA-Sig-Value` (SEQUENCE { r INTEGER, s INTEGER }, RFC 3279 §2.2.3) as r || s, each
 * left-padded to 32 bytes. DER integers are signed, so a leading 0x00 before a high bit is dropped.
 */
export function derToRaw(der: Uint8Array): Buffer {
  const bytes = Buffer.from(der);
  let at = 0;
  const byte = () => {
    const value = bytes[at++];
    if (value === undefined) throw new SignatureFormatError('DER signature ends early');
    return value;
  };
  const length = () => {
    const first = byte();
    if (first < 0x80) return first;
    if (first !== 0x81) throw new SignatureFormatError('DER length too long for a P-256 signature');
    return byte();
  };
  if (byte() !== 0x30) throw new SignatureFormatError('DER signature is not a SEQUENCE');
  if (length() !== bytes.length - at) throw new SignatureFormatError('DER SEQUENCE length does not match');
  const integer = () => {
    if (byte() !== 0x02) throw new SignatureFormatError('DER signature member is not an INTEGER');
    const size = length();
    let value = bytes.subarray(at, at + size);
    if (value.length !== size || size === 0) throw new SignatureFormatError('DER INTEGER ends early');
    at += size;
    while (value.length > 1 && value[0] === 0) value = value.subarray(1);
    if (value.length > 32) throw new SignatureFormatError('DER INTEGER longer than 32 bytes');
    return Buffer.concat([Buffer.alloc(32 - value.length), value]);
  };
  const r = integer();
  const s = integer();
  if (at !== bytes.length) throw new SignatureFormatError('DER signature has trailing bytes');
  return Buffer.concat([r, s]);
}

/** RFC 7638 thumbprint of a P-256 key: SHA-256 of {"crv","kty","x","y"} in that order, base64url. */
export function jwkThumbprint(jwk: { readonly crv: string; readonly kty: string; readonly x: string; readonly y: string }): string {
  const members = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(members, 'utf8').digest('base64url');
}

/** The public JWK of a P-256 key from its JWK export (private members dropped), with `kid`. */
export function publicJwk(jwk: JsonWebKey, kid: string): CommandPublicJwk {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new SignatureFormatError('the command signing key must be an EC P-256 key');
  }
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, alg: COMMAND_JWS_ALG, use: 'sig' };
}

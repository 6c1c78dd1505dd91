/**
 * The token rules: a signature with the allowed algorithms only, `iss`, `aud`, `exp`
 * required, `nbf`/`iat` with leeway, `sub` a string, scopes well-typed, no unknown `crit`,
 * optionally a required `typ`. The signature is checked over the raw segments (jws, the library
 * under jsonwebtoken) before the payload is even decoded, so a forged token costs one HMAC, not
 * a parse; jsonwebtoken then checks the registered claims; the stricter structural checks around
 * it are ours. Built once per process with its keys as KeyObjects.
 *
 * Each algorithm family has its own kind of key and never another's: HS* tokens are checked
 * with the configured secrets only, RS/PS/ES tokens with the issuer's JWKS only (lib/auth/jwks.ts),
 * and the libraries are told the one algorithm the chosen key is for. A token whose kid names a
 * key of the other family, or of another type, curve or `alg`, is unsupported_algorithm.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import jws from 'jws';
import { hasDuplicateKeys } from '../json-text.ts';
import { KeySetUnavailableError, TokenError } from './errors.ts';
import type { RemoteKeySet } from './jwks.ts';
import { scopesOf } from './scopes.ts';

export const MAX_TOKEN_BYTES = 8192;

/**
 * The longest `sub` and `jti` a token may carry: the revocation API takes ids up to this
 * length, so every token the verifier accepts can be revoked.
 */
export const MAX_ID_LENGTH = 256;

export interface VerifiedToken {
  readonly token: string;
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly sub: string;
  readonly jti: string | undefined;
  readonly iat: number | undefined;
  readonly exp: number;
  readonly scopes: readonly string[];
  readonly clientId: string | undefined;
}

/** What the verifier needs of the configuration (lib/config.ts's Config has these fields). */
export type VerifierOptions = {
  /** HS* secrets by `kid`; the entry under '' is used for tokens without `kid`. */
  readonly secrets: ReadonlyMap<string, string>;
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** The allowed `alg` values. */
  readonly algorithms: readonly string[];
  readonly clockToleranceSeconds: number;

  /** Epoch milliseconds; defaults to the system clock. */
  readonly now?: () => number;
  /** How many verified tokens to remember (until their exp); 0 turns the cache off. */
  readonly cacheSize?: number;
  /** The most memory (estimated bytes) the remembered tokens may take together. */
  readonly cacheBytes?: number;
  /**
   * JWT_REQUIRED_TYP: the header's `typ` must be this media type (compared as RFC 7515 4.1.9 says:
   * case-insensitively, `application/` optional), e.g. `at+jwt` (RFC 9068) so that an ID token
   * signed with the same key is not taken as an access token. Undefined: any or none.
   */
  readonly requiredTyp?: string | undefined;
  /**
   * Refuse tokens without `jti` (`missing_claim`): with Redis, revocation and the allowlist
   * work by jti, so a token without one could never be revoked on its own.
   */
  readonly requireJti?: boolean;
  /** The issuer's public keys, for RS/PS/ES tokens; undefined: HMAC only. */
  readonly keySet?: RemoteKeySet | undefined;
};

interface Remembered {
  readonly verified: VerifiedToken;
  /** Estimated size in bytes. */
  readonly bytes: number;
  /** The public key it was verified with: the entry holds only while the key set still has it. */
  readonly publicKey: KeyObject | undefined;
}

const isHmac = (alg: unknown) => typeof alg === 'string' && alg.startsWith('HS');

const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Decodes one base64url segment, refusing non-canonical encodings. */
function segment(part: string): Buffer {
  const bytes = Buffer.from(part, 'base64url');
  if (bytes.toString('base64url') !== part) throw new TokenError('malformed_token', 'non-canonical base64url');
  return bytes;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function jsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  let text: string;
  try {
    text = UTF8.decode(segment(part));
  } catch (error) {
    if (error instanceof TokenError) throw error;
    throw new TokenError('malformed_token', `${what} is not UTF-8`);
  }
  try {
    value = JSON.parse(text);
  } catch {
    throw new TokenError('malformed_token', `${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenError('malformed_token', `${what} is not a JSON object`);
  }
  // Readers that keep the first duplicate would see another token than JSON.parse (the last).
  if (hasDuplicateKeys(text)) throw new TokenError('malformed_token', `${what} has a duplicate member name`);
  return value as Record<string, unknown>;
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isStringOrStrings = (value: unknown): boolean =>
  typeof value === 'string' || (Array.isArray(value) && value.every((item) => typeof item === 'string'));

/**
 * Every string (names and values, at any depth) is well-formed Unicode, and the number of JSON
 * values, which is what the cache's memory estimate counts. A lone surrogate (`"\ud800"`) would
 * become U+FFFD on its way to Redis, so two different ids could meet in one key.
 */
function wellFormedValues(value: unknown): number {
  let count = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    count += 1;
    if (typeof item === 'string') {
      if (!item.isWellFormed()) throw new TokenError('malformed_token', 'a claim is not well-formed Unicode');
    } else if (typeof item === 'object' && item !== null) {
      for (const [name, child] of Object.entries(item)) {
        if (!name.isWellFormed()) throw new TokenError('malformed_token', 'a claim name is not well-formed Unicode');
        stack.push(child);
      }
    }
  }
  return count;
}

/** A short, printable echo of an `alg` for the log line; anything else is not echoed. */
function algForLog(alg: unknown): string {
  if (typeof alg !== 'string') return 'no alg';
  return /^[A-Za-z0-9+_-]{1,16}$/.test(alg) ? alg : 'an unknown alg';
}

function typMatches(typ: unknown, required: string): boolean {
  if (typeof typ !== 'string') return false;
  const bare = (value: string) => value.toLowerCase().replace(/^application\//, '');
  return bare(typ) === bare(required);
}

function checkClaimTypes(claims: Record<string, unknown>): void {
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    if (claims[name] !== undefined && !isNumber(claims[name])) throw new TokenError('malformed_token', `${name} is not a number`);
  }
  for (const name of ['iss', 'jti', 'client_id'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') throw new TokenError('malformed_token', `${name} is not a string`);
  }
  if (claims.aud !== undefined && !isStringOrStrings(claims.aud))
    throw new TokenError('malformed_token', 'aud is not a string or array of strings');
  if (claims.sub !== undefined && typeof claims.sub !== 'string') throw new TokenError('malformed_token', 'sub is not a string');
  // An empty sub is missing_claim (checked after the signature); an empty jti could never be revoked.
  if (claims.jti === '') throw new TokenError('malformed_token', 'jti is empty');
  for (const name of ['sub', 'jti'] as const) {
    const id = claims[name] as string | undefined;
    if (id !== undefined && id.length > MAX_ID_LENGTH) throw new TokenError('malformed_token', `${name} is longer than ${MAX_ID_LENGTH}`);
  }
}

function translate(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof jwt.TokenExpiredError) return new TokenError('token_expired', undefined, error);
  if (error instanceof jwt.NotBeforeError) return new TokenError('token_not_yet_valid', undefined, error);
  const message = error instanceof Error ? error.message : '';
  if (message === 'invalid signature') return new TokenError('invalid_signature', undefined, error);
  if (message === 'jwt signature is required') return new TokenError('invalid_signature', 'no signature', error);
  if (message === 'invalid algorithm') return new TokenError('unsupported_algorithm', undefined, error);
  // jsonwebtoken's own key-type checks ("... must be an asymmetric key ...", "\"alg\" parameter ..."):
  // ours come first, these are a second line.
  if (/must be an? (a)?symmetric key|"alg" parameter/.test(message)) return new TokenError('unsupported_algorithm', message, error);
  if (message.startsWith('jwt issuer invalid')) return new TokenError('invalid_issuer', undefined, error);
  if (message.startsWith('jwt audience invalid')) return new TokenError('invalid_audience', undefined, error);
  return new TokenError('malformed_token', message, error);
}

export class TokenVerifier {
  private readonly keys: ReadonlyMap<string, KeyObject>;
  private readonly algorithms: ReadonlySet<string>;
  private readonly options: VerifierOptions;
  private readonly now: () => number;
  private readonly cacheSize: number;
  private readonly cacheBytes: number;
  private readonly keySet: RemoteKeySet | undefined;
  /**
   * Verified tokens by their exact string, oldest insertion first; an entry is only used before
   * the token's exp. With its estimated size in bytes.
   */
  private readonly cache = new Map<string, Remembered>();
  private cachedBytes = 0;

  constructor(options: VerifierOptions) {
    this.options = options;
    this.keys = new Map([...options.secrets].map(([kid, secret]) => [kid, createSecretKey(Buffer.from(secret, 'utf8'))]));
    this.algorithms = new Set(options.algorithms);
    this.now = options.now ?? Date.now;
    this.cacheSize = options.cacheSize ?? 10_000;
    this.cacheBytes = options.cacheBytes ?? 16 * 1024 * 1024;
    this.keySet = options.keySet;
  }

  /**
   * Undefined when verify() can decide this token now (always for HMAC); otherwise the key set
   * fetch to wait for before calling verify() (it never rejects, and keeps to the cooldown).
   */
  prepare(token: string): Promise<void> | undefined {
    if (this.keySet === undefined) return undefined;
    const header = this.cache.get(token)?.verified.header ?? peekHeader(token);
    if (header === undefined || typeof header.alg !== 'string' || !this.algorithms.has(header.alg)) return undefined;
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    // An HMAC token with a kid waits for a fetch in flight only (the cold start): its kid must
    // not name a public key. It never starts a fetch.
    if (isHmac(header.alg)) return kid === undefined ? undefined : this.keySet.pending();
    return this.keySet.prepare(header.alg, kid);
  }

  /**
   * Verifies a compact JWS with the keys at hand; throws TokenError with one stable reason per
   * cause, or KeySetUnavailableError when the token's public key cannot be known now.
   */
  verify(token: string): VerifiedToken {
    const nowMs = this.now();
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if ((cached.verified.exp + this.options.clockToleranceSeconds) * 1000 > nowMs && this.stillHeld(cached)) return cached.verified;
      this.forget(token, cached.bytes);
    }
    const { verified, values, publicKey } = this.verifyUncached(token, nowMs);
    this.remember(verified, values, publicKey);
    return verified;
  }

  private stillHeld(entry: Remembered): boolean {
    if (entry.publicKey === undefined) return true;
    const { alg, kid } = entry.verified.header;
    const found = this.keySet?.lookup(alg as string, kid as string | undefined);
    return found?.status === 'found' && found.key === entry.publicKey;
  }

  /** The key for this token's algorithm family; throws when there is none to use. */
  private keyFor(alg: string, kid: string | undefined): { key: KeyObject; publicKey: KeyObject | undefined } {
    if (isHmac(alg)) {
      // An HMAC token naming one of the issuer's public keys: the confusion attack, refused by name.
      if (kid !== undefined && this.keySet?.has(kid)) throw new TokenError('unsupported_algorithm', 'kid names a public key');
      // With one secret (JWT_SECRET_KEY alone) every token uses it, whatever its kid: authorization
      // servers such as Spring's put a kid on HMAC tokens too. With JWT_SECRET_KEYS the kid selects.
      const key = this.keys.size === 1 ? this.keys.get('') : this.keys.get(kid ?? '');
      if (key === undefined) throw new TokenError('invalid_signature', 'unknown kid');
      return { key, publicKey: undefined };
    }
    if (this.keySet === undefined) throw new TokenError('unsupported_algorithm', alg);
    // A kid of one of our secrets on a public-key token: the other side of the same attack.
    if (kid !== undefined && this.keys.size > 1 && this.keys.has(kid)) throw new TokenError('unsupported_algorithm', 'kid names a secret');
    const found = this.keySet.lookup(alg, kid);
    switch (found.status) {
      case 'found':
        return { key: found.key, publicKey: found.key };
      case 'incompatible':
        throw new TokenError('unsupported_algorithm', `the key ${kid ?? ''} is not for ${alg}`);
      case 'ambiguous':
        throw new TokenError('invalid_signature', kid === undefined ? 'no kid and several keys fit' : 'several keys have this kid');
      case 'missing':
        throw new TokenError('invalid_signature', kid === undefined ? `no key for ${alg}` : 'unknown kid');
      case 'unavailable':
        throw new KeySetUnavailableError("the issuer's keys cannot be fetched now", found.retryAfterSeconds);
    }
  }

  private verifyUncached(token: string, nowMs: number): { verified: VerifiedToken; values: number; publicKey: KeyObject | undefined } {
    if (token.length > MAX_TOKEN_BYTES) throw new TokenError('malformed_token', 'token too large');
    if (!SHAPE.test(token)) throw new TokenError('malformed_token', 'not a compact JWS');
    const [headerPart = '', payloadPart = '', signaturePart = ''] = token.split('.');

    const header = jsonObject(headerPart, 'header');
    if (typeof header.alg !== 'string' || !this.algorithms.has(header.alg)) {
      throw new TokenError('unsupported_algorithm', algForLog(header.alg));
    }
    if (header.crit !== undefined) throw new TokenError('malformed_token', 'unsupported crit header');
    if (header.kid !== undefined && typeof header.kid !== 'string') throw new TokenError('malformed_token', 'kid is not a string');
    if (this.options.requiredTyp !== undefined && !typMatches(header.typ, this.options.requiredTyp)) {
      throw new TokenError('malformed_token', `typ is not ${this.options.requiredTyp}`);
    }
    if (signaturePart === '') throw new TokenError('invalid_signature', 'no signature');
    segment(signaturePart);

    const { key, publicKey } = this.keyFor(header.alg, header.kid as string | undefined);
    // Before the signature, only what costs no parse: the payload is canonical base64url of a
    // JSON object's text. Then the signature over the segments as sent, before any JSON of the
    // payload is read.
    if (!/^[\t\n\r ]*\{/.test(segment(payloadPart).toString('latin1'))) {
      throw new TokenError('malformed_token', 'payload is not a JSON object');
    }
    if (!jws.verify(token, header.alg as jws.Algorithm, key as unknown as string)) throw new TokenError('invalid_signature');

    const claims = jsonObject(payloadPart, 'payload');
    checkClaimTypes(claims);
    const values = wellFormedValues(claims);

    const nowSeconds = Math.floor(nowMs / 1000);
    const leeway = this.options.clockToleranceSeconds;
    try {
      jwt.verify(token, key, {
        // The one algorithm this key is for: jsonwebtoken checks the key's type against it too.
        algorithms: [header.alg as jwt.Algorithm],
        issuer: this.options.issuer,
        audience: [...this.options.audiences] as [string, ...string[]],
        clockTolerance: leeway,
        clockTimestamp: nowSeconds,
      });
    } catch (error) {
      throw translate(error);
    }

    if (claims.iss === undefined) throw new TokenError('invalid_issuer', 'no iss');
    if (claims.exp === undefined) throw new TokenError('missing_claim', 'exp');
    if (typeof claims.sub !== 'string' || claims.sub === '') throw new TokenError('missing_claim', 'sub');
    if (this.options.requireJti && claims.jti === undefined) throw new TokenError('missing_claim', 'jti');
    if (isNumber(claims.iat) && claims.iat > nowSeconds + leeway) throw new TokenError('token_not_yet_valid', 'iat in the future');
    const scopes = scopesOf(claims);
    if (scopes === undefined) throw new TokenError('malformed_token', 'scope is not a string or array of strings');

    const verified: VerifiedToken = {
      token,
      header,
      claims,
      sub: claims.sub,
      jti: claims.jti as string | undefined,
      iat: claims.iat as number | undefined,
      exp: claims.exp as number,
      scopes,
      clientId: (claims.client_id as string | undefined) ?? (typeof claims.azp === 'string' ? claims.azp : undefined),
    };
    return { verified, values, publicKey };
  }

  /**
   * Remembers a verified token, within both bounds: entries and estimated bytes (the token text
   * twice, UTF-16, plus about 96 bytes per parsed JSON value). Eviction takes the oldest
   * insertion first, O(1) each; expired entries go when they are met or reach the front.
   */
  private remember(verified: VerifiedToken, values: number, publicKey: KeyObject | undefined): void {
    if (this.cacheSize === 0) return;
    const bytes = verified.token.length * 4 + values * 96;
    if (bytes > this.cacheBytes) return;
    while (this.cache.size >= this.cacheSize || this.cachedBytes + bytes > this.cacheBytes) {
      const oldest = this.cache.entries().next().value;
      if (oldest === undefined) break;
      this.forget(oldest[0], oldest[1].bytes);
    }
    this.cache.set(verified.token, { verified, bytes, publicKey });
    this.cachedBytes += bytes;
  }

  private forget(token: string, bytes: number): void {
    if (this.cache.delete(token)) this.cachedBytes -= bytes;
  }

  /** How many tokens are remembered, and their estimated bytes (for tests and the bench). */
  cacheStats(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cachedBytes };
  }
}

/** The header of something shaped like a compact JWS, undefined for anything else (verify() says why). */
function peekHeader(token: string): Record<string, unknown> | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.length > MAX_TOKEN_BYTES) return undefined;
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null ? (header as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

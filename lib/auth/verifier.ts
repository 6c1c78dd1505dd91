/**
 * The token rules: HS* signature with the allowed algorithms only, `iss`, `aud`, `exp`
 * required, `nbf`/`iat` with leeway, `sub` a string, scopes well-typed, no unknown `crit`.
 * jsonwebtoken checks the signature and the registered claims; the stricter structural
 * checks around it are ours. Built once per process with its keys as KeyObjects.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Config } from '../config.ts';
import { TokenError } from './errors.ts';
import { hasDuplicateKeys } from './json-guard.ts';
import { scopesOf } from './scopes.ts';

export const MAX_TOKEN_BYTES = 8192;

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

export type VerifierOptions = Pick<Config, 'secrets' | 'issuer' | 'audiences' | 'algorithms' | 'clockToleranceSeconds'> & {
  /** Epoch milliseconds; defaults to the system clock. */
  readonly now?: () => number;
  /** How many verified tokens to remember (until their exp); 0 turns the cache off. */
  readonly cacheSize?: number;
  /**
   * Refuse tokens without `jti` (`missing_claim`): with Redis, revocation and the allowlist
   * work by jti, so a token without one could never be revoked on its own.
   */
  readonly requireJti?: boolean;
};

const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Decodes one base64url segment, refusing non-canonical encodings. */
function segment(part: string): Buffer {
  const bytes = Buffer.from(part, 'base64url');
  if (bytes.toString('base64url') !== part) throw new TokenError('malformed_token', 'non-canonical base64url');
  return bytes;
}

function jsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  const text = segment(part).toString('utf8');
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
}

function translate(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof jwt.TokenExpiredError) return new TokenError('token_expired', undefined, error);
  if (error instanceof jwt.NotBeforeError) return new TokenError('token_not_yet_valid', undefined, error);
  const message = error instanceof Error ? error.message : '';
  if (message === 'invalid signature') return new TokenError('invalid_signature', undefined, error);
  if (message === 'jwt signature is required') return new TokenError('invalid_signature', 'no signature', error);
  if (message === 'invalid algorithm') return new TokenError('unsupported_algorithm', undefined, error);
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
  /** Verified tokens by their exact string; an entry is only used before the token's exp. */
  private readonly cache = new Map<string, VerifiedToken>();

  constructor(options: VerifierOptions) {
    this.options = options;
    this.keys = new Map([...options.secrets].map(([kid, secret]) => [kid, createSecretKey(Buffer.from(secret, 'utf8'))]));
    this.algorithms = new Set(options.algorithms);
    this.now = options.now ?? Date.now;
    this.cacheSize = options.cacheSize ?? 10_000;
  }

  /** Verifies a compact JWS; throws TokenError with one stable reason per cause. */
  verify(token: string): VerifiedToken {
    const nowMs = this.now();
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if ((cached.exp + this.options.clockToleranceSeconds) * 1000 > nowMs) return cached;
      this.cache.delete(token);
    }
    const verified = this.verifyUncached(token, nowMs);
    this.remember(verified, nowMs);
    return verified;
  }

  private verifyUncached(token: string, nowMs: number): VerifiedToken {
    if (token.length > MAX_TOKEN_BYTES) throw new TokenError('malformed_token', 'token too large');
    if (!SHAPE.test(token)) throw new TokenError('malformed_token', 'not a compact JWS');
    const [headerPart = '', payloadPart = '', signaturePart = ''] = token.split('.');

    const header = jsonObject(headerPart, 'header');
    if (typeof header.alg !== 'string' || !this.algorithms.has(header.alg)) {
      throw new TokenError('unsupported_algorithm', typeof header.alg === 'string' ? header.alg : 'no alg');
    }
    if (header.crit !== undefined) throw new TokenError('malformed_token', 'unsupported crit header');
    if (header.kid !== undefined && typeof header.kid !== 'string') throw new TokenError('malformed_token', 'kid is not a string');
    if (signaturePart === '') throw new TokenError('invalid_signature', 'no signature');
    segment(signaturePart);

    const claims = jsonObject(payloadPart, 'payload');
    checkClaimTypes(claims);

    // With one secret (JWT_SECRET_KEY alone) every token uses it, whatever its kid: authorization
    // servers such as Spring's put a kid on HMAC tokens too. With JWT_SECRET_KEYS the kid selects.
    const key = this.keys.size === 1 ? this.keys.get('') : this.keys.get(typeof header.kid === 'string' ? header.kid : '');
    if (key === undefined) throw new TokenError('invalid_signature', 'unknown kid');

    const nowSeconds = Math.floor(nowMs / 1000);
    const leeway = this.options.clockToleranceSeconds;
    try {
      jwt.verify(token, key, {
        algorithms: [...this.algorithms] as jwt.Algorithm[],
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

    return {
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
  }

  private remember(verified: VerifiedToken, nowMs: number): void {
    if (this.cacheSize === 0) return;
    if (this.cache.size >= this.cacheSize) {
      // Drop expired entries first; if none, the oldest insertion.
      for (const [token, entry] of this.cache) {
        if ((entry.exp + this.options.clockToleranceSeconds) * 1000 <= nowMs) this.cache.delete(token);
      }
      if (this.cache.size >= this.cacheSize) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
    }
    this.cache.set(verified.token, verified);
  }
}

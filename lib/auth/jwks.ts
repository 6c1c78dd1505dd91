/**
 * The issuer's public keys: its JWK Set (RFC 7517), fetched and cached by the rules below, and
 * turned into KeyObjects by node:crypto (`createPublicKey({ key, format: 'jwk' })`) for
 * jsonwebtoken to verify with. No JWK is decoded by hand.
 *
 * - Fetched once per cold start (`start()`, called when the runtime is made, so during INIT in
 *   Lambda); the first token waits for that fetch, never for more than the timeout.
 * - Fetched again when the set is older than `cacheSeconds`, and when a token names a key the set
 *   does not have; never more than once per cooldown (30 s), whatever the cause and whether the
 *   last fetch worked or not, so a flood of made-up kids (or an outage) cannot hammer the issuer.
 *   Concurrent callers share one fetch in flight.
 * - A fetch has a timeout, a size limit (150 KB), follows no redirect and needs a 200 with JSON.
 * - Keys not for signatures (`use` other than "sig", `key_ops` without "verify"), private keys,
 *   types we do not verify (oct, OKP, other curves), RSA keys under 2048 bits and JWKs Node
 *   cannot read are ignored. A set that is not a JWK Set or has no usable key is a failed fetch.
 * - After a failed fetch the last good set stays in use until `maxStaleSeconds` after it was
 *   fetched. A key that cannot be known (no usable set, or a kid missing while the last fetch
 *   failed) is `unavailable`: the edge answers 503, never 200 and never invalid_signature.
 *
 * jose's remote key set and jwks-rsa were weighed and not used: both tie their cooldown to the
 * last good fetch (an outage then means a fetch, and its timeout, on every request), neither
 * keeps a stale set for a bounded time nor tells "issuer down" from "no such key", and neither
 * limits the size. The HTTP part is one call to the platform's fetch.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';

/** The public-key algorithms jsonwebtoken 9 verifies (EdDSA is not among them). */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** API Gateway's JWT authorizer takes the same limits: 150 KB, 1500 ms. */
export const JWKS_MAX_BYTES = 150 * 1024;
export const JWKS_DEFAULT_TIMEOUT_MS = 1500;
/** At most one fetch per this long, whatever triggers it. */
export const JWKS_COOLDOWN_MS = 30_000;

const CURVES: Readonly<Record<string, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
const MIN_RSA_BITS = 2048;

const isLoopback = (hostname: string) =>
  hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);

/** https://, or http:// to a loopback address only. */
export function isAllowedKeyUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username !== '' || url.password !== '') return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
}

export type KeyLookup =
  | { readonly status: 'found'; readonly key: KeyObject }
  /** The issuer answered and has no such key. */
  | { readonly status: 'missing' }
  /** The kid names a key of another type, curve or `alg` than the token's. */
  | { readonly status: 'incompatible' }
  /** Several keys fit and the token does not say which. */
  | { readonly status: 'ambiguous' }
  | { readonly status: 'unavailable'; readonly retryAfterSeconds: number };

/** What fetch needs to be for us: the platform's, or one a bench passes in. */
export type FetchLike = (
  url: string,
  init: { signal: AbortSignal; redirect: 'manual'; headers: Record<string, string> },
) => Promise<Response>;

export type KeySetLog = (level: 'info' | 'error', message: string, fields: Record<string, unknown>) => void;

export interface RemoteKeySetOptions {
  /** The JWKS URL; or, without it, `discoveryIssuer`. */
  readonly jwksUrl?: string | undefined;
  /** Issuer whose metadata (OpenID discovery, else RFC 8414) gives `jwks_uri`. */
  readonly discoveryIssuer?: string | undefined;
  readonly cacheSeconds: number;
  readonly maxStaleSeconds: number;
  readonly timeoutMs?: number;
  readonly cooldownMs?: number;
  readonly maxBytes?: number;
  /** Epoch milliseconds; defaults to the system clock. */
  readonly now?: () => number;
  readonly fetch?: FetchLike;
  /** One line per fetch: the outcome. */
  readonly log?: KeySetLog;
}

interface Entry {
  readonly kid: string | undefined;
  readonly kty: 'RSA' | 'EC';
  readonly crv: string | undefined;
  readonly alg: string | undefined;
  readonly key: KeyObject;
  /** The public members as JSON: the same JWK in the next fetch keeps its KeyObject. */
  readonly fingerprint: string;
}

function fits(entry: Entry, alg: string): boolean {
  if (entry.alg !== undefined && entry.alg !== alg) return false;
  if (alg.startsWith('RS') || alg.startsWith('PS')) return entry.kty === 'RSA';
  return entry.kty === 'EC' && entry.crv === CURVES[alg];
}

/** Why a JWK is not used, or undefined when it is usable. */
function unusable(jwk: Record<string, unknown>): string | undefined {
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'not for signatures';
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return 'key_ops without verify';
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') return `kty ${String(jwk.kty)} not verified here`;
  if (jwk.d !== undefined) return 'a private key';
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return 'kid not a string';
  if (jwk.alg !== undefined && !(ASYMMETRIC_ALGORITHMS as readonly unknown[]).includes(jwk.alg)) return `alg ${String(jwk.alg)}`;
  if (jwk.kty === 'EC' && !Object.values(CURVES).includes(jwk.crv as string)) return `curve ${String(jwk.crv)}`;
  return undefined;
}

function readKeySet(json: unknown, previous: ReadonlyMap<string, Entry>): { entries: Entry[]; ignored: number } {
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { keys?: unknown }).keys)) {
    throw new Error('not a JWK Set (no "keys" array)');
  }
  const entries: Entry[] = [];
  let ignored = 0;
  for (const jwk of (json as { keys: unknown[] }).keys) {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
      ignored += 1;
      continue;
    }
    const member = jwk as Record<string, unknown>;
    if (unusable(member) !== undefined) {
      ignored += 1;
      continue;
    }
    const kty = member.kty as 'RSA' | 'EC';
    const publicPart = kty === 'RSA' ? { kty, n: member.n, e: member.e } : { kty, crv: member.crv, x: member.x, y: member.y };
    const fingerprint = JSON.stringify([member.kid, member.alg, publicPart]);
    const known = previous.get(fingerprint);
    if (known !== undefined) {
      entries.push(known);
      continue;
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: publicPart as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch {
      ignored += 1;
      continue;
    }
    if (kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
      ignored += 1;
      continue;
    }
    entries.push({
      kid: member.kid as string | undefined,
      kty,
      crv: kty === 'EC' ? (member.crv as string) : undefined,
      alg: member.alg as string | undefined,
      key,
      fingerprint,
    });
  }
  return { entries, ignored };
}

export class RemoteKeySet {
  private readonly options: RemoteKeySetOptions;
  private readonly now: () => number;
  private readonly fetchImpl: FetchLike;
  private readonly cooldownMs: number;
  private readonly log: KeySetLog;
  private jwksUrl: string | undefined;
  private entries: readonly Entry[] | undefined;
  private byKid: ReadonlyMap<string, readonly Entry[]> = new Map();
  /** When the set in use was fetched; when the last fetch (good or not) started. */
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private failing = false;
  private inflight: Promise<void> | undefined;
  /** Fetches started (discovery and key set together count as one). */
  fetches = 0;

  constructor(options: RemoteKeySetOptions) {
    if (options.jwksUrl === undefined && options.discoveryIssuer === undefined) {
      throw new TypeError('a key set needs jwksUrl or discoveryIssuer');
    }
    this.options = options;
    this.jwksUrl = options.jwksUrl;
    this.now = options.now ?? Date.now;
    this.fetchImpl = options.fetch ?? ((url, init) => fetch(url, init));
    this.cooldownMs = options.cooldownMs ?? JWKS_COOLDOWN_MS;
    this.log = options.log ?? (() => {});
  }

  /** The cold-start fetch; resolves (never rejects) once it is done. */
  start(): Promise<void> {
    return this.inflight ?? (this.entries === undefined ? this.refresh() : Promise.resolve());
  }

  /**
   * Undefined when a token with this alg and kid can be decided with the keys at hand; else the
   * fetch to wait for first (it never rejects). Fetches only outside the cooldown.
   */
  prepare(alg: string, kid: string | undefined): Promise<void> | undefined {
    if (this.inflight !== undefined) return this.inflight;
    const now = this.now();
    if (now - this.attemptedAt < this.cooldownMs) return undefined;
    if (this.entries === undefined || now - this.fetchedAt >= this.options.cacheSeconds * 1000) return this.refresh();
    if (this.lookup(alg, kid).status === 'missing') return this.refresh();
    return undefined;
  }

  /** The key for a token's alg and kid, from the set at hand (no fetch). */
  lookup(alg: string, kid: string | undefined): KeyLookup {
    const now = this.now();
    const entries = this.entries;
    if (entries === undefined || now - this.fetchedAt > this.options.maxStaleSeconds * 1000) {
      return { status: 'unavailable', retryAfterSeconds: this.retryAfter(now) };
    }
    const named = kid === undefined ? undefined : this.byKid.get(kid);
    if (kid !== undefined && named === undefined) {
      return this.failing ? { status: 'unavailable', retryAfterSeconds: this.retryAfter(now) } : { status: 'missing' };
    }
    const matching = (named ?? entries).filter((entry) => fits(entry, alg));
    if (matching.length === 1) return { status: 'found', key: (matching[0] as Entry).key };
    if (matching.length > 1) return { status: 'ambiguous' };
    if (named !== undefined) return { status: 'incompatible' };
    return this.failing ? { status: 'unavailable', retryAfterSeconds: this.retryAfter(now) } : { status: 'missing' };
  }

  /** The fetch in flight, if any. */
  pending(): Promise<void> | undefined {
    return this.inflight;
  }

  /** True when the set at hand has a key with this kid. */
  has(kid: string): boolean {
    return this.byKid.has(kid);
  }

  /** Fetches now (sharing a fetch in flight); never rejects. Callers keep to the cooldown. */
  refresh(): Promise<void> {
    if (this.inflight !== undefined) return this.inflight;
    this.attemptedAt = this.now();
    this.fetches += 1;
    const running = this.load().finally(() => {
      if (this.inflight === running) this.inflight = undefined;
    });
    this.inflight = running;
    return running;
  }

  private retryAfter(now: number): number {
    return Math.max(1, Math.ceil((this.attemptedAt + this.cooldownMs - now) / 1000));
  }

  private async load(): Promise<void> {
    let url = this.jwksUrl;
    try {
      url ??= await this.discover();
      const previous = new Map((this.entries ?? []).map((entry) => [entry.fingerprint, entry]));
      const { entries, ignored } = readKeySet(await this.getJson(url), previous);
      if (entries.length === 0) throw new Error(`no usable key (${ignored} ignored)`);
      const byKid = new Map<string, Entry[]>();
      for (const entry of entries) {
        if (entry.kid !== undefined) byKid.set(entry.kid, [...(byKid.get(entry.kid) ?? []), entry]);
      }
      this.entries = entries;
      this.byKid = byKid;
      this.fetchedAt = this.now();
      this.failing = false;
      this.log('info', 'JWKS fetched', { jwks_url: url, keys: entries.length, ignored });
    } catch (error) {
      this.failing = true;
      const usableFor = this.entries === undefined ? 0 : Math.max(0, this.fetchedAt + this.options.maxStaleSeconds * 1000 - this.now());
      this.log('error', 'JWKS fetch failed', {
        jwks_url: url ?? null,
        reason: error instanceof Error ? error.message : String(error),
        stale_keys_usable_for_s: Math.floor(usableFor / 1000),
      });
    }
  }

  /** `jwks_uri` from the issuer's metadata: OpenID Connect discovery first, then RFC 8414. */
  private async discover(): Promise<string> {
    const issuer = this.options.discoveryIssuer as string;
    const parsed = new URL(issuer);
    const path = parsed.pathname.replace(/\/+$/, '');
    const candidates = [
      `${parsed.origin}${path}/.well-known/openid-configuration`,
      `${parsed.origin}/.well-known/oauth-authorization-server${path}`,
    ];
    const problems: string[] = [];
    for (const candidate of candidates) {
      let metadata: unknown;
      try {
        metadata = await this.getJson(candidate);
      } catch (error) {
        problems.push(`${candidate}: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      const { issuer: named, jwks_uri: jwksUri } = (metadata ?? {}) as Record<string, unknown>;
      // Both specifications: the metadata's issuer must be the issuer asked about.
      if (named !== issuer) throw new Error(`${candidate} names issuer ${JSON.stringify(named)}, not ${JSON.stringify(issuer)}`);
      if (typeof jwksUri !== 'string' || !isAllowedKeyUrl(jwksUri)) {
        throw new Error(`${candidate} has no usable jwks_uri (https://, or http:// to loopback only)`);
      }
      this.jwksUrl = jwksUri;
      return jwksUri;
    }
    throw new Error(`issuer metadata not found (${problems.join('; ')})`);
  }

  /** GET, 200 only, no redirect, at most maxBytes, within the timeout; the body as JSON. */
  private async getJson(url: string): Promise<unknown> {
    const maxBytes = this.options.maxBytes ?? JWKS_MAX_BYTES;
    const timeoutMs = this.options.timeoutMs ?? JWKS_DEFAULT_TIMEOUT_MS;
    const signal = AbortSignal.timeout(timeoutMs);
    const timedOut = () => new Error(`no answer within ${timeoutMs} ms`);
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        signal,
        redirect: 'manual',
        headers: { accept: 'application/json, application/jwk-set+json' },
      });
    } catch (error) {
      if (signal.aborted) throw timedOut();
      const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
      throw new Error(`request failed (${String(cause?.code ?? cause?.message ?? (error as Error).message)})`);
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`HTTP ${response.status}`);
    }
    const tooLarge = () => new Error(`larger than ${maxBytes} bytes`);
    if (Number(response.headers.get('content-length') ?? 0) > maxBytes) {
      await response.body?.cancel().catch(() => {});
      throw tooLarge();
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = response.body?.getReader();
    try {
      while (reader !== undefined) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => {});
          throw tooLarge();
        }
        chunks.push(value);
      }
    } catch (error) {
      if (signal.aborted) throw timedOut();
      throw error;
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } catch {
      throw new Error('not JSON');
    }
  }
}

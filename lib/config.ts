/**
 * Configuration, read and checked once from the environment into a typed object.
 * A missing or malformed value stops the start with the variable's name in the message.
 */

import { ASYMMETRIC_ALGORITHMS, type AsymmetricAlgorithm, isAllowedKeyUrl, JWKS_DEFAULT_TIMEOUT_MS } from './auth/jwks.ts';
import { DEFAULT_DPOP_ALGORITHMS, DPOP_ALGORITHMS, type DpopAlgorithm, type DpopSettings, normalizedHtu } from './auth/dpop.ts';
import type { RevocationMode } from './auth/revocation.ts';

export const DEFAULT_SECRET = 'your-256-bit-secret-key-here';
const MIN_SECRET_BYTES = 32;
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number];
export type Algorithm = HmacAlgorithm | AsymmetricAlgorithm;
const SUPPORTED_ALGORITHMS: readonly string[] = [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS];

export type { RevocationMode };

export interface Config {
  /** HS* secrets by `kid`; the entry under '' is used for tokens without `kid`. Empty: no HMAC. */
  readonly secrets: ReadonlyMap<string, string>;
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Each family is verified with its own kind of key only: HS* with secrets, the rest with the JWKS. */
  readonly algorithms: readonly Algorithm[];
  /** The issuer's public keys (JWT_JWKS_URL or JWT_ISSUER_DISCOVERY); undefined: HMAC only. */
  readonly jwks: JwksConfig | undefined;
  readonly clockToleranceSeconds: number;
  /** JWT_REQUIRED_TYP: the `typ` every token's header must carry (e.g. `at+jwt`); undefined: not checked. */
  readonly requiredTyp: string | undefined;
  readonly useRedis: boolean;
  readonly redisTimeoutMs: number;
  readonly redisKeyPrefix: string;
  readonly upstashUrl: string | undefined;
  readonly upstashToken: string | undefined;
  readonly revocationMode: RevocationMode;
  readonly commandTtlSeconds: number;
  readonly resultRetentionSeconds: number;
  /** True in Lambda or with NODE_ENV=production: the sample secret is refused. */
  readonly production: boolean;
  /** Per-agent rate limit: requests per window and sub; undefined when off (the default). */
  readonly rateLimit: RateLimitConfig | undefined;
  /** REQUIRE_BOUND_TOKENS: only certificate-bound tokens (RFC 8705 `cnf`) are accepted. */
  readonly requireBoundTokens: boolean;
  /** DPoP (RFC 9449): DPOP_ALGORITHMS, DPOP_REQUIRED, DPOP_IAT_WINDOW_SECONDS, PUBLIC_BASE_URL. */
  readonly dpop: DpopSettings;
}

export interface JwksConfig {
  /** JWT_JWKS_URL; undefined with discovery, which finds it at cold start. */
  readonly url: string | undefined;
  /** JWT_ISSUER_DISCOVERY: `jwks_uri` from the issuer's metadata. */
  readonly discovery: boolean;
  readonly cacheSeconds: number;
  readonly maxStaleSeconds: number;
  readonly timeoutMs: number;
}

export interface RateLimitConfig {
  readonly requests: number;
  readonly windowSeconds: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.variable = variable;
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

export function text(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}

export function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
}

export function list(env: Env, name: string, fallback: string): string[] {
  const items = text(env, name, fallback)
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  if (items.length === 0) throw new ConfigError(name, 'expected at least one value');
  return items;
}

function secrets(env: Env, production: boolean, jwks: boolean): Map<string, string> {
  const map = new Map<string, string>();
  const single = env.JWT_SECRET_KEY;
  const many = env.JWT_SECRET_KEYS;
  // With a JWKS, no sample secret: HMAC is on only when a secret is set (a migration).
  if (jwks && !single && !many) return map;
  if (many !== undefined && many !== '') {
    // kid=secret pairs separated by commas; the first one also serves tokens without kid.
    for (const pair of many.split(',')) {
      const at = pair.indexOf('=');
      const kid = at > 0 ? pair.slice(0, at).trim() : '';
      const secret = at > 0 ? pair.slice(at + 1) : '';
      if (kid === '' || secret === '') {
        throw new ConfigError('JWT_SECRET_KEYS', 'expected kid=secret pairs separated by commas');
      }
      if (map.has(kid)) throw new ConfigError('JWT_SECRET_KEYS', `kid ${JSON.stringify(kid)} appears twice`);
      map.set(kid, secret);
    }
    const first = map.values().next().value as string;
    map.set('', single !== undefined && single !== '' ? single : first);
  } else {
    map.set('', text(env, 'JWT_SECRET_KEY', DEFAULT_SECRET));
  }
  if (production) {
    const variable = many ? 'JWT_SECRET_KEYS' : 'JWT_SECRET_KEY';
    for (const secret of map.values()) {
      if (secret === DEFAULT_SECRET) {
        throw new ConfigError(variable, 'the sample secret is refused outside local development; set a random secret of at least 32 bytes');
      }
      if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
        throw new ConfigError(variable, `a secret must be at least ${MIN_SECRET_BYTES} bytes outside local development`);
      }
    }
  }
  return map;
}

function requiredTyp(env: Env): string | undefined {
  const value = env.JWT_REQUIRED_TYP?.trim();
  if (value === undefined || value === '') return undefined;
  if (!/^[A-Za-z0-9!#$&^_.+/-]{1,64}$/.test(value)) {
    throw new ConfigError('JWT_REQUIRED_TYP', `expected a media type such as at+jwt, got ${JSON.stringify(value)}`);
  }
  return value;
}

function rateLimit(env: Env): RateLimitConfig | undefined {
  const requests = integer(env, 'RATE_LIMIT_REQUESTS', 0, 0, 1_000_000);
  const windowSeconds = integer(env, 'RATE_LIMIT_WINDOW_SECONDS', 60, 1, 86400);
  return requests === 0 ? undefined : { requests, windowSeconds };
}

function jwks(env: Env, issuer: string): JwksConfig | undefined {
  const url = env.JWT_JWKS_URL || undefined;
  const discovery = boolean(env, 'JWT_ISSUER_DISCOVERY', false);
  if (url !== undefined && discovery) {
    throw new ConfigError('JWT_ISSUER_DISCOVERY', 'set JWT_JWKS_URL or JWT_ISSUER_DISCOVERY=true, not both');
  }
  if (url !== undefined && !isAllowedKeyUrl(url)) {
    throw new ConfigError('JWT_JWKS_URL', `expected an https:// URL (http:// only to a loopback address), got ${JSON.stringify(url)}`);
  }
  if (discovery && !isAllowedKeyUrl(issuer)) {
    throw new ConfigError('JWT_ISSUER', `discovery needs an https:// issuer (http:// only on loopback), got ${JSON.stringify(issuer)}`);
  }
  if (url === undefined && !discovery) return undefined;
  const cacheSeconds = integer(env, 'JWT_JWKS_CACHE_SECONDS', 600, 30, 86400);
  const maxStaleSeconds = integer(env, 'JWT_JWKS_MAX_STALE_SECONDS', 86400, 0, 604800);
  if (maxStaleSeconds < cacheSeconds) {
    throw new ConfigError('JWT_JWKS_MAX_STALE_SECONDS', `must be at least JWT_JWKS_CACHE_SECONDS (${cacheSeconds})`);
  }
  return {
    url,
    discovery,
    cacheSeconds,
    maxStaleSeconds,
    timeoutMs: integer(env, 'JWT_JWKS_TIMEOUT_MS', JWKS_DEFAULT_TIMEOUT_MS, 100, 10000),
  };
}

function algorithms(env: Env, hmac: boolean, publicKeys: boolean): Algorithm[] {
  const fallback = [...(hmac ? ['HS256'] : []), ...(publicKeys ? ['RS256'] : [])].join(',');
  const chosen = list(env, 'JWT_ALGORITHMS', fallback).map((alg) => {
    if (alg.toLowerCase() === 'none') throw new ConfigError('JWT_ALGORITHMS', '"none" can never be allowed');
    if (alg === 'EdDSA') {
      throw new ConfigError('JWT_ALGORITHMS', `EdDSA cannot be verified by jsonwebtoken 9; allowed: ${SUPPORTED_ALGORITHMS.join(', ')}`);
    }
    if (!SUPPORTED_ALGORITHMS.includes(alg)) {
      throw new ConfigError('JWT_ALGORITHMS', `unsupported algorithm ${JSON.stringify(alg)}; allowed: ${SUPPORTED_ALGORITHMS.join(', ')}`);
    }
    if (alg.startsWith('HS') && !hmac) {
      throw new ConfigError('JWT_ALGORITHMS', `${alg} needs a secret: set JWT_SECRET_KEY or JWT_SECRET_KEYS, or leave ${alg} out`);
    }
    if (!alg.startsWith('HS') && !publicKeys) {
      throw new ConfigError('JWT_ALGORITHMS', `${alg} needs the issuer's keys: set JWT_JWKS_URL (or JWT_ISSUER_DISCOVERY=true)`);
    }
    return alg as Algorithm;
  });
  return [...new Set(chosen)];
}

function dpopAlgorithms(env: Env): DpopAlgorithm[] {
  const chosen = list(env, 'DPOP_ALGORITHMS', DEFAULT_DPOP_ALGORITHMS.join(',')).map((alg) => {
    if (!(DPOP_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new ConfigError('DPOP_ALGORITHMS', `unsupported algorithm ${JSON.stringify(alg)}; allowed: ${DPOP_ALGORITHMS.join(', ')}`);
    }
    return alg as DpopAlgorithm;
  });
  return [...new Set(chosen)];
}

/** PUBLIC_BASE_URL: an absolute http(s) URL, no query or fragment, kept without its trailing slash. */
function publicBaseUrl(env: Env): string | undefined {
  const raw = env.PUBLIC_BASE_URL?.trim();
  if (raw === undefined || raw === '') return undefined;
  const normal = /[?#]/.test(raw) ? undefined : normalizedHtu(raw);
  if (normal === undefined) {
    throw new ConfigError(
      'PUBLIC_BASE_URL',
      `expected the http(s) URL the agents call, such as https://api.example.com or a stage URL, got ${JSON.stringify(raw)}`,
    );
  }
  return normal.replace(/\/+$/, '');
}

function dpop(env: Env): DpopSettings {
  return {
    algorithms: dpopAlgorithms(env),
    required: boolean(env, 'DPOP_REQUIRED', false),
    iatWindowSeconds: integer(env, 'DPOP_IAT_WINDOW_SECONDS', 60, 1, 3600),
    publicBaseUrl: publicBaseUrl(env),
  };
}

/** The levels Powertools Logger knows; it would take any other silently, as INFO. */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;

function checkLogLevel(env: Env): void {
  for (const name of ['POWERTOOLS_LOG_LEVEL', 'LOG_LEVEL']) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (!(LOG_LEVELS as readonly string[]).includes(value.toUpperCase())) {
      throw new ConfigError(name, `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
    }
  }
}

/** Where the store is: what GET /ready needs (no JWT key), and part of every Config. */
export type StoreSettings = Pick<Config, 'useRedis' | 'redisTimeoutMs' | 'redisKeyPrefix' | 'upstashUrl' | 'upstashToken'>;

export function loadStoreSettings(env: Env = process.env): StoreSettings {
  const upstashUrl = env.UPSTASH_REDIS_REST_URL || undefined;
  const upstashToken = env.UPSTASH_REDIS_REST_TOKEN || undefined;
  if (upstashUrl !== undefined && !/^https?:\/\//.test(upstashUrl)) {
    throw new ConfigError('UPSTASH_REDIS_REST_URL', `expected an http(s) URL, got ${JSON.stringify(upstashUrl)}`);
  }
  if ((upstashUrl === undefined) !== (upstashToken === undefined)) {
    throw new ConfigError(
      upstashUrl ? 'UPSTASH_REDIS_REST_TOKEN' : 'UPSTASH_REDIS_REST_URL',
      'set both UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, or neither',
    );
  }
  return {
    useRedis: boolean(env, 'USE_REDIS', false),
    redisTimeoutMs: integer(env, 'REDIS_TIMEOUT_MS', 1000, 1, 60000),
    redisKeyPrefix: text(env, 'REDIS_KEY_PREFIX', 'biz:'),
    upstashUrl,
    upstashToken,
  };
}

export function loadConfig(env: Env = process.env): Config {
  const production = Boolean(env.AWS_LAMBDA_FUNCTION_NAME) || env.NODE_ENV === 'production';

  const issuer = text(env, 'JWT_ISSUER', 'https://localhost:8443');
  const keySet = jwks(env, issuer);
  const secretMap = secrets(env, production, keySet !== undefined);

  const mode = text(env, 'REVOCATION_MODE', 'denylist');
  if (mode !== 'denylist' && mode !== 'allowlist') {
    throw new ConfigError('REVOCATION_MODE', `expected denylist or allowlist, got ${JSON.stringify(mode)}`);
  }

  const store = loadStoreSettings(env);
  checkLogLevel(env);

  return {
    secrets: secretMap,
    issuer,
    audiences: list(env, 'JWT_AUDIENCE', 'biz-service'),
    algorithms: algorithms(env, secretMap.size > 0, keySet !== undefined),
    jwks: keySet,
    clockToleranceSeconds: integer(env, 'JWT_CLOCK_TOLERANCE_SECONDS', 60, 0, 3600),
    requiredTyp: requiredTyp(env),
    ...store,
    revocationMode: mode,
    commandTtlSeconds: integer(env, 'COMMAND_TTL_SECONDS', 86400, 1, 31536000),
    resultRetentionSeconds: integer(env, 'RESULT_RETENTION_SECONDS', 604800, 1, 31536000),
    production,
    rateLimit: rateLimit(env),
    requireBoundTokens: boolean(env, 'REQUIRE_BOUND_TOKENS', false),
    dpop: dpop(env),
  };
}

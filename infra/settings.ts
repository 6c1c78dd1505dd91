/**
 * The stack's settings, read and checked once from CDK context (`cdk.json`, overridable with
 * `-c key=value`). A malformed value stops the synth with the key's name in the message.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { ConfigError, loadConfig } from '../lib/config.ts';

export interface Settings {
  /** Token issuer the functions require in `iss`. */
  readonly issuer: string;
  /** Accepted `aud` values, comma-separated in context. */
  readonly audiences: readonly string[];
  /** Upstash REST URL; empty means no Redis (in-memory store per container: demo only). */
  readonly upstashUrl: string | undefined;
  /** Name or ARN of an existing JWT secret; empty: the stack creates one, unless jwksUrl is set. */
  readonly jwtSecret: string | undefined;
  /** The issuer's JWKS (https://) for RS/PS/ES tokens; with no jwtSecret, HMAC is off and no secret is made. */
  readonly jwksUrl: string | undefined;
  /** JWT_ALGORITHMS, comma-separated; empty: the functions' default (HS256, RS256 or both). */
  readonly jwtAlgorithms: string | undefined;
  /** Name or ARN of an existing Upstash token secret; empty: the stack creates one to fill in. */
  readonly upstashTokenSecret: string | undefined;
  readonly revocationMode: 'denylist' | 'allowlist';
  readonly commandTtlSeconds: number;
  readonly resultRetentionSeconds: number;
  readonly redisTimeoutMs: number;
  readonly redisKeyPrefix: string;
  /** Deploy /api/token-info and /api/whoami (debug routes; off unless asked for). */
  readonly debugRoutes: boolean;
  /** Per-agent rate limit in the functions (RATE_LIMIT_*); 0 requests = off. Needs Upstash. */
  readonly rateLimitRequests: number;
  readonly rateLimitWindowSeconds: number;
  /** Custom domain for the API (with an ACM certificate in the stack's region). */
  readonly domainName: string | undefined;
  readonly certificateArn: string | undefined;
  /**
   * `s3://bucket/key` of a PEM bundle of the CAs that sign agent certificates: turns on mutual
   * TLS on the custom domain and turns off the default execute-api endpoint (which has no mTLS).
   */
  readonly truststoreUri: { bucket: string; key: string } | undefined;
  /** REQUIRE_BOUND_TOKENS: only certificate-bound tokens (RFC 8705); needs the mTLS domain. */
  readonly requireBoundTokens: boolean;
  /** DPoP (RFC 9449, docs/tokens.md#dpop): DPOP_ALGORITHMS (undefined: the functions' default), DPOP_REQUIRED, DPOP_IAT_WINDOW_SECONDS. */
  readonly dpopAlgorithms: string | undefined;
  readonly dpopRequired: boolean;
  readonly dpopIatWindowSeconds: number;
  /**
   * PUBLIC_BASE_URL, the URL agents call, that a proof's htu is compared with; undefined: https://
   * domainName when there is one, else the domain each request came in on (the stage URL).
   */
  readonly publicBaseUrl: string | undefined;
  /** Stage throttling: steady requests per second and burst. */
  readonly throttleRateLimit: number;
  readonly throttleBurstLimit: number;
  readonly logRetention: RetentionDays;
  /** SNS topic that the alarms notify; empty: alarms without actions (unless alarmEmail). */
  readonly alarmTopicArn: string | undefined;
  /** An address subscribed to the alarms: to alarmTopicArn, or to a topic the stack creates. */
  readonly alarmEmail: string | undefined;
  /**
   * Any text; changing it changes the store functions' configuration, so Lambda starts new
   * instances that read the secrets again (after a rotation).
   */
  readonly secretsRevision: string;
  /**
   * For `sam local` only, never for a deployment: the store functions also declare
   * JWT_SECRET_KEY and UPSTASH_REDIS_REST_TOKEN, empty, so that SAM's --env-vars file (which
   * only overrides variables the template declares) can set them.
   */
  readonly samLocal: boolean;
  /**
   * Reserved concurrency by function name (route name, or the fallback's): a cap, and a share
   * of the account that no other function can take. A function not in the map reserves none.
   */
  readonly reservedConcurrency: ReadonlyMap<string, number>;
  /**
   * CloudFront with a WAF web ACL in front of the API. `webAclArn` set: that existing
   * CLOUDFRONT-scope ACL; otherwise the stack creates one (it must then be in us-east-1) with a
   * per-IP rate rule of `rateLimitPer5Min` requests.
   */
  readonly edge: { readonly webAclArn: string | undefined; readonly rateLimitPer5Min: number } | undefined;
  /**
   * The KMS key commands are signed with (ECC_NIST_P256, SIGN_VERIFY); empty: the stack's own.
   * A second key is published beside it during a rotation (docs/signing.md), never signs.
   */
  readonly commandSigningKeyArn: string | undefined;
  readonly commandSigningSecondKeyArn: string | undefined;
}

/** What readSettings cannot know from context alone. */
export interface SettingsLimits {
  readonly maxRedisTimeoutMs: number;
  /** The functions the stack can build (names in reservedConcurrencyByFunction). */
  readonly functionNames: readonly string[];
  /** The stack's region, if it has one (`-c region` or AWS_REGION); undefined: environment-agnostic. */
  readonly region: string | undefined;
}

/** CloudFront takes its web ACLs (scope CLOUDFRONT) and viewer certificates from us-east-1 only. */
export const EDGE_REGION = 'us-east-1';

/** Every context key the stack reads, with its default (the values cdk.json ships). */
export const CONTEXT_DEFAULTS = {
  stackName: 'BizService',
  issuer: 'https://localhost:8443',
  audiences: 'biz-service',
  upstashUrl: '',
  jwtSecret: '',
  jwksUrl: '',
  jwtAlgorithms: '',
  upstashTokenSecret: '',
  revocationMode: 'denylist',
  commandTtlSeconds: 86400,
  resultRetentionSeconds: 604800,
  redisTimeoutMs: 1000,
  redisKeyPrefix: 'biz:',
  debugRoutes: false,
  rateLimitRequests: 0,
  rateLimitWindowSeconds: 60,
  domainName: '',
  certificateArn: '',
  truststoreUri: '',
  requireBoundTokens: false,
  dpopAlgorithms: '',
  dpopRequired: false,
  dpopIatWindowSeconds: 60,
  publicBaseUrl: '',
  throttleRateLimit: 50,
  throttleBurstLimit: 100,
  logRetentionDays: 30,
  alarmTopicArn: '',
  alarmEmail: '',
  secretsRevision: '1',
  samLocal: false,
  reservedConcurrency: 0,
  reservedConcurrencyByFunction: '',
  edgeWaf: false,
  wafRateLimitPer5Min: 2000,
  webAclArn: '',
  commandSigningKeyArn: '',
  commandSigningSecondKeyArn: '',
} as const;

export type ContextKey = keyof typeof CONTEXT_DEFAULTS;

export class SettingsError extends Error {
  override name = 'SettingsError';
  readonly key: string;
  constructor(key: string, problem: string) {
    super(`context ${key}: ${problem}`);
    this.key = key;
  }
}

type Lookup = (key: ContextKey) => unknown;

function text(lookup: Lookup, key: ContextKey): string {
  const value = lookup(key) ?? CONTEXT_DEFAULTS[key];
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') throw new SettingsError(key, `expected text, got ${JSON.stringify(value)}`);
  return value.trim();
}

function optional(lookup: Lookup, key: ContextKey): string | undefined {
  const value = text(lookup, key);
  return value === '' ? undefined : value;
}

function email(lookup: Lookup, key: ContextKey): string | undefined {
  const value = optional(lookup, key);
  if (value !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
    throw new SettingsError(key, `expected an e-mail address, got ${JSON.stringify(value)}`);
  }
  return value;
}

function integer(lookup: Lookup, key: ContextKey, min: number, max: number): number {
  const raw = lookup(key) ?? CONTEXT_DEFAULTS[key];
  const value = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SettingsError(key, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function boolean(lookup: Lookup, key: ContextKey): boolean {
  const raw = lookup(key) ?? CONTEXT_DEFAULTS[key];
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new SettingsError(key, `expected true or false, got ${JSON.stringify(raw)}`);
}

/** jwksUrl and jwtAlgorithms, checked by the functions' own configuration rules (lib/config.ts). */
function tokenKeys(lookup: Lookup, jwtSecret: string | undefined): Pick<Settings, 'jwksUrl' | 'jwtAlgorithms'> {
  const jwksUrl = optional(lookup, 'jwksUrl');
  if (jwksUrl !== undefined && !/^https:\/\/[^\s/]+/.test(jwksUrl)) {
    throw new SettingsError('jwksUrl', `expected an https:// URL, got ${JSON.stringify(jwksUrl)}`);
  }
  const jwtAlgorithms = optional(lookup, 'jwtAlgorithms');
  const hmac = jwtSecret !== undefined || jwksUrl === undefined;
  try {
    loadConfig({ JWT_JWKS_URL: jwksUrl, JWT_ALGORITHMS: jwtAlgorithms, JWT_SECRET_KEY: hmac ? 'x'.repeat(32) : '' });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new SettingsError(error.variable === 'JWT_JWKS_URL' ? 'jwksUrl' : 'jwtAlgorithms', error.message);
  }
  return { jwksUrl, jwtAlgorithms };
}

/** The DPoP settings, checked by the functions' own configuration rules (lib/config.ts). */
function dpopSettings(lookup: Lookup): Pick<Settings, 'dpopAlgorithms' | 'dpopRequired' | 'dpopIatWindowSeconds' | 'publicBaseUrl'> {
  const dpopAlgorithms = optional(lookup, 'dpopAlgorithms');
  const publicBaseUrl = optional(lookup, 'publicBaseUrl');
  const dpopIatWindowSeconds = integer(lookup, 'dpopIatWindowSeconds', 1, 3600);
  try {
    const checked = loadConfig({ DPOP_ALGORITHMS: dpopAlgorithms, PUBLIC_BASE_URL: publicBaseUrl }).dpop;
    if (publicBaseUrl !== undefined && !checked.publicBaseUrl?.startsWith('https://')) {
      throw new ConfigError('PUBLIC_BASE_URL', `agents call the API over https://, got ${JSON.stringify(publicBaseUrl)}`);
    }
    return { dpopAlgorithms, dpopRequired: boolean(lookup, 'dpopRequired'), dpopIatWindowSeconds, publicBaseUrl: checked.publicBaseUrl };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new SettingsError(error.variable === 'PUBLIC_BASE_URL' ? 'publicBaseUrl' : 'dpopAlgorithms', error.message);
  }
}

const RETENTION_DAYS = new Set<number>(Object.values(RetentionDays).filter((value): value is number => typeof value === 'number'));

/** Lambda's per-function ceiling is the account's limit; this bound only catches typing errors. */
const MAX_RESERVED_CONCURRENCY = 100_000;

function reservedConcurrency(lookup: Lookup, functionNames: readonly string[]): Map<string, number> {
  const fallback = integer(lookup, 'reservedConcurrency', 0, MAX_RESERVED_CONCURRENCY);
  const byName = new Map<string, number>(functionNames.map((name) => [name, fallback]));
  for (const item of text(lookup, 'reservedConcurrencyByFunction').split(',')) {
    if (item.trim() === '') continue;
    const found = /^\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*(\d+)\s*$/.exec(item);
    if (!found?.[1] || found[2] === undefined) {
      throw new SettingsError('reservedConcurrencyByFunction', `expected Name=number,..., got ${JSON.stringify(item.trim())}`);
    }
    if (!byName.has(found[1])) {
      throw new SettingsError('reservedConcurrencyByFunction', `no function ${found[1]}; the functions are ${functionNames.join(', ')}`);
    }
    const value = Number(found[2]);
    if (value > MAX_RESERVED_CONCURRENCY) {
      throw new SettingsError('reservedConcurrencyByFunction', `${found[1]}: expected at most ${MAX_RESERVED_CONCURRENCY}, got ${value}`);
    }
    byName.set(found[1], value);
  }
  // 0 means "no reservation": Lambda's own 0 (never run the function) is not offered.
  for (const [name, value] of byName) if (value === 0) byName.delete(name);
  return byName;
}

export function readSettings(node: Pick<Node, 'tryGetContext'>, limits: SettingsLimits): Settings {
  const lookup: Lookup = (key) => node.tryGetContext(key);
  const { maxRedisTimeoutMs } = limits;

  const issuer = text(lookup, 'issuer');
  if (issuer === '') throw new SettingsError('issuer', 'must not be empty');
  const audiences = text(lookup, 'audiences')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (audiences.length === 0) throw new SettingsError('audiences', 'expected at least one audience');

  const upstashUrl = optional(lookup, 'upstashUrl');
  if (upstashUrl !== undefined && !/^https:\/\/[^\s/]+/.test(upstashUrl)) {
    throw new SettingsError('upstashUrl', `expected an https:// URL, got ${JSON.stringify(upstashUrl)}`);
  }

  const revocationMode = text(lookup, 'revocationMode');
  if (revocationMode !== 'denylist' && revocationMode !== 'allowlist') {
    throw new SettingsError('revocationMode', `expected denylist or allowlist, got ${JSON.stringify(revocationMode)}`);
  }

  const logRetentionDays = integer(lookup, 'logRetentionDays', 1, 3653);
  if (!RETENTION_DAYS.has(logRetentionDays)) {
    throw new SettingsError('logRetentionDays', `CloudWatch accepts ${[...RETENTION_DAYS].sort((a, b) => a - b).join(', ')}`);
  }

  const domainName = optional(lookup, 'domainName');
  const certificateArn = optional(lookup, 'certificateArn');
  if (domainName !== undefined && !/^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$/i.test(domainName)) {
    throw new SettingsError('domainName', `expected a host name such as api.example.com, got ${JSON.stringify(domainName)}`);
  }
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    throw new SettingsError(
      domainName === undefined ? 'domainName' : 'certificateArn',
      'set domainName and certificateArn together, or neither',
    );
  }
  if (certificateArn !== undefined && !/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[\w-]+$/.test(certificateArn)) {
    throw new SettingsError('certificateArn', `expected an ACM certificate ARN, got ${JSON.stringify(certificateArn)}`);
  }
  const truststore = optional(lookup, 'truststoreUri');
  let truststoreUri: Settings['truststoreUri'];
  if (truststore !== undefined) {
    const found = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(truststore);
    if (!found?.[1] || !found[2]) throw new SettingsError('truststoreUri', `expected s3://bucket/key, got ${JSON.stringify(truststore)}`);
    if (domainName === undefined)
      throw new SettingsError('truststoreUri', 'mutual TLS needs the custom domain: set domainName and certificateArn');
    truststoreUri = { bucket: found[1], key: found[2] };
  }
  const requireBoundTokens = boolean(lookup, 'requireBoundTokens');
  if (requireBoundTokens && truststoreUri === undefined) {
    throw new SettingsError(
      'requireBoundTokens',
      'certificate-bound tokens need mutual TLS: set domainName, certificateArn and truststoreUri',
    );
  }

  const edgeWaf = boolean(lookup, 'edgeWaf');
  const webAclArn = optional(lookup, 'webAclArn');
  // WAF's rate-based rules take 10 to 2e9 requests per evaluation window.
  const rateLimitPer5Min = integer(lookup, 'wafRateLimitPer5Min', 10, 2_000_000_000);
  if (webAclArn !== undefined) {
    if (!edgeWaf) throw new SettingsError('webAclArn', 'a web ACL needs the edge: set edgeWaf=true as well');
    if (!/^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global\/webacl\/[\w-]+\/[\w-]+$/.test(webAclArn)) {
      throw new SettingsError(
        'webAclArn',
        `expected the ARN of a CLOUDFRONT-scope web ACL (arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>), got ${JSON.stringify(webAclArn)}`,
      );
    }
  }
  if (edgeWaf) {
    if (truststoreUri !== undefined) {
      throw new SettingsError(
        'edgeWaf',
        'CloudFront would end the TLS connection, so API Gateway could not check client certificates: use the edge or truststoreUri, not both',
      );
    }
    if (webAclArn === undefined && limits.region !== EDGE_REGION) {
      throw new SettingsError(
        'edgeWaf',
        `the stack creates a CLOUDFRONT-scope web ACL, which AWS only accepts in ${EDGE_REGION}: deploy with -c region=${EDGE_REGION}, or create the web ACL there and pass -c webAclArn=...`,
      );
    }
    if (certificateArn !== undefined && certificateArn.split(':')[3] !== EDGE_REGION) {
      throw new SettingsError(
        'certificateArn',
        `with edgeWaf, domainName is served by CloudFront, which needs its certificate in ${EDGE_REGION}`,
      );
    }
  }

  const throttleRateLimit = integer(lookup, 'throttleRateLimit', 1, 10000);
  const throttleBurstLimit = integer(lookup, 'throttleBurstLimit', 1, 5000);

  const kmsKey = (key: ContextKey) => {
    const arn = optional(lookup, key);
    if (arn !== undefined && !/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(arn)) {
      throw new SettingsError(key, `expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), got ${JSON.stringify(arn)}`);
    }
    return arn;
  };
  const commandSigningKeyArn = kmsKey('commandSigningKeyArn');
  const commandSigningSecondKeyArn = kmsKey('commandSigningSecondKeyArn');
  if (commandSigningSecondKeyArn !== undefined && commandSigningSecondKeyArn === commandSigningKeyArn) {
    throw new SettingsError('commandSigningSecondKeyArn', 'is the signing key itself: name the other key of the rotation');
  }

  const jwtSecret = optional(lookup, 'jwtSecret');
  return {
    issuer,
    audiences,
    upstashUrl,
    jwtSecret,
    ...tokenKeys(lookup, jwtSecret),
    upstashTokenSecret: optional(lookup, 'upstashTokenSecret'),
    revocationMode,
    commandTtlSeconds: integer(lookup, 'commandTtlSeconds', 1, 31536000),
    resultRetentionSeconds: integer(lookup, 'resultRetentionSeconds', 1, 31536000),
    redisTimeoutMs: integer(lookup, 'redisTimeoutMs', 1, maxRedisTimeoutMs),
    redisKeyPrefix: text(lookup, 'redisKeyPrefix'),
    debugRoutes: boolean(lookup, 'debugRoutes'),
    rateLimitRequests: integer(lookup, 'rateLimitRequests', 0, 1_000_000),
    rateLimitWindowSeconds: integer(lookup, 'rateLimitWindowSeconds', 1, 86400),
    domainName,
    certificateArn,
    truststoreUri,
    requireBoundTokens,
    ...dpopSettings(lookup),
    throttleRateLimit,
    throttleBurstLimit,
    logRetention: logRetentionDays as RetentionDays,
    alarmTopicArn: optional(lookup, 'alarmTopicArn'),
    alarmEmail: email(lookup, 'alarmEmail'),
    secretsRevision: text(lookup, 'secretsRevision') || CONTEXT_DEFAULTS.secretsRevision,
    samLocal: boolean(lookup, 'samLocal'),
    reservedConcurrency: reservedConcurrency(lookup, limits.functionNames),
    edge: edgeWaf ? { webAclArn, rateLimitPer5Min } : undefined,
    commandSigningKeyArn,
    commandSigningSecondKeyArn,
  };
}

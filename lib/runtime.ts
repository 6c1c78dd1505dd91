/**
 * Everything a handler needs, made once per process (once per cold start in Lambda):
 * configuration, clock, token verifier and stores. Tests and the local server may put
 * in their own with setRuntime().
 *
 * The stores are reached through `stores` alone (lib/store/types.ts): `stores.admitted(admission)`
 * for a request, which the auth middleware makes and hands to the handler (lib/http/auth.ts);
 * `stores.unchecked` for the operator CLI, benchmarks and tests setting up state.
 */
import { type Clock, systemClock } from './clock.ts';
import { type Config, loadConfig } from './config.ts';
import { RemoteKeySet } from './auth/jwks.ts';
import { TokenVerifier } from './auth/verifier.ts';
import { logger } from './logger.ts';
import { loadSecrets } from './secrets.ts';
import { storeViews } from './store/admission.ts';
import { createMemoryStores, memoryBackend } from './store/memory.ts';
import type { StoreBackend, Stores } from './store/types.ts';
import { createRedisClient, upstashBackend } from './store/upstash.ts';

export interface Runtime {
  readonly config: Config;
  readonly clock: Clock;
  readonly verifier: TokenVerifier;
  /**
   * The commands, groups, jobs and revocations of one backend (one shared state: a poll makes a
   * job's executions, a join keeps its targets), admitted per request or unchecked.
   */
  readonly stores: Stores;
}

export interface RuntimeParts {
  clock?: Clock;
  /** The stores' backend; by default createStoreBackend's. */
  stores?: StoreBackend;
  verifierCacheSize?: number;
  /** The issuer's key set; by default made from config.jwks (and its cold-start fetch begun). */
  keySet?: RemoteKeySet;
}

/** The key set config.jwks describes; its first fetch starts now (during INIT in Lambda). */
export function createKeySet(config: Config, clock: Clock = systemClock): RemoteKeySet | undefined {
  const { jwks } = config;
  if (jwks === undefined) return undefined;
  const keySet = new RemoteKeySet({
    jwksUrl: jwks.url,
    discoveryIssuer: jwks.discovery ? config.issuer : undefined,
    cacheSeconds: jwks.cacheSeconds,
    maxStaleSeconds: jwks.maxStaleSeconds,
    timeoutMs: jwks.timeoutMs,
    now: () => clock.now(),
    log: (level, message, fields) => logger[level](message, fields),
  });
  void keySet.start();
  return keySet;
}

/**
 * The backend the configuration asks for: with USE_REDIS the Upstash stores on one shared client,
 * otherwise the in-memory ones over one state. Both admit requests with the configured revocation
 * mode and rate limit (RATE_LIMIT_REQUESTS), counted in Redis with USE_REDIS (shared by every
 * instance), in this process otherwise; revocation entries lapse by `clock` in memory.
 */
export function createStoreBackend(config: Config, clock: Clock = systemClock): StoreBackend {
  if (config.useRedis) return upstashBackend(createRedisClient(config), config);
  return memoryBackend(createMemoryStores(config, () => Math.floor(clock.now() / 1000)));
}

/** Each part the caller does not pass in gets its own default from the configuration. */
export function createRuntime(config: Config, parts: RuntimeParts = {}): Runtime {
  const clock = parts.clock ?? systemClock;
  const stores = storeViews(parts.stores ?? createStoreBackend(config, clock));
  const verifier = new TokenVerifier({
    ...config,
    keySet: parts.keySet ?? createKeySet(config, clock),
    now: () => clock.now(),
    requireJti: config.useRedis,
    ...(parts.verifierCacheSize === undefined ? {} : { cacheSize: parts.verifierCacheSize }),
  });
  return { config, clock, verifier, stores };
}

let current: Promise<Runtime> | undefined;

/** The process's runtime, made from the environment (and secrets) on first use. */
export function runtime(): Promise<Runtime> {
  if (current === undefined) {
    const loading: Promise<Runtime> = loadSecrets(process.env)
      .then((env) => createRuntime(loadConfig(env)))
      .catch((error: unknown) => {
        // A failed start (a Secrets Manager blip) is tried again on the next request, unless
        // a runtime was put in meanwhile.
        if (current === loading) current = undefined;
        throw error;
      });
    current = loading;
  }
  return current;
}

/** Puts in a runtime of the caller's making (tests, the local server). */
export function setRuntime(next: Runtime): Runtime {
  current = Promise.resolve(next);
  return next;
}

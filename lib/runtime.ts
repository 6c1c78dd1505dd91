/**
 * Everything a handler needs, made once per process (once per cold start in Lambda):
 * configuration, clock, token verifier and stores. Tests and the local server may put
 * in their own with setRuntime().
 */
import { type Clock, systemClock } from './clock.ts';
import { type Config, loadConfig } from './config.ts';
import type { Redis } from '@upstash/redis';
import { RemoteKeySet } from './auth/jwks.ts';
import { TokenVerifier } from './auth/verifier.ts';
import { logger } from './logger.ts';
import { loadSecrets } from './secrets.ts';
import { MemoryCommandStore, MemoryGroupStore, MemoryJobBook, MemoryJobStore, MemoryRevocationStore } from './store/memory.ts';
import type { CommandStore, GroupStore, JobStore, RevocationStore } from './store/types.ts';
import { createRedisClient, UpstashCommandStore, UpstashGroupStore, UpstashJobStore, UpstashRevocationStore } from './store/upstash.ts';

export interface Runtime {
  readonly config: Config;
  readonly clock: Clock;
  readonly verifier: TokenVerifier;
  readonly commands: CommandStore;
  /** Revocation state; with `commands`, it admits requests (revocation decision and rate limit, lib/store/types.ts). */
  readonly revocations: RevocationStore;
  readonly groups: GroupStore;
  /** Fleet jobs; their executions are made by `commands` and their targets kept by `groups` (one shared state). */
  readonly jobs: JobStore;
}

export interface RuntimeParts {
  clock?: Clock;
  commands?: CommandStore;
  revocations?: RevocationStore;
  groups?: GroupStore;
  jobs?: JobStore;
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
 * Each part the caller does not pass in gets its own default from the configuration: the
 * in-memory stores, or with USE_REDIS the Upstash ones on one shared client. Both admit requests
 * with the configured revocation mode and rate limit (RATE_LIMIT_REQUESTS), counted in Redis
 * with USE_REDIS (shared by every instance), in this process otherwise. A default in-memory
 * command or group store admits with the runtime's in-memory revocation store.
 */
export function createRuntime(config: Config, parts: RuntimeParts = {}): Runtime {
  const clock = parts.clock ?? systemClock;
  let client: Redis | undefined;
  const redis = () => {
    client ??= createRedisClient(config);
    return client;
  };
  const revocations =
    parts.revocations ??
    (config.useRedis
      ? new UpstashRevocationStore(redis(), config)
      : new MemoryRevocationStore(() => Math.floor(clock.now() / 1000), config));
  const gate = revocations instanceof MemoryRevocationStore ? revocations : undefined;
  // The memory stores share one state; a default one joins the state of a memory store passed in.
  let book: MemoryJobBook | undefined;
  const shared = () => {
    book ??= sharedBook(parts) ?? new MemoryJobBook(config);
    return book;
  };
  const commands =
    parts.commands ?? (config.useRedis ? new UpstashCommandStore(redis(), config) : new MemoryCommandStore(config, gate, shared()));
  const groups = parts.groups ?? (config.useRedis ? new UpstashGroupStore(redis(), config) : new MemoryGroupStore(gate, shared()));
  const jobs = parts.jobs ?? (config.useRedis ? new UpstashJobStore(redis(), config) : new MemoryJobStore(shared(), gate));
  const verifier = new TokenVerifier({
    ...config,
    keySet: parts.keySet ?? createKeySet(config, clock),
    now: () => clock.now(),
    requireJti: config.useRedis,
    ...(parts.verifierCacheSize === undefined ? {} : { cacheSize: parts.verifierCacheSize }),
  });
  return { config, clock, verifier, commands, revocations, groups, jobs };
}

/** The state of a memory store among the parts passed in, for the default memory stores to share. */
function sharedBook(parts: RuntimeParts): MemoryJobBook | undefined {
  for (const part of [parts.commands, parts.groups, parts.jobs]) {
    if (part instanceof MemoryCommandStore || part instanceof MemoryGroupStore || part instanceof MemoryJobStore) return part.book;
  }
  return undefined;
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

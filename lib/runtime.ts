/**
 * Everything a handler needs, made once per process (once per cold start in Lambda):
 * configuration, clock, token verifier and stores. Tests and the local server may put
 * in their own with setRuntime().
 */
import { type Clock, systemClock } from './clock.ts';
import { type Config, loadConfig } from './config.ts';
import { TokenVerifier } from './auth/verifier.ts';
import { createRateLimiter, MemoryRateLimiter } from './store/ratelimit.ts';
import { loadSecrets } from './secrets.ts';
import { MemoryCommandStore, MemoryRevocationStore } from './store/memory.ts';
import type { CommandStore, RateLimiter, RevocationStore } from './store/types.ts';
import { createUpstashStores } from './store/upstash.ts';

export interface Runtime {
  readonly config: Config;
  readonly clock: Clock;
  readonly verifier: TokenVerifier;
  readonly commands: CommandStore;
  readonly revocations: RevocationStore;
  /** Per-agent rate limit; undefined when off. */
  readonly rateLimiter: RateLimiter | undefined;
}

export interface RuntimeParts {
  clock?: Clock;
  commands?: CommandStore;
  revocations?: RevocationStore;
  rateLimiter?: RateLimiter;
  verifierCacheSize?: number;
}

export function createRuntime(config: Config, parts: RuntimeParts = {}): Runtime {
  const clock = parts.clock ?? systemClock;
  let { commands, revocations, rateLimiter } = parts;
  if (commands === undefined || revocations === undefined) {
    const stores = config.useRedis
      ? createUpstashStores(config)
      : {
          redis: undefined,
          commands: new MemoryCommandStore(config),
          revocations: new MemoryRevocationStore(() => Math.floor(clock.now() / 1000)),
        };
    commands ??= stores.commands;
    revocations ??= stores.revocations;
    if (config.rateLimit !== undefined && rateLimiter === undefined) {
      const { requests, windowSeconds } = config.rateLimit;
      rateLimiter =
        stores.redis === undefined
          ? new MemoryRateLimiter({ requests, windowSeconds })
          : createRateLimiter(stores.redis, { requests, windowSeconds, prefix: `${config.redisKeyPrefix}ratelimit` });
    }
  }
  const verifier = new TokenVerifier({
    ...config,
    now: () => clock.now(),
    requireJti: config.useRedis,
    ...(parts.verifierCacheSize === undefined ? {} : { cacheSize: parts.verifierCacheSize }),
  });
  return { config, clock, verifier, commands, revocations, rateLimiter };
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

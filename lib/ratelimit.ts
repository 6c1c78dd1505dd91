/**
 * The per-agent rate limit: a sliding window per `sub` with @upstash/ratelimit on the process's
 * one @upstash/redis client. Its one EVALSHA is issued in the same tick as the revocation check
 * (lib/http/auth.ts), so the client's auto-pipelining sends them together.
 *
 * Off unless RATE_LIMIT_REQUESTS is set, and only with USE_REDIS (a per-process count would
 * multiply the budget by the number of Lambda instances).
 */
import { Ratelimit } from '@upstash/ratelimit';
import type { Redis } from '@upstash/redis';
import type { RateLimiter } from './store/types.ts';

export interface RateLimiterOptions {
  /** Requests allowed per window and key. */
  readonly requests: number;
  readonly windowSeconds: number;
  /** Redis key prefix, e.g. `biz:ratelimit`. */
  readonly prefix: string;
  /**
   * Remember denied keys in this process until their window ends, answering 429 without Redis
   * (on by default; @upstash/ratelimit's "ephemeral cache").
   */
  readonly ephemeralCache?: boolean;
}

export function createRateLimiter(redis: Redis, options: RateLimiterOptions): RateLimiter {
  const ratelimit = new Ratelimit({
    redis,
    limiter: Ratelimit.slidingWindow(options.requests, `${options.windowSeconds} s`),
    prefix: options.prefix,
    // 0: no timeout race inside the library. Its own timeout answers `success: true` (fail open,
    // silently); the client's per-call AbortSignal timeout applies instead and throws, and
    // lib/http/auth.ts decides what a failure means.
    timeout: 0,
    analytics: false,
    enableProtection: false,
    ...(options.ephemeralCache === false ? { ephemeralCache: false as const } : {}),
  });
  return {
    async limit(key: string) {
      const { success, reset } = await ratelimit.limit(key);
      return { success, reset };
    },
  };
}

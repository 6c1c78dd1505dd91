/**
 * The per-agent rate limit: a sliding window per `sub` with @upstash/ratelimit on the process's
 * one @upstash/redis client. Its one EVALSHA is sent at the same time as the revocation check
 * (lib/http/auth.ts): two requests in flight together, one round trip of time.
 *
 * Off unless RATE_LIMIT_REQUESTS is set. With USE_REDIS it is counted in Redis, shared by every
 * Lambda instance; on the in-memory store (local development) it is counted in the process
 * (MemoryRateLimiter below).
 */
import { createHash } from 'node:crypto';
import { Ratelimit } from '@upstash/ratelimit';
import type { Redis } from '@upstash/redis';
import type { RateLimiter } from './types.ts';

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

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/**
 * @upstash/ratelimit 2.2 starts its Lua scripts with `#!lua flags=allow-key-locking`, a flag
 * only Upstash knows: Redis 7 and 8 refuse the script ("Unexpected flag in script shebang"), so
 * against the local bridge every limit() call would fail. We drop that one flag (a scheduling
 * hint for Upstash; the scripts stay atomic), the same in Lambda and locally: one code path.
 * EVALSHA with the library's hash is mapped to the hash of the script as we sent it, so after
 * the first EVAL each check is again one EVALSHA; after a SCRIPT FLUSH or a Redis restart the
 * library's NOSCRIPT fallback sends EVAL again.
 */
export function portableScripts(redis: Redis): Redis {
  const hashes = new Map<string, string>();
  const portable = (script: string) =>
    script.replace(/^#!lua flags=([^\n]*)/, (_line, flags: string) => {
      const kept = flags
        .split(',')
        .map((flag) => flag.trim())
        .filter((flag) => flag !== '' && flag !== 'allow-key-locking');
      return kept.length > 0 ? `#!lua flags=${kept.join(',')}` : '';
    });
  return new Proxy(redis, {
    get(target, property) {
      if (property === 'evalsha') {
        return (sha: string, keys: string[], args: unknown[]) => target.evalsha(hashes.get(sha) ?? sha, keys, args);
      }
      if (property === 'eval') {
        return (script: string, keys: string[], args: unknown[]) => {
          const sent = portable(script);
          hashes.set(sha1(script), sha1(sent));
          return target.eval(sent, keys, args);
        };
      }
      return Reflect.get(target, property, target);
    },
  });
}

export function createRateLimiter(redis: Redis, options: RateLimiterOptions): RateLimiter {
  const ratelimit = new Ratelimit({
    redis: portableScripts(redis),
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

/**
 * The same sliding window in this process's memory, for the in-memory store (local
 * development, tests): the previous fixed window's count, weighted by how much of it still
 * overlaps the sliding window, plus the current one's. Not for Lambda: each instance would count
 * on its own.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly requests: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  /** key → [window index, count in it, count in the window before]. */
  private readonly counts = new Map<string, [number, number, number]>();

  constructor(options: { requests: number; windowSeconds: number; now?: () => number }) {
    this.requests = options.requests;
    this.windowMs = options.windowSeconds * 1000;
    this.now = options.now ?? Date.now;
  }

  async limit(key: string): Promise<{ success: boolean; reset: number }> {
    const now = this.now();
    const window = Math.floor(now / this.windowMs);
    const entry = this.counts.get(key);
    let current = 0;
    let previous = 0;
    if (entry !== undefined && entry[0] === window) [, current, previous] = entry;
    else if (entry !== undefined && entry[0] === window - 1) previous = entry[1];
    const overlap = 1 - (now - window * this.windowMs) / this.windowMs;
    const reset = (window + 1) * this.windowMs;
    if (Math.floor(previous * overlap) + current >= this.requests) {
      this.counts.set(key, [window, current, previous]);
      return { success: false, reset };
    }
    this.counts.set(key, [window, current + 1, previous]);
    if (this.counts.size > 100_000) this.prune(window);
    return { success: true, reset };
  }

  private prune(window: number): void {
    for (const [key, entry] of this.counts) if (entry[0] < window - 1) this.counts.delete(key);
  }
}

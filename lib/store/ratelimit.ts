/**
 * The per-agent rate limit, written once: a sliding window per `sub`, approximated the usual way
 * (the previous fixed window's count, weighted by how much of it still overlaps the sliding
 * window, plus the current one's). No I/O here: the in-memory store counts in this process with
 * MemoryRateLimiter, the Upstash store in Redis with the gate of lib/store/lua/gate.lua (its twin rules/slidingWindow.lua), which
 * mirrors slidingWindow line for line and runs in the same script as the request's action.
 *
 * Off unless RATE_LIMIT_REQUESTS is set. Only a request that passed signature, binding, scope and
 * revocation is counted: the gate counts after its revocation check, and the scope is checked
 * before any store is asked (lib/http/auth.ts).
 *
 * Not @upstash/ratelimit: its sliding window is one script of its own, sent as its own command,
 * and cannot run inside ours; keeping it would cost every request a second Upstash command.
 */
import { logger } from '../logger.ts';

export interface RateLimitSettings {
  /** Requests allowed per window and agent. */
  readonly requests: number;
  readonly windowSeconds: number;
}

/** The window `now` (epoch ms) falls in: its index, counted from the epoch. */
export function windowOf(now: number, windowMs: number): number {
  return Math.floor(now / windowMs);
}

/**
 * The decision: with `current` requests counted in this window and `previous` in the one before,
 * may one more go through at `now`? `reset` is when this window ends (epoch ms).
 */
export function slidingWindow(
  counts: { readonly current: number; readonly previous: number },
  now: number,
  windowMs: number,
  requests: number,
): { readonly allowed: boolean; readonly reset: number } {
  const window = windowOf(now, windowMs);
  const overlap = 1 - (now - window * windowMs) / windowMs;
  return { allowed: Math.floor(counts.previous * overlap) + counts.current < requests, reset: (window + 1) * windowMs };
}

/** The same window in this process's memory. Not for Lambda: each instance would count on its own. */
export class MemoryRateLimiter {
  private readonly requests: number;
  private readonly windowMs: number;
  /** key → [window index, count in it, count in the window before]. */
  private readonly counts = new Map<string, [number, number, number]>();

  constructor(settings: RateLimitSettings) {
    this.requests = settings.requests;
    this.windowMs = settings.windowSeconds * 1000;
  }

  /** Counts one request against `key` at `now` (epoch ms) unless it is over the limit. */
  limit(key: string, now: number): { allowed: boolean; reset: number } {
    const window = windowOf(now, this.windowMs);
    const entry = this.counts.get(key);
    let current = 0;
    let previous = 0;
    if (entry !== undefined && entry[0] === window) [, current, previous] = entry;
    else if (entry !== undefined && entry[0] === window - 1) previous = entry[1];
    const decision = slidingWindow({ current, previous }, now, this.windowMs, this.requests);
    this.counts.set(key, [window, decision.allowed ? current + 1 : current, previous]);
    if (this.counts.size > 100_000) this.prune(window);
    return decision;
  }

  private prune(window: number): void {
    for (const [key, entry] of this.counts) if (entry[0] < window - 1) this.counts.delete(key);
  }
}

/** The window of the last "let through uncounted" line this process wrote. */
let failOpenLoggedFor: number | undefined;

/**
 * The counter could not be written (Redis refuses writes but still answers reads): the request
 * went on uncounted. Fail open, as SECURITY.md says; logged once per window and process, not per
 * request, so an outage does not turn every request into an error line.
 */
export function limitFailedOpen(now: number, windowMs: number): void {
  const window = windowOf(now, windowMs);
  if (failOpenLoggedFor === window) return;
  failOpenLoggedFor = window;
  logger.error('rate limit counter not written (Redis refuses writes); requests let through uncounted for this window', {
    window_start: new Date(window * windowMs).toISOString(),
  });
}

/**
 * The reference agent's push link (`npm run agent -- --push`; docs/push.md#the-reference-agent):
 * a WebSocket to the service's push channel that turns every wake into a poll now.
 *
 * - Connects to `<base>/ws` (ws:// or wss://) with `Authorization: Bearer <token>` on the upgrade.
 * - Pings every `pingEverySeconds` (5 min), well before API Gateway's 10 minute idle timeout.
 * - Opens a fresh connection before the 2 h maximum (at 1 h 50 min, less up to 5 min of jitter,
 *   so a fleet does not reconnect in step), and only then closes the old one: no gap.
 * - When the socket closes or cannot open, tries again after an exponential, jittered, capped
 *   back-off (1 s doubling to 60 s; full jitter); meanwhile `connected` is false and the agent
 *   polls at its plain `poll_interval_seconds`.
 * - A refusal of the upgrade with 401 gets a new token first; 403 stops the link (the agent polls
 *   on).
 */
import { WebSocket } from 'ws';
import type { AgentEvent, TokenSource } from './agent.ts';

/** A wake-up an agent waits on between polls: a wake ends the wait at once. */
export interface WakeSource {
  /** A connection is open: the agent polls at its safety interval. */
  readonly connected: boolean;
  /** Resolves after `ms`, or at once when a wake came since the last wait (or comes during it); rejects when `signal` aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void>;
}

export interface PushLinkOptions {
  /** The service's base URL (http or https); the link connects to its /ws. */
  readonly baseUrl: string;
  readonly tokens: TokenSource;
  readonly log?: (event: AgentEvent) => void;
  readonly pingEverySeconds?: number;
  /** When to replace a connection, from its opening (1 h 50 min). */
  readonly renewAfterSeconds?: number;
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  readonly random?: () => number;
}

export class PushLink implements WakeSource {
  private readonly options: PushLinkOptions;
  private readonly random: () => number;
  private socket: WebSocket | undefined;
  private woken = false;
  private waiters: (() => void)[] = [];
  private attempt = 0;
  private stopped = false;
  private timers = new Set<NodeJS.Timeout>();
  /** Wakes received (tests, the soak). */
  wakes = 0;

  constructor(options: PushLinkOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Starts connecting; the link keeps itself up until stop(). */
  start(): void {
    void this.open();
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.socket?.close(1000);
    this.wake();
  }

  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      if (this.woken) {
        this.woken = false;
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', abort);
        this.waiters = this.waiters.filter((waiter) => waiter !== done);
        this.woken = false;
        resolve();
      };
      const abort = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== done);
        reject(signal.reason);
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', abort, { once: true });
      this.waiters.push(done);
    });
  }

  private wake(): void {
    this.woken = true;
    for (const waiter of [...this.waiters]) waiter();
  }

  private later(ms: number, run: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) run();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private url(): string {
    return `${this.options.baseUrl.replace(/\/+$/, '').replace(/^http/, 'ws')}/ws`;
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    let token: string;
    try {
      token = await this.options.tokens.token();
    } catch (error) {
      this.options.log?.({ type: 'push', state: 'down', detail: `no token: ${(error as Error).message}` });
      this.retry();
      return;
    }
    const ws = new WebSocket(this.url(), { headers: { Authorization: `Bearer ${token}` } });
    let pinger: NodeJS.Timeout | undefined;
    let renew: NodeJS.Timeout | undefined;
    ws.on('open', () => {
      const previous = this.socket;
      this.socket = ws;
      this.attempt = 0;
      this.options.log?.({ type: 'push', state: 'up' });
      // A wake may have been missed while no socket was open: poll once now.
      this.wake();
      previous?.close(1000, 'replaced');
      const pingMs = (this.options.pingEverySeconds ?? 300) * 1000;
      pinger = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ping' }));
      }, pingMs);
      const renewMs = (this.options.renewAfterSeconds ?? 6_600) * 1000 - this.random() * Math.min(300_000, pingMs);
      renew = this.later(Math.max(1_000, renewMs), () => void this.open());
    });
    ws.on('message', (data) => {
      let frame: { type?: unknown; reason?: unknown };
      try {
        frame = JSON.parse(data.toString()) as { type?: unknown };
      } catch {
        return;
      }
      if (frame.type === 'wake') {
        this.wakes += 1;
        this.options.log?.({ type: 'wake', reason: String(frame.reason) });
        this.wake();
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      this.options.log?.({ type: 'push', state: 'refused', detail: String(status) });
      ws.terminate();
      if (status === 403) {
        this.stopped = true;
        return;
      }
      if (status === 401) void this.options.tokens.renew().catch(() => false);
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      if (pinger !== undefined) clearInterval(pinger);
      if (renew !== undefined) {
        clearTimeout(renew);
        this.timers.delete(renew);
      }
      // A replaced socket closing is expected; only the current one going down needs a retry.
      if (this.socket !== ws && this.socket !== undefined) return;
      if (this.socket === ws) {
        this.socket = undefined;
        this.options.log?.({ type: 'push', state: 'down' });
        // The agent's wait was paced for a connected agent: it polls now, then at its plain interval.
        this.wake();
      }
      this.retry();
    });
  }

  private retry(): void {
    if (this.stopped) return;
    const base = this.options.backoffBaseMs ?? 1_000;
    const cap = this.options.backoffCapMs ?? 60_000;
    const delay = this.random() * Math.min(cap, base * 2 ** this.attempt);
    this.attempt += 1;
    this.later(delay, () => void this.open());
  }
}

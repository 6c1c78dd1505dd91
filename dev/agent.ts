/**
 * The reference agent: a small client of this service, for demos, tests and as the thing agent
 * authors copy. Never deployed.
 *
 *   npm run agent -- --base-url http://127.0.0.1:5000 --token-command 'npm run -s token -- --sub agent-001'
 *   npm run agent -- --base-url URL --token JWT [--push] [--once] [--max-commands N]
 *   npm run agent -- --base-url URL --dpop-key .local/agent-001.dpop.pem \
 *     --token-command 'npm run -s token -- --sub agent-001 --dpop-key .local/agent-001.dpop.pem'
 *
 * With --dpop-key (RFC 9449) every request goes as `Authorization: DPoP <token>` with a fresh
 * proof (dev/dpop.ts) signed by the key in the file (a P-256 key is made there when there is
 * none); the tokens must be bound to that key (cnf.jkt), as `npm run token -- --dpop-key` makes them.
 *
 * With --push it also keeps a WebSocket to the push channel (dev/agent-push.ts): a wake ends the
 * wait between polls at once, and while connected it polls at `push_poll_interval_seconds`.
 *
 * What it does, in this order, on every poll:
 *   1. takes a token: a fixed one (--token), or the output of --token-command, run again before
 *      the token's `exp` (at 80 % of its lifetime, at most 60 s before it), and at once on a 401;
 *   2. reads GET /api/config when it is older than five minutes: `poll_interval_seconds` paces the
 *      polls, `commands_per_fetch` is sent as `limit`, `result_max_bytes` bounds what it reports;
 *   3. posts again any result not yet accepted;
 *   4. GET /api/commands; a command it has already run (by `command_id`) is not run again, since
 *      delivery is at least once, its result is posted again instead; a new one is checked first
 *      (its signature, lib/signing/verify.ts, with the pinned keys of dev/agent-keys.ts: unsigned,
 *      tampered, for another agent, expired or of an unknown kid, it is never run and is reported
 *      `rejected` with reason signature_invalid), then goes to the executor, and its result is
 *      posted (POST /api/results);
 *   5. waits the poll interval, with ±20 % jitter so that a fleet does not poll in step (no wait
 *      after a full page: more commands are waiting).
 *
 * Every request that meets a 429, a 5xx or a network error is tried again after `Retry-After`
 * when the answer gives one, else after an exponential, jittered, capped back-off. A 409 or 404
 * to a result is final (the command has another result, expired, or is gone): it is dropped. A
 * result refused as too large or malformed (413, 400) is replaced once by a `failed` result that
 * says so. A 401 after a fresh token, or a 403, stops the agent: retrying would not help.
 *
 * Commands run through an Executor; `commandExecutor(handlers)` makes one from a map of command
 * name to function (its return value is the result; a throw is a `failed` result with the
 * message). DEMO_COMMANDS: `echo` (answers its args), `sleep` (args.seconds, at most 300) and
 * `fail` (fails with args.reason). An unknown command is reported `failed`, reason
 * `unknown_command`.
 */
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { verifyCommand } from '../lib/signing/verify.ts';
import { CommandKeyPin, type KeyOffer, readKeysFile } from './agent-keys.ts';
import { PushLink, type WakeSource } from './agent-push.ts';
import { type DpopKey, dpopKeyFile, dpopProof } from './dpop.ts';

/** A command as GET /api/commands hands it out. */
export interface AgentCommand {
  readonly command_id: string;
  readonly command: string;
  readonly args: Record<string, unknown>;
  readonly created_at: string;
  readonly expires_at: string;
  /** Which attempt this is: more than 1 for a job's execution retried (the same command_id again). */
  readonly attempt?: number;
  readonly job_id?: string | null;
  /** The service's signature (docs/signing.md), checked before anything runs. */
  readonly signature?: string | null;
}

/** What the agent remembers a run by: a retried execution is a new run of the same command id. */
function runKey(command: AgentCommand): string {
  return (command.attempt ?? 1) > 1 ? `${command.command_id}#${command.attempt}` : command.command_id;
}

/** What a command came to: the body of POST /api/results without the command id. */
export interface Outcome {
  /** rejected: the agent refused to run it (a signature that does not hold). */
  readonly status: 'completed' | 'failed' | 'rejected';
  /** Any JSON value; left out when undefined. */
  readonly result?: unknown;
  /** Why, in a few words (POST /api/results' status_details); left out when undefined. */
  readonly status_details?: unknown;
}

/** Runs commands. The signal is aborted when the agent is asked to stop. */
export interface Executor {
  execute(command: AgentCommand, signal: AbortSignal): Promise<Outcome>;
}

/** One command: its return value is the `completed` result; a throw makes a `failed` one. */
export type CommandHandler = (args: Record<string, unknown>, signal: AbortSignal, command: AgentCommand) => unknown;

/** An Executor from a map of command names to handlers; unknown commands fail with a reason. */
export function commandExecutor(handlers: Readonly<Record<string, CommandHandler>>): Executor {
  return {
    async execute(command, signal) {
      const handler = Object.hasOwn(handlers, command.command) ? handlers[command.command] : undefined;
      if (handler === undefined) {
        return { status: 'failed', result: { reason: 'unknown_command', command: command.command } };
      }
      try {
        return { status: 'completed', result: await handler(command.args, signal, command) };
      } catch (error) {
        return { status: 'failed', result: { reason: 'error', message: error instanceof Error ? error.message : String(error) } };
      }
    },
  };
}

/** The demo commands: echo, sleep, fail. */
export const DEMO_COMMANDS: Readonly<Record<string, CommandHandler>> = {
  echo: (args) => args,
  sleep: async (args, signal) => {
    const seconds = Number(args.seconds ?? 1);
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 300) throw new Error('args.seconds must be a number from 0 to 300');
    await sleep(seconds * 1000, signal);
    return { slept_seconds: seconds };
  },
  fail: (args) => {
    throw new Error(typeof args.reason === 'string' ? args.reason : 'asked to fail');
  },
};

/** Where the agent's tokens come from. */
export interface TokenSource {
  /** A token that is not about to expire (refreshed first when it is). */
  token(): Promise<string>;
  /** A new token now (after a 401); false when this source cannot make one (a fixed token). */
  renew(): Promise<boolean>;
}

/** The `exp` (and `iat`) claims of a JWT, read without checking it: the service checks it. */
export function tokenTimes(token: string): { exp?: number; iat?: number } {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    return {
      ...(typeof payload.exp === 'number' ? { exp: payload.exp } : {}),
      ...(typeof payload.iat === 'number' ? { iat: payload.iat } : {}),
    };
  } catch {
    return {};
  }
}

/** The `sub` of a JWT (the agent's own id), read without checking it. */
export function tokenSubject(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    return typeof payload.sub === 'string' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

/** When to fetch the next token: at 80 % of its lifetime, at most 60 s and at least 1 s before `exp`. */
export function refreshAtMs(token: string, nowMs: number): number {
  const { exp, iat } = tokenTimes(token);
  if (exp === undefined) return Number.POSITIVE_INFINITY;
  const lifetimeSeconds = exp - (iat ?? Math.floor(nowMs / 1000));
  const marginSeconds = Math.min(60, Math.max(1, lifetimeSeconds / 5));
  return (exp - marginSeconds) * 1000;
}

export function fixedToken(token: string): TokenSource {
  return { token: async () => token, renew: async () => false };
}

export interface TokenCommandOptions {
  /** The command's environment; process.env by default. */
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => number;
  /** Told each time a token is fetched. */
  readonly onToken?: (token: string, refreshAt: number) => void;
}

/** Runs `command` with sh; its standard output (trimmed) is the token. */
export function tokenCommand(command: string, options: TokenCommandOptions = {}): TokenSource {
  const now = options.now ?? Date.now;
  let current: { token: string; refreshAt: number; exp: number } | undefined;
  let running: Promise<string> | undefined;
  const run = () => {
    running ??= new Promise<string>((resolve, reject) => {
      execFile('/bin/sh', ['-c', command], { env: options.env ?? process.env, timeout: 30_000 }, (error, stdout, stderr) => {
        const token = String(stdout).trim();
        if (error || token === '') {
          const why = error ? error.message : 'it printed nothing';
          reject(new Error(`--token-command failed: ${why}${String(stderr).trim() ? `: ${String(stderr).trim().slice(-300)}` : ''}`));
          return;
        }
        const refreshAt = refreshAtMs(token, now());
        current = { token, refreshAt, exp: (tokenTimes(token).exp ?? Number.POSITIVE_INFINITY) * 1000 };
        options.onToken?.(token, refreshAt);
        resolve(token);
      });
    }).finally(() => {
      running = undefined;
    });
    return running;
  };
  return {
    async token() {
      if (current !== undefined && now() < current.refreshAt) return current.token;
      try {
        return await run();
      } catch (error) {
        // A failed refresh while the old token still works: use it, try again on the next call.
        if (current !== undefined && now() < current.exp - 1000) return current.token;
        throw error;
      }
    },
    async renew() {
      await run();
      return true;
    },
  };
}

/** Everything the agent tells: the CLI prints it, tests read it. Times are epoch ms. */
export type AgentEvent =
  | { type: 'response'; method: string; path: string; status: number; sentAt: number; at: number }
  | { type: 'network_error'; method: string; path: string; message: string; sentAt: number; at: number }
  | { type: 'retry'; method: string; path: string; status?: number; retryAfterSeconds?: number; delayMs: number; attempt: number }
  | { type: 'config'; pollIntervalSeconds: number; pushPollIntervalSeconds: number; limit: number; resultMaxBytes: number }
  | { type: 'fetched'; count: number }
  | { type: 'duplicate'; commandId: string }
  | { type: 'ran'; commandId: string; command: string; status: Outcome['status'] }
  | { type: 'accepted'; commandId: string; status: Outcome['status'] }
  | { type: 'dropped'; commandId: string; status: number; error?: string }
  | { type: 'token'; refreshAt: number }
  | { type: 'wake'; reason: string }
  | { type: 'push'; state: 'up' | 'down' | 'refused'; detail?: string }
  | { type: 'signature_invalid'; commandId: string; command: string; reason: string }
  | { type: 'command_keys'; offer: KeyOffer; kids: readonly string[] }
  | { type: 'error'; message: string };

export interface AgentOptions {
  /** The service, e.g. http://127.0.0.1:5000 (no trailing path). */
  readonly baseUrl: string;
  readonly tokens: TokenSource;
  /** DEMO_COMMANDS by default. */
  readonly executor?: Executor;
  readonly log?: (event: AgentEvent) => void;
  /** Fixed poll interval; by default the config's poll_interval_seconds. */
  readonly pollIntervalSeconds?: number;
  /** First back-off step (500 ms) and its cap (30 s). */
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  /** Tries per request before the cycle gives up on it (8); a result not accepted is kept for the next cycle. */
  readonly maxAttempts?: number;
  /** Per-request timeout (10 s). */
  readonly requestTimeoutMs?: number;
  /** How old the config may get before it is read again (300 s). */
  readonly configMaxAgeSeconds?: number;
  readonly random?: () => number;
  readonly now?: () => number;
  /** The push channel (--push, dev/agent-push.ts): a wake ends the wait; while connected, the wait is push_poll_interval_seconds. */
  readonly wakeups?: WakeSource;
  /** --dpop-key: every request carries a DPoP proof by this key, its token sent with the DPoP scheme. */
  readonly dpop?: DpopKey;
  /** The keys commands are checked with (--command-keys, --accept-new-keys); by default the first config's, pinned. */
  readonly commandKeys?: CommandKeyPin;
}

export interface RunOptions {
  /** One poll (with its reports), then stop. */
  readonly once?: boolean;
  /** Stop once this many commands have been run and their results settled. */
  readonly maxCommands?: number;
  /** Stops the agent (between commands, and any wait). */
  readonly signal?: AbortSignal;
}

export interface RunSummary {
  readonly polls: number;
  readonly ran: number;
  readonly accepted: number;
  readonly dropped: number;
  /** Polls that ended early (a request that gave up, a token command that failed). */
  readonly errors: number;
  /** Results not accepted when the agent stopped. */
  readonly unreported: number;
}

/** 401 after a fresh token, or 403: retrying cannot help. */
export class AgentStopped extends Error {
  override name = 'AgentStopped';
}

/** The request gave up after its tries (transient failures only); the next cycle starts over. */
class GaveUp extends Error {
  override name = 'GaveUp';
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

/** Remembers this many command ids (the oldest are forgotten first). */
const REMEMBERED = 10_000;

export class Agent {
  private readonly options: AgentOptions;
  private readonly executor: Executor;
  private readonly log: (event: AgentEvent) => void;
  private readonly random: () => number;
  private readonly now: () => number;
  /**
   * Each run (runKey: the command id, and the attempt of a retried one) → its command id, attempt
   * and outcome; `reported` once the service accepted it (or it is final).
   */
  private readonly done = new Map<string, { commandId: string; attempt: number; outcome: Outcome; reported: boolean; replaced: boolean }>();
  private config:
    | { pollIntervalSeconds: number; pushPollIntervalSeconds: number; limit: number; resultMaxBytes: number; readAt: number }
    | undefined;
  private counts = { polls: 0, ran: 0, accepted: 0, dropped: 0, errors: 0 };
  private readonly commandKeys: CommandKeyPin;

  constructor(options: AgentOptions) {
    this.options = { ...options, baseUrl: options.baseUrl.replace(/\/+$/, '') };
    this.commandKeys = options.commandKeys ?? new CommandKeyPin();
    this.executor = options.executor ?? commandExecutor(DEMO_COMMANDS);
    this.log = options.log ?? (() => {});
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /** Polls until stopped (signal, --once, --max-commands). Throws AgentStopped when the service refuses the agent. */
  async run(options: RunOptions = {}): Promise<RunSummary> {
    const signal = options.signal ?? new AbortController().signal;
    while (!signal.aborted) {
      let full = false;
      try {
        full = await this.poll(signal, options.maxCommands);
      } catch (error) {
        if (error instanceof AgentStopped || signal.aborted) {
          if (error instanceof AgentStopped) throw error;
          break;
        }
        // GaveUp or an unexpected answer: said, and the next cycle starts over after the interval.
        this.counts.errors += 1;
        this.log({ type: 'error', message: error instanceof Error ? error.message : String(error) });
      }
      if (options.once) break;
      if (options.maxCommands !== undefined && this.counts.ran >= options.maxCommands && this.unreported() === 0) break;
      const wakeups = this.options.wakeups;
      const interval =
        wakeups?.connected === true
          ? (this.config?.pushPollIntervalSeconds ?? 900)
          : (this.options.pollIntervalSeconds ?? this.config?.pollIntervalSeconds ?? 30);
      const waitMs = interval * 1000 * (0.8 + 0.4 * this.random());
      if (!full) await (wakeups === undefined ? sleep(waitMs, signal) : wakeups.wait(waitMs, signal)).catch(() => {});
    }
    return { ...this.counts, unreported: this.unreported() };
  }

  /** One cycle: config when due, pending results, one fetch, its commands. True when the page was full. */
  async poll(signal: AbortSignal, maxCommands = Number.POSITIVE_INFINITY): Promise<boolean> {
    this.counts.polls += 1;
    const config = await this.readConfig(signal);
    for (const [key, entry] of this.done) {
      if (!entry.reported) await this.report(key, signal);
    }
    const answer = await this.request('GET', `/api/commands?limit=${config.limit}`, undefined, signal);
    if (answer.status !== 200) throw new Error(`GET /api/commands answered ${answer.status}`);
    const { commands } = answer.body as { commands: AgentCommand[] };
    this.log({ type: 'fetched', count: commands.length });
    for (const command of commands) {
      if (signal.aborted) break;
      const key = runKey(command);
      const seen = this.done.get(key);
      if (seen !== undefined) {
        // At-least-once delivery: run once (each attempt of a retried one once), report until accepted.
        this.log({ type: 'duplicate', commandId: command.command_id });
        if (!seen.reported) await this.report(key, signal);
        continue;
      }
      if (this.counts.ran >= maxCommands) break;
      const refusal = await this.refusal(command);
      if (refusal !== undefined) {
        this.remember(key, command, refusal);
        this.counts.ran += 1;
        await this.report(key, signal);
        continue;
      }
      const outcome = this.bounded(await this.execute(command, signal), config.resultMaxBytes);
      this.remember(key, command, outcome);
      this.counts.ran += 1;
      this.log({ type: 'ran', commandId: command.command_id, command: command.command, status: outcome.status });
      await this.report(key, signal);
    }
    return commands.length >= config.limit;
  }

  /**
   * Why `command` must not run, as the `rejected` result that says so; undefined when its
   * signature holds for this agent (the `sub` of its own token) with the pinned keys, now.
   */
  private async refusal(command: AgentCommand): Promise<Outcome | undefined> {
    const agentId = tokenSubject(await this.options.tokens.token());
    const verdict = verifyCommand(command, { agentId: agentId ?? '', keys: this.commandKeys.keys, now: this.now() });
    if (verdict.ok) return undefined;
    this.log({ type: 'signature_invalid', commandId: command.command_id, command: command.command, reason: verdict.reason });
    return {
      status: 'rejected',
      result: { reason: 'signature_invalid', detail: verdict.reason },
      // What the executions listing and the history show first: signature_invalid and why.
      status_details: { reason: 'signature_invalid', detail: verdict.reason },
    };
  }

  /** An executor that throws still gives a result: `failed`, with the message. */
  private async execute(command: AgentCommand, signal: AbortSignal): Promise<Outcome> {
    try {
      return await this.executor.execute(command, signal);
    } catch (error) {
      return { status: 'failed', result: { reason: 'error', message: error instanceof Error ? error.message : String(error) } };
    }
  }

  private unreported(): number {
    let count = 0;
    for (const entry of this.done.values()) if (!entry.reported) count += 1;
    return count;
  }

  private remember(key: string, command: AgentCommand, outcome: Outcome): void {
    this.done.set(key, { commandId: command.command_id, attempt: command.attempt ?? 1, outcome, reported: false, replaced: false });
    if (this.done.size > REMEMBERED) {
      for (const [id, entry] of this.done) {
        if (entry.reported) {
          this.done.delete(id);
          break;
        }
      }
    }
  }

  /** A result larger than the service takes becomes a `failed` one that says so. */
  private bounded(outcome: Outcome, maxBytes: number): Outcome {
    if (outcome.result === undefined) return outcome;
    const text = JSON.stringify(outcome.result);
    if (text === undefined) return { status: outcome.status };
    const bytes = Buffer.byteLength(text);
    return bytes <= maxBytes ? outcome : { status: 'failed', result: { reason: 'result_too_large', bytes, limit: maxBytes } };
  }

  private async readConfig(signal: AbortSignal) {
    const maxAge = (this.options.configMaxAgeSeconds ?? 300) * 1000;
    if (this.config !== undefined && this.now() - this.config.readAt < maxAge) return this.config;
    const answer = await this.request('GET', '/api/config', undefined, signal);
    if (answer.status !== 200) throw new Error(`GET /api/config answered ${answer.status}`);
    const values = (answer.body as { config: Record<string, unknown> }).config;
    const whole = (value: unknown, fallback: number, max: number) =>
      Number.isInteger(value) && (value as number) >= 1 && (value as number) <= max ? (value as number) : fallback;
    this.config = {
      pollIntervalSeconds: whole(values.poll_interval_seconds, 30, 86_400),
      pushPollIntervalSeconds: whole(values.push_poll_interval_seconds, 900, 86_400),
      limit: whole(values.commands_per_fetch, 10, 100),
      resultMaxBytes: whole(values.result_max_bytes, 262_144, 262_144),
      readAt: this.now(),
    };
    const { readAt: _, ...shown } = this.config;
    this.log({ type: 'config', ...shown });
    const offer = this.commandKeys.offer(
      (answer.body as { command_keys?: unknown }).command_keys,
      this.options.baseUrl.startsWith('https:'),
    );
    if (offer !== 'same') this.log({ type: 'command_keys', offer, kids: this.commandKeys.keys.map((key) => key.kid) });
    return this.config;
  }

  /** Posts a remembered result, naming the attempt it ran; settles it on 200, 404 and 409 (an attempt that is over included). */
  private async report(key: string, signal: AbortSignal): Promise<void> {
    const entry = this.done.get(key);
    if (entry === undefined || entry.reported) return;
    const { commandId } = entry;
    const body = { command_id: commandId, ...entry.outcome, attempt: entry.attempt };
    const answer = await this.request('POST', '/api/results', body, signal).catch((error: unknown) => {
      // Kept: posted again on the next cycle.
      if (error instanceof GaveUp) return undefined;
      throw error;
    });
    if (answer === undefined) return;
    const error = (answer.body as { error?: string } | undefined)?.error;
    if (answer.status === 200) {
      entry.reported = true;
      this.counts.accepted += 1;
      this.log({ type: 'accepted', commandId, status: entry.outcome.status });
    } else if ((answer.status === 400 || answer.status === 413) && !entry.replaced) {
      // The service will never take this result: say so with one it will.
      this.done.set(key, {
        ...entry,
        outcome: { status: 'failed', result: { reason: 'result_rejected', http_status: answer.status, error } },
        reported: false,
        replaced: true,
      });
      await this.report(key, signal);
    } else {
      // 409 (another result won, or the command expired), 404 (gone), or a replaced result refused too.
      entry.reported = true;
      this.counts.dropped += 1;
      this.log({ type: 'dropped', commandId, status: answer.status, ...(error === undefined ? {} : { error }) });
    }
  }

  /** One request, tried again on 429, 5xx and network errors; renews the token once on a 401. */
  private async request(method: string, path: string, body: unknown, signal: AbortSignal): Promise<Answer> {
    const maxAttempts = this.options.maxAttempts ?? 8;
    let renewed = false;
    for (let attempt = 0; ; attempt += 1) {
      const token = await this.options.tokens.token();
      const sentAt = this.now();
      let answer: Answer;
      try {
        const url = `${this.options.baseUrl}${path}`;
        const dpop = this.options.dpop;
        // A proof per request, every try its own (the service refuses a proof it has seen).
        const proof = dpop === undefined ? undefined : await dpopProof(dpop, { htm: method, htu: url, accessToken: token });
        const response = await fetch(url, {
          method,
          headers: {
            authorization: proof === undefined ? `Bearer ${token}` : `DPoP ${token}`,
            ...(proof === undefined ? {} : { dpop: proof }),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.requestTimeoutMs ?? 10_000)]),
        });
        const text = await response.text();
        answer = { status: response.status, headers: response.headers, body: text === '' ? undefined : parseJson(text) };
        this.log({ type: 'response', method, path, status: answer.status, sentAt, at: this.now() });
      } catch (error) {
        if (signal.aborted) throw error;
        this.log({ type: 'network_error', method, path, message: (error as Error).message, sentAt, at: this.now() });
        await this.backOff(method, path, attempt, maxAttempts, undefined, undefined, signal);
        continue;
      }
      if (answer.status === 401) {
        if (!renewed && (await this.options.tokens.renew())) {
          renewed = true;
          attempt -= 1;
          continue;
        }
        throw new AgentStopped(`${method} ${path}: 401 ${describe(answer)}: the token is refused`);
      }
      if (answer.status === 403) throw new AgentStopped(`${method} ${path}: 403 ${describe(answer)}: the token lacks a scope`);
      if (answer.status === 429 || answer.status >= 500) {
        const retryAfter = retryAfterSeconds(answer.headers.get('retry-after'), this.now());
        await this.backOff(method, path, attempt, maxAttempts, answer.status, retryAfter, signal);
        continue;
      }
      return answer;
    }
  }

  private async backOff(
    method: string,
    path: string,
    attempt: number,
    maxAttempts: number,
    status: number | undefined,
    retryAfter: number | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    if (attempt + 1 >= maxAttempts) throw new GaveUp(`${method} ${path}: gave up after ${maxAttempts} tries`);
    const delayMs = backoffMs(attempt, {
      baseMs: this.options.backoffBaseMs ?? 500,
      capMs: this.options.backoffCapMs ?? 30_000,
      random: this.random,
      ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
    });
    this.log({
      type: 'retry',
      method,
      path,
      ...(status === undefined ? {} : { status }),
      ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
      delayMs,
      attempt: attempt + 1,
    });
    await sleep(delayMs, signal);
  }
}

/**
 * The wait before try `attempt + 1`: exponential (base · 2^attempt, capped), the upper half of it
 * at random; never shorter than Retry-After (plus up to 10 % of it, so that a fleet told the same
 * second does not come back in the same millisecond).
 */
export function backoffMs(
  attempt: number,
  options: { baseMs: number; capMs: number; random: () => number; retryAfterSeconds?: number },
): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  const exponential = ceiling / 2 + (ceiling / 2) * options.random();
  if (options.retryAfterSeconds === undefined) return Math.round(exponential);
  const floor = options.retryAfterSeconds * 1000;
  return Math.round(Math.max(exponential, floor + floor * 0.1 * options.random()));
}

/** Retry-After as seconds (delta-seconds or an HTTP date); undefined when absent or unreadable. At most an hour. */
export function retryAfterSeconds(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value.trim()) : (Date.parse(value) - nowMs) / 1000;
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(3600, Math.max(0, seconds));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function describe(answer: Answer): string {
  const body = answer.body as { error?: string; error_description?: string } | undefined;
  return [body?.error, body?.error_description].filter(Boolean).join(' ') || 'refused';
}

/** Resolves after `ms`, rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}

export const USAGE = `usage: npm run agent -- --base-url URL (--token-command CMD | --token TOKEN) [--push] [--once] [--max-commands N]
                        [--dpop-key FILE] [--command-keys FILE] [--accept-new-keys]

  --base-url URL        the service, e.g. http://127.0.0.1:5000
  --token-command CMD   a shell command that prints a token; run again before the token expires
                        (e.g. 'npm run -s token -- --sub agent-001')
  --token TOKEN         a fixed token instead (the agent stops when it expires)
  --push                keep a WebSocket to the push channel (<base-url>/ws): poll at once on
                        every wake, else every push_poll_interval_seconds; plain polling while
                        the socket is down
  --dpop-key FILE       DPoP (RFC 9449): a proof by the key in FILE (a P-256 PEM, made if missing)
                        on every request; the tokens must be bound to it
                        (npm run -s token -- --sub agent-001 --dpop-key FILE); not with --push
  --once                one poll: run what is waiting, report it, stop
  --max-commands N      stop after running N commands and reporting them
  --command-keys FILE   the keys commands must be signed with (a JWKS, e.g. a saved
                        GET /.well-known/command-keys); without it, those of the first config read
                        (over plain http: with a warning)
  --accept-new-keys     take the keys of a later config that differ from the pinned ones
                        (a rotation); without it they are refused and the pinned keys stay
  -h, --help            this text

Commands it runs: echo (answers its args), sleep (args.seconds), fail (args.reason);
any other is reported failed with reason unknown_command.`;

export interface CliOptions {
  readonly baseUrl: string;
  readonly token?: string;
  readonly tokenCommand?: string;
  readonly once: boolean;
  readonly push: boolean;
  readonly maxCommands?: number;
  readonly dpopKey?: string;
  readonly commandKeysFile?: string;
  readonly acceptNewKeys: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseAgentArgs(args: readonly string[]): CliOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        'base-url': { type: 'string' },
        token: { type: 'string' },
        'token-command': { type: 'string' },
        once: { type: 'boolean' },
        push: { type: 'boolean' },
        'max-commands': { type: 'string' },
        'dpop-key': { type: 'string' },
        'command-keys': { type: 'string' },
        'accept-new-keys': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const baseUrl = values['base-url'];
  if (typeof baseUrl !== 'string' || !/^https?:\/\/[^/]/.test(baseUrl)) throw new UsageError('--base-url must be an http(s) URL');
  const token = typeof values.token === 'string' ? values.token : undefined;
  const tokenCommandText = typeof values['token-command'] === 'string' ? values['token-command'] : undefined;
  if ((token === undefined) === (tokenCommandText === undefined)) throw new UsageError('give one of --token-command or --token');
  const max = values['max-commands'];
  if (max !== undefined && (typeof max !== 'string' || !/^\d{1,9}$/.test(max) || Number(max) < 1)) {
    throw new UsageError('--max-commands must be a whole number of at least 1');
  }
  const dpopKey = typeof values['dpop-key'] === 'string' ? values['dpop-key'] : undefined;
  // The push channel's upgrade carries no proof, and the service refuses a DPoP-bound token there.
  if (dpopKey !== undefined && values.push === true) throw new UsageError('--dpop-key does not go with --push');
  return {
    baseUrl,
    once: values.once === true,
    push: values.push === true,
    ...(token === undefined ? {} : { token }),
    ...(tokenCommandText === undefined ? {} : { tokenCommand: tokenCommandText }),
    ...(typeof max === 'string' ? { maxCommands: Number(max) } : {}),
    ...(dpopKey === undefined ? {} : { dpopKey }),
    ...(typeof values['command-keys'] === 'string' ? { commandKeysFile: values['command-keys'] } : {}),
    acceptNewKeys: values['accept-new-keys'] === true,
  };
}

/** One line per event, for people. */
export function eventLine(event: AgentEvent): string | undefined {
  switch (event.type) {
    case 'config':
      return `config: poll every ${event.pollIntervalSeconds} s, up to ${event.limit} commands per fetch`;
    case 'fetched':
      return event.count === 0 ? undefined : `fetched ${event.count} command(s)`;
    case 'duplicate':
      return `${event.commandId}: delivered again, already run`;
    case 'ran':
      return `${event.commandId}: ran ${event.command}: ${event.status}`;
    case 'accepted':
      return `${event.commandId}: result accepted (${event.status})`;
    case 'dropped':
      return `${event.commandId}: result dropped: ${event.status}${event.error ? ` ${event.error}` : ''}`;
    case 'retry':
      return `${event.method} ${event.path}: ${event.status ?? 'network error'}, try ${event.attempt + 1} in ${(event.delayMs / 1000).toFixed(1)} s`;
    case 'token':
      return `new token, next one at ${new Date(event.refreshAt).toISOString()}`;
    case 'error':
      return `error: ${event.message}`;
    case 'wake':
      return `woken (${event.reason}): polling now`;
    case 'push':
      return `push channel ${event.state}${event.detail === undefined ? '' : ` (${event.detail})`}`;
    case 'signature_invalid':
      return `${event.commandId}: refused ${event.command}, not run: signature_invalid: ${event.reason}`;
    case 'command_keys':
      return commandKeysLine(event.offer, event.kids);
    default:
      return undefined;
  }
}

function commandKeysLine(offer: KeyOffer, kids: readonly string[]): string {
  const pinned = kids.join(', ');
  switch (offer) {
    case 'pinned':
      return `command keys pinned from the first config: ${pinned}`;
    case 'pinned_insecure':
      return `warning: command keys pinned from a config read over plain http (whoever answered it chose them): ${pinned}; pass --command-keys FILE to pin known ones`;
    case 'replaced':
      return `command keys replaced by the config's (--accept-new-keys): ${pinned}`;
    case 'refused':
      return `warning: the config offers other command keys; refused, still pinned: ${pinned} (pass --accept-new-keys to take them)`;
    case 'absent':
      return kids.length === 0
        ? 'warning: the config carries no command keys: every command will be refused'
        : `config carries no command keys; still pinned: ${pinned}`;
    default:
      return `command keys: ${pinned}`;
  }
}

async function main(args: readonly string[]): Promise<number> {
  let options: CliOptions | 'help';
  try {
    options = parseAgentArgs(args);
  } catch (error) {
    console.error(`agent: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  const log = (event: AgentEvent) => {
    const line = eventLine(event);
    if (line !== undefined) console.log(`agent: ${line}`);
  };
  const tokens =
    options.tokenCommand === undefined
      ? fixedToken(options.token ?? '')
      : tokenCommand(options.tokenCommand, { onToken: (_token, refreshAt) => log({ type: 'token', refreshAt }) });
  let commandKeys: CommandKeyPin;
  try {
    commandKeys = new CommandKeyPin({
      ...(options.commandKeysFile === undefined ? {} : { keys: readKeysFile(options.commandKeysFile) }),
      acceptNewKeys: options.acceptNewKeys,
    });
  } catch (error) {
    console.error(`agent: --command-keys: ${(error as Error).message}`);
    return 2;
  }
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  const link = options.push && !options.once ? new PushLink({ baseUrl: options.baseUrl, tokens, log }) : undefined;
  link?.start();
  stop.signal.addEventListener('abort', () => link?.stop(), { once: true });
  try {
    const dpop = options.dpopKey === undefined ? undefined : await dpopKeyFile(options.dpopKey);
    const summary = await new Agent({
      baseUrl: options.baseUrl,
      tokens,
      log,
      commandKeys,
      ...(link === undefined ? {} : { wakeups: link }),
      ...(dpop === undefined ? {} : { dpop }),
    }).run({
      once: options.once,
      signal: stop.signal,
      ...(options.maxCommands === undefined ? {} : { maxCommands: options.maxCommands }),
    });
    console.log(
      `agent: stopped after ${summary.polls} poll(s): ${summary.ran} run, ${summary.accepted} accepted, ${summary.dropped} dropped, ${summary.unreported} not reported`,
    );
    return summary.unreported === 0 && (!options.once || summary.errors === 0) ? 0 : 1;
  } catch (error) {
    console.error(`agent: ${(error as Error).message}`);
    return 1;
  } finally {
    link?.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main(process.argv.slice(2));

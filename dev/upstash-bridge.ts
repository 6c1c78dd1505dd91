/**
 * Development tooling: a small HTTP server that speaks the Upstash REST protocol (what
 * `@upstash/redis` sends) in front of a real Redis, so the service's real client runs against a
 * real server locally and in tests. Never imported by functions/ or lib/runtime.ts, never bundled.
 *
 *   POST /            one command array            → {"result": ...} | 400 {"error": "..."}
 *   POST /pipeline    an array of command arrays   → [{"result"} | {"error"}, ...] (per entry)
 *   POST /multi-exec  the same, run as MULTI/EXEC  → as /pipeline; 400 {"error"} if Redis aborts it
 *
 * - `Authorization: Bearer <token>` or 401 {"error":"Unauthorized"}.
 * - `Upstash-Encoding: base64` (the client's default): every string of a result is base64 of its
 *   exact bytes, except a status reply "OK" which stays "OK"; integers stay numbers, nil stays
 *   null, arrays are encoded element by element. Without the header strings go out as UTF-8.
 * - Numbers (and booleans) in a command become strings; EVAL/EVALSHA/SCRIPT LOAD pass through,
 *   with one change where Upstash's Lua dialect meets Redis 7: the Upstash-only shebang flag
 *   `allow-key-locking` (Upstash then locks only the script's declared keys) is stripped before
 *   Redis sees the script, and EVALSHA of the script as the client hashed it runs the script as
 *   it was sent (see `UpstashDialect` below).
 * - The `upstash-sync-token` request header is echoed.
 * - When Redis cannot be reached the whole request gets 503 {"error"} at once (the TCP client
 *   has no offline queue), and the client reconnects in the background by itself.
 * - Commands that would hold or change the state of the one shared Redis connection (SUBSCRIBE,
 *   MONITOR, SELECT, blocking pops, MULTI outside /multi-exec, ...) are refused.
 *
 * One node-redis connection serves all requests: node-redis pipelines concurrent commands on it
 * in order, and MULTI/EXEC blocks are written as one unit, so transactions never interleave.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, ErrorReply, RESP_TYPES } from 'redis';

export interface BridgeOptions {
  readonly redisHost: string;
  readonly redisPort: number;
  /** Bearer token clients must send; a random one when omitted. */
  readonly token?: string;
  /** Loopback only: 127.0.0.1 (default), ::1 or localhost. */
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Where start-up warnings go (an evicting Redis); console.warn by default. */
  readonly warn?: (message: string) => void;
}

export interface UpstashBridge {
  /** Base URL for UPSTASH_REDIS_REST_URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** For UPSTASH_REDIS_REST_TOKEN. */
  readonly token: string;
  /** HTTP requests served so far (any path, any outcome), for round-trip counts in tests and benchmarks. */
  readonly requests: number;
  /** What the bridge warned about at start (an evicting maxmemory-policy), for tests. */
  readonly warnings: readonly string[];
  /** Fault injection: every request hangs this long before it is handled (0 turns it off). */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Connections at once: every client of the bridge is this machine's own service and tests. */
const MAX_CONNECTIONS = 256;

/** They would block, or change the state of, the connection every request shares. */
const REFUSED = new Set([
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'monitor',
  'select',
  'swapdb',
  'quit',
  'reset',
  'hello',
  'auth',
  'client',
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
  'blpop',
  'brpop',
  'brpoplpush',
  'blmove',
  'blmpop',
  'bzpopmin',
  'bzpopmax',
  'bzmpop',
  'wait',
  'waitaof',
  'sync',
  'psync',
  'replicaof',
  'slaveof',
  'shutdown',
  'debug',
]);

/** Blob strings as Buffers (exact bytes); status replies as strings, so "OK" can be told apart. */
const TYPE_MAPPING = { [RESP_TYPES.BLOB_STRING]: Buffer, [RESP_TYPES.SIMPLE_STRING]: String } as const;

class BadRequest extends Error {
  override name = 'BadRequest';
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

function toArgs(command: unknown): string[] {
  if (!Array.isArray(command) || command.length === 0) throw new BadRequest('ERR a command must be a non-empty array');
  return command.map((part) => {
    if (typeof part === 'string') return part;
    if (typeof part === 'number' || typeof part === 'boolean') return String(part);
    throw new BadRequest('ERR command arguments must be strings or numbers');
  });
}

function checkAllowed(args: readonly string[]): void {
  const name = (args[0] ?? '').toLowerCase();
  if (REFUSED.has(name)) throw new BadRequest(`ERR the command '${name}' is not supported by the local Upstash bridge`);
}

/** One value of a Redis reply in the Upstash JSON shape. */
function encode(value: unknown, base64: boolean): unknown {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value.toString(base64 ? 'base64' : 'utf8');
  if (typeof value === 'string') return !base64 || value === 'OK' ? value : Buffer.from(value, 'utf8').toString('base64');
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((item) => encode(item, base64));
  if (value instanceof ErrorReply) return encode(value.message, base64);
  return encode(String(value), base64);
}

type Entry = { result: unknown } | { error: string };

/** Shebang flags only Upstash knows; Redis 7 refuses a script that names them ("Unexpected flag"). */
const UPSTASH_ONLY_FLAGS: ReadonlySet<string> = new Set(['allow-key-locking']);

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/**
 * Upstash's script dialect on Redis 7. A script's `#!lua flags=...` line loses the Upstash-only
 * flags; when no flag is left the line goes, and the script runs as any script without flags
 * (Redis's compatible mode). Redis knows the script by the hash of what it was sent, the client
 * by the hash of what it wrote: EVAL and SCRIPT LOAD remember the pair, EVALSHA (and
 * EVALSHA_RO) with the client's hash run the script as sent, and SCRIPT LOAD answers the
 * client's hash. A hash the bridge has not seen goes through as it is: Redis answers NOSCRIPT
 * and the client sends EVAL, as it does after a SCRIPT FLUSH.
 */
/** The script as Redis 7 takes it: the Upstash-only flags stripped (the flags line gone when none is left). */
export function portableScript(script: string): string {
  return UpstashDialect.portable(script);
}

class UpstashDialect {
  private readonly sent = new Map<string, string>();

  static portable(script: string): string {
    const match = /^#!lua flags=([^\n]*)(\n|$)/.exec(script);
    if (match === null) return script;
    const kept = (match[1] ?? '')
      .split(',')
      .map((flag) => flag.trim())
      .filter((flag) => flag !== '' && !UPSTASH_ONLY_FLAGS.has(flag));
    const rest = script.slice(match[0].length);
    return kept.length > 0 ? `#!lua flags=${kept.join(',')}\n${rest}` : rest;
  }

  /** The command as Redis 7 takes it, and how to turn Redis's answer back into Upstash's. */
  rewrite(args: string[]): { args: string[]; answer?: string } {
    const name = (args[0] ?? '').toLowerCase();
    if ((name === 'eval' || name === 'eval_ro') && args[1] !== undefined) {
      const sent = this.remember(args[1]);
      return { args: [args[0] as string, sent, ...args.slice(2)] };
    }
    if ((name === 'evalsha' || name === 'evalsha_ro') && args[1] !== undefined) {
      const known = this.sent.get(args[1].toLowerCase());
      return known === undefined ? { args } : { args: [args[0] as string, known, ...args.slice(2)] };
    }
    if (name === 'script' && (args[1] ?? '').toLowerCase() === 'load' && args[2] !== undefined) {
      this.remember(args[2]);
      return { args: [args[0] as string, args[1] as string, UpstashDialect.portable(args[2])], answer: sha1(args[2]) };
    }
    return { args };
  }

  private remember(script: string): string {
    const sent = UpstashDialect.portable(script);
    if (sent !== script) this.sent.set(sha1(script), sha1(sent));
    return sent;
  }
}

/**
 * A Redis that evicts keys under memory pressure drops TTL'd revocation entries first
 * (`volatile-*`) or any key (`allkeys-*`): the denylist would fail open without an error. The
 * service needs `noeviction` (and persistence, which a development Redis often has off).
 */
async function evictionWarnings(redis: { sendCommand(args: string[]): Promise<unknown> }, where: string): Promise<string[]> {
  try {
    const reply = await redis.sendCommand(['CONFIG', 'GET', 'maxmemory-policy']);
    const policy = Array.isArray(reply) ? String(reply[1] ?? '') : '';
    if (policy === '' || policy === 'noeviction') return [];
    return [
      `biz-service bridge: the Redis at ${where} has maxmemory-policy=${policy}: under memory pressure it drops keys, revocations first, ` +
        'and revoked tokens would work again; set maxmemory-policy noeviction (see docs/deploy.md, "What the Redis must keep")',
    ];
  } catch {
    return []; // CONFIG may be renamed or refused (managed Redis): nothing to check here
  }
}

export async function startUpstashBridge(options: BridgeOptions): Promise<UpstashBridge> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw new Error(`the Upstash bridge listens on loopback only, not on ${JSON.stringify(host)}`);
  const token = options.token ?? randomBytes(24).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);

  const redis = createClient({
    socket: {
      host: options.redisHost,
      port: options.redisPort,
      connectTimeout: 2_000,
      // Keep trying, quickly, so the service recovers by itself once Redis is back.
      reconnectStrategy: (retries: number) => Math.min(50 * (retries + 1), 500),
    },
    // Fail at once while disconnected instead of queueing: the caller's timeout is not ours to spend.
    disableOfflineQueue: true,
    commandOptions: { typeMapping: TYPE_MAPPING },
  });
  let lastRedisError = '';
  redis.on('error', (error: Error) => {
    lastRedisError = error.message;
  });
  // The first connection attempt is awaited (so early requests do not fail needlessly), but
  // its failure is not: the bridge also starts, and answers 503, while Redis is down.
  const firstAttempt = new Promise<void>((resolve) => {
    redis.once('ready', () => resolve());
    redis.once('error', () => resolve());
  });
  void redis.connect().catch(() => {});
  await firstAttempt;
  const typed = redis.withTypeMapping(TYPE_MAPPING);
  const warnings = redis.isReady ? await evictionWarnings(redis, `${options.redisHost}:${options.redisPort}`) : [];
  for (const warning of warnings) (options.warn ?? console.warn)(warning);

  const unavailable = (error: unknown) =>
    new Error(
      `Redis at ${options.redisHost}:${options.redisPort} is unavailable: ${(error as Error).message}${lastRedisError ? ` (${lastRedisError})` : ''}`,
    );

  const dialect = new UpstashDialect();

  async function one(given: string[], base64: boolean): Promise<Entry> {
    try {
      checkAllowed(given);
      const { args, answer } = dialect.rewrite(given);
      const reply = await redis.sendCommand(args);
      return { result: encode(answer ?? reply, base64) };
    } catch (error) {
      if (error instanceof ErrorReply || error instanceof BadRequest) return { error: error.message };
      throw unavailable(error);
    }
  }

  async function pipeline(commands: string[][], base64: boolean): Promise<Entry[]> {
    // Issued in the same tick: node-redis writes them in order on the one connection.
    return Promise.all(commands.map((args) => one(args, base64)));
  }

  async function transaction(commands: string[][], base64: boolean): Promise<{ status: number; body: Entry | Entry[] }> {
    for (const args of commands) checkAllowed(args);
    const multi = typed.multi();
    for (const args of commands) multi.addCommand(dialect.rewrite(args).args);
    let replies: unknown[];
    try {
      replies = (await multi.exec()) as unknown[];
    } catch (error) {
      const failed = error as { replies?: unknown[] };
      if (error instanceof ErrorReply && Array.isArray(failed.replies)) {
        replies = failed.replies; // some commands failed while running: per entry, as Upstash does
      } else if (error instanceof ErrorReply) {
        return { status: 400, body: { error: error.message } }; // EXECABORT and the like
      } else {
        throw unavailable(error);
      }
    }
    return {
      status: 200,
      body: replies.map((reply) => (reply instanceof ErrorReply ? { error: reply.message } : { result: encode(reply, base64) })),
    };
  }

  let served = 0;
  let delayMs = 0;
  const timers = new Set<NodeJS.Timeout>();

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    served += 1;
    const reply = (status: number, body: unknown) => {
      if (res.destroyed || res.writableEnded) return;
      const syncToken = req.headers['upstash-sync-token'];
      res.writeHead(status, {
        'Content-Type': 'application/json',
        ...(typeof syncToken === 'string' ? { 'upstash-sync-token': syncToken } : {}),
      });
      res.end(JSON.stringify(body));
    };
    /** Answers without reading the body, and closes the connection so that no body is read later either. */
    const closeWith = (status: number, body: unknown) => {
      res.setHeader('Connection', 'close');
      reply(status, body);
      req.destroy();
    };

    // Method and token before a byte of the body is read: an unauthenticated client costs nothing.
    if (req.method !== 'POST') return closeWith(405, { error: 'ERR only POST is supported' });
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return closeWith(401, { error: 'Unauthorized' });

    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reply(413, { error: 'ERR request body too large' });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    }
    if (delayMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, delayMs);
        timers.add(timer);
      });
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(400, { error: 'ERR the body is not valid JSON' });
    }
    const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
    const path = new URL(req.url ?? '/', 'http://bridge').pathname.replace(/\/+$/, '') || '/';

    try {
      if (path === '/') {
        const entry = await one(toArgs(body), base64);
        return reply('error' in entry ? 400 : 200, entry);
      }
      if (path === '/pipeline' || path === '/multi-exec') {
        if (!Array.isArray(body) || body.length === 0) return reply(400, { error: 'ERR expected a non-empty array of commands' });
        const commands = body.map(toArgs);
        if (path === '/pipeline') return reply(200, await pipeline(commands, base64));
        const { status, body: out } = await transaction(commands, base64);
        return reply(status, out);
      }
      return reply(404, { error: `ERR unknown path ${path}` });
    } catch (error) {
      if (error instanceof BadRequest) return reply(400, { error: error.message });
      return reply(503, { error: (error as Error).message });
    }
  }

  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: `ERR ${(error as Error).message}` }));
      }
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
  } catch (error) {
    redis.destroy();
    throw error;
  }
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    token,
    warnings,
    get requests() {
      return served;
    },
    setDelay(ms: number) {
      delayMs = Math.max(0, ms);
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (redis.isReady) await redis.close().catch(() => redis.destroy());
      else if (redis.isOpen) redis.destroy();
    },
  };
}

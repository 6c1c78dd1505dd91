/** `bizops commands ...`, `bizops config get|set` and `bizops revoke`: one agent's side of the API. */
import { randomUUID } from 'node:crypto';
import { ApiError, seg } from './client.ts';
import { type Ctx, int, jsonOption, LISTING_OPTIONS, listing, print, printValue, readSource, str, UsageError, type Verb } from './cli.ts';
import { cell, clip, stateColor, table } from './format.ts';
import { historyLines } from './jobs.ts';

const commandPath = (ctx: Ctx) => `/api/agents/${seg(ctx.args[0] as string)}/commands/${seg(ctx.args[1] as string)}`;

/** A record as `name: value` lines. */
function fieldLines(record: Record<string, unknown>, ctx: Ctx): string[] {
  const width = Math.max(...Object.keys(record).map((key) => key.length));
  return Object.entries(record).map(([key, value]) => {
    const text = cell(value);
    return `${key.padEnd(width)}  ${key === 'status' ? stateColor(ctx.paint, text)(text) : text}`;
  });
}

/** `key=value` pairs: the value as JSON when it reads as JSON, else as a string. */
export function pairs(items: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const at = item.indexOf('=');
    if (at <= 0) throw new UsageError(`${JSON.stringify(item)}: expected KEY=VALUE`);
    const text = item.slice(at + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // a plain string
    }
    out[item.slice(0, at)] = value;
  }
  return out;
}

export const AGENT_VERBS: Verb[] = [
  {
    noun: 'commands',
    verb: 'enqueue',
    args: 'AGENT',
    positionals: [1, 1],
    summary: 'queue a command for one agent',
    help: 'Sends an Idempotency-Key (a new one each run), so a retry after a 503 never queues it twice.\nExample: bizops commands enqueue agent-001 --command restart --args \'{"service":"nginx"}\'',
    options: {
      command: { type: 'string', arg: 'NAME', text: 'the command (required)' },
      args: { type: 'string', arg: 'JSON', text: 'its arguments, a JSON object' },
      ttl: { type: 'string', arg: 'SECONDS', text: 'ttl_seconds: never delivered after it' },
      timeout: { type: 'string', arg: 'SECONDS', text: 'timeout_seconds from its first delivery' },
      'idempotency-key': { type: 'string', arg: 'KEY', text: 'the Idempotency-Key (a new one by default)' },
    },
    async run(ctx) {
      const command = str(ctx.values, 'command');
      if (command === undefined) throw new UsageError('give --command');
      const args = jsonOption(ctx.values, 'args');
      const ttl = int(ctx.values, 'ttl', 1, Number.MAX_SAFE_INTEGER);
      const timeout = int(ctx.values, 'timeout', 1, Number.MAX_SAFE_INTEGER);
      const body = {
        command,
        ...(args === undefined ? {} : { args }),
        ...(ttl === undefined ? {} : { ttl_seconds: ttl }),
        ...(timeout === undefined ? {} : { timeout_seconds: timeout }),
      };
      const answer = await ctx.api.request('POST', `/api/agents/${seg(ctx.args[0] as string)}/commands`, {
        body,
        headers: { 'idempotency-key': str(ctx.values, 'idempotency-key') ?? randomUUID() },
      });
      print(ctx, answer.text, () => fieldLines(answer.body, ctx));
      return 0;
    },
  },
  {
    noun: 'commands',
    verb: 'list',
    args: 'AGENT',
    positionals: [1, 1],
    summary: "an agent's commands, in enqueue order",
    options: {
      status: { type: 'string', arg: 'S,S', text: 'only these states (pending, delivered, in_progress, completed, failed, ...)' },
      ...LISTING_OPTIONS,
    },
    async run(ctx) {
      const page = await ctx.api.collect(`/api/agents/${seg(ctx.args[0] as string)}/commands`, 'commands', {
        ...listing(ctx.values),
        query: { status: str(ctx.values, 'status') },
      });
      printValue(ctx, page, () => [
        ...table(
          ['COMMAND_ID', 'COMMAND', 'STATUS', 'CREATED', 'JOB'],
          (page.commands as Record<string, any>[]).map((c) => [
            c.command_id,
            clip(c.command, 24),
            stateColor(ctx.paint, c.status)(c.status),
            cell(c.created_at),
            cell(c.job_id),
          ]),
          ctx.paint,
        ),
        ...(page.next_cursor ? [`more: --cursor ${page.next_cursor}`] : []),
      ]);
      return 0;
    },
  },
  {
    noun: 'commands',
    verb: 'get',
    args: 'AGENT ID',
    positionals: [2, 2],
    summary: 'one command, with its result',
    options: {},
    async run(ctx) {
      const answer = await ctx.api.get(commandPath(ctx));
      print(ctx, answer.text, () => fieldLines(answer.body, ctx));
      return 0;
    },
  },
  {
    noun: 'commands',
    verb: 'cancel',
    args: 'AGENT ID',
    positionals: [2, 2],
    summary: 'cancel a command that has not ended',
    options: { reason: { type: 'string', arg: 'TEXT', text: 'why (at most 256 characters)' } },
    async run(ctx) {
      const reason = str(ctx.values, 'reason');
      const answer = await ctx.api.request('POST', `${commandPath(ctx)}/cancel`, reason === undefined ? {} : { body: { reason } });
      print(ctx, answer.text, () => fieldLines(answer.body, ctx));
      return 0;
    },
  },
  {
    noun: 'commands',
    verb: 'history',
    args: 'AGENT ID',
    positionals: [2, 2],
    summary: "a command's transitions in order (its history; on an older service, from its times)",
    options: {},
    async run(ctx) {
      const answer = await ctx.api.get(commandPath(ctx));
      // --json: the command as the API answers it (with its `history` where the service keeps one).
      print(ctx, answer.text, () => historyLines(answer.body, ctx));
      return 0;
    },
  },
  {
    noun: 'config',
    verb: 'get',
    args: '[AGENT]',
    positionals: [0, 1],
    summary: "an agent's configuration: defaults merged with its overrides",
    help: [
      "Without AGENT: GET /api/config, the configuration of the token's own agent (an agent token).",
      'With AGENT: GET /api/agents/{agent}/config, where the service has it; otherwise `config set`',
      'answers the merged configuration it wrote.',
    ].join('\n'),
    options: {},
    async run(ctx) {
      const agent = ctx.args[0];
      const answer = await ctx.api.get(agent === undefined ? '/api/config' : `/api/agents/${seg(agent)}/config`).catch((error: unknown) => {
        if (error instanceof ApiError && error.status === 405) {
          throw new ApiError({
            ...error,
            description: "this service has no operator read of an agent's configuration; config set answers the merged one",
          });
        }
        throw error;
      });
      print(ctx, answer.text, () => fieldLines(answer.body.config ?? {}, ctx));
      return 0;
    },
  },
  {
    noun: 'config',
    verb: 'set',
    args: 'AGENT [KEY=VALUE...]',
    positionals: [1, Number.MAX_SAFE_INTEGER],
    summary: "replace an agent's overrides; answers the merged configuration",
    help: [
      'The overrides given replace the previous ones whole (they are not merged with them).',
      'Values read as JSON when they are (10, true, "x", {...}), else as strings.',
      'Example: bizops config set agent-001 poll_interval_seconds=10 region=eu',
    ].join('\n'),
    options: { file: { type: 'string', arg: 'FILE', text: 'the overrides as a JSON object from FILE (- for stdin)' } },
    async run(ctx) {
      const file = str(ctx.values, 'file');
      let body: Record<string, unknown> = {};
      if (file !== undefined) {
        try {
          body = JSON.parse(await readSource(ctx, file));
        } catch (error) {
          if (error instanceof UsageError) throw error;
          throw new UsageError(`--file ${file}: not JSON`);
        }
      }
      Object.assign(body, pairs(ctx.args.slice(1)));
      if (file === undefined && ctx.args.length < 2) throw new UsageError('give KEY=VALUE pairs or --file');
      const answer = await ctx.api.request('PUT', `/api/agents/${seg(ctx.args[0] as string)}/config`, { body });
      print(ctx, answer.text, () => fieldLines(answer.body.config ?? answer.body, ctx));
      return 0;
    },
  },
  {
    noun: 'revoke',
    verb: '',
    args: '',
    positionals: [0, 0],
    summary: 'revoke tokens: every token of a subject, one token by jti, or one token given whole',
    help: [
      'One of: --sub SUBJECT (every token issued to it until now), --jti JTI --exp EPOCH_SECONDS,',
      'or --token-file FILE (- for stdin): the token to revoke is read, never taken as an argument,',
      'so it stays out of the shell history. The service needs admin:revoke.',
    ].join('\n'),
    options: {
      sub: { type: 'string', arg: 'SUBJECT', text: 'revoke every token of SUBJECT issued until now' },
      jti: { type: 'string', arg: 'JTI', text: 'one token by its jti ...' },
      exp: { type: 'string', arg: 'SECONDS', text: '... with its exp (epoch seconds)' },
      'token-file': { type: 'string', arg: 'FILE', text: 'one token, read from FILE (- for stdin)' },
    },
    async run(ctx) {
      const sub = str(ctx.values, 'sub');
      const jti = str(ctx.values, 'jti');
      const file = str(ctx.values, 'token-file');
      const given = [sub, jti, file].filter((value) => value !== undefined).length;
      if (given !== 1) throw new UsageError('give one of --sub, --jti with --exp, or --token-file');
      let body: Record<string, unknown>;
      if (sub !== undefined) body = { sub };
      else if (jti !== undefined) {
        const exp = int(ctx.values, 'exp', 1, Number.MAX_SAFE_INTEGER);
        if (exp === undefined) throw new UsageError('--jti needs --exp');
        body = { jti, exp };
      } else body = { token: (await readSource(ctx, file as string)).trim() };
      await ctx.api.request('POST', '/api/revocations', { body });
      if (ctx.json) ctx.out(`${JSON.stringify({ revoked: true, ...(sub ? { sub } : {}), ...(jti ? { jti } : {}) })}\n`);
      else
        ctx.out(
          `revoked ${sub !== undefined ? `every token of ${sub} issued until now` : jti !== undefined ? `token ${jti}` : 'the token'}\n`,
        );
      return 0;
    },
  },
];

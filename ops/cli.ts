/**
 * bizops's frame: the verb table, the global options, argument parsing, help for every noun and
 * verb, and how errors are told. The verbs themselves are in jobs.ts, groups.ts and agents.ts.
 *
 * Arguments are parsed by Node's own util.parseArgs, as the tools in dev/ do: kept with Node, no
 * dependency to install or audit, and strict (an unknown option or a missing value exits 2). What
 * it lacks, subcommands and help, is the verb table below. Terminal output is plain ANSI (four
 * colours, bold, one cursor move to redraw the watch: format.ts and watch.ts), which a library
 * would not make shorter.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fixedToken, type TokenSource, tokenCommand } from '../dev/agent.ts';
import { Api, ApiError, NetworkError } from './client.ts';
import { type Paint, paintFor } from './format.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's name in the help (`--limit N`). */
  readonly arg?: string;
  readonly text: string;
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Ctx {
  readonly api: Api;
  readonly values: Values;
  /** The positionals after the noun and the verb. */
  readonly args: readonly string[];
  readonly json: boolean;
  /** Writes to standard output (no newline added). */
  readonly out: (text: string) => void;
  /** Writes a line to standard error. */
  readonly err: (line: string) => void;
  readonly paint: Paint;
  readonly tty: boolean;
  readonly columns: number;
  readonly stdin: () => Promise<string>;
  readonly signal: AbortSignal;
}

export interface Verb {
  readonly noun: string;
  /** '' for a noun that is its own verb (revoke). */
  readonly verb: string;
  /** The positionals, as the usage line shows them (`ID`, `GROUP [ID...]`). */
  readonly args: string;
  readonly positionals: readonly [number, number];
  readonly summary: string;
  /** More lines for --help. */
  readonly help?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  run(ctx: Ctx): Promise<number>;
}

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  'base-url': { type: 'string', arg: 'URL', text: 'the service (BIZ_BASE_URL; default http://127.0.0.1:5000)' },
  token: { type: 'string', arg: 'TOKEN', text: 'an operator token (others may see it in ps: prefer BIZ_TOKEN or --token-command)' },
  'token-command': {
    type: 'string',
    arg: 'CMD',
    text: 'a shell command that prints the token, run again before it expires (BIZ_TOKEN_COMMAND)',
  },
  json: { type: 'boolean', text: "print the API's JSON as it is, for scripts" },
  help: { type: 'boolean', short: 'h', text: 'this text' },
};

export const DEFAULT_BASE_URL = 'http://127.0.0.1:5000';

function parseConfig(specs: Readonly<Record<string, OptionSpec>>) {
  return Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      { type: spec.type, ...(spec.multiple ? { multiple: true } : {}), ...(spec.short ? { short: spec.short } : {}) },
    ]),
  );
}

function optionLines(specs: Readonly<Record<string, OptionSpec>>): string[] {
  const rows = Object.entries(specs).map(([name, spec]) => [
    `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.arg ? ` ${spec.arg}` : ''}`,
    spec.text,
  ]);
  const width = Math.max(...rows.map(([left]) => (left as string).length));
  return rows.map(([left, text]) => `  ${(left as string).padEnd(width)}  ${text}`);
}

function verbName(verb: Verb): string {
  return verb.verb === '' ? verb.noun : `${verb.noun} ${verb.verb}`;
}

export function verbHelp(verb: Verb): string {
  const own = Object.keys(verb.options).length > 0 ? ['', 'options:', ...optionLines(verb.options)] : [];
  return [
    `usage: bizops ${verbName(verb)}${verb.args ? ` ${verb.args}` : ''} [options]`,
    '',
    verb.summary,
    ...(verb.help ? ['', verb.help] : []),
    ...own,
    '',
    'global options:',
    ...optionLines(GLOBAL_OPTIONS),
  ].join('\n');
}

export function mainHelp(verbs: readonly Verb[], noun?: string): string {
  const shown = verbs.filter((verb) => noun === undefined || verb.noun === noun);
  const width = Math.max(...shown.map((verb) => `${verbName(verb)} ${verb.args}`.length));
  return [
    noun === undefined
      ? 'usage: bizops <noun> <verb> [options]   (npm run ops -- <noun> <verb> [options])'
      : `usage: bizops ${noun} <verb> [options]`,
    '',
    ...shown.map((verb) => `  ${`${verbName(verb)} ${verb.args}`.padEnd(width)}  ${verb.summary}`),
    '',
    'global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    `bizops <noun> <verb> --help tells more. Exit codes: 0 done, 1 the API or the network refused, 2 bad usage,`,
    '3 and 4 from jobs watch (the job aborted, canceled).',
  ].join('\n');
}

export interface Io {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  readonly stderr: { write(text: string): unknown; isTTY?: boolean };
  readonly stdin: () => Promise<string>;
  readonly signal: AbortSignal;
}

/** Runs one command line; answers the exit code. */
export async function run(verbs: readonly Verb[], io: Io): Promise<number> {
  const err = (line: string) => io.stderr.write(`${line}\n`);
  const usage = (message: string, hint: string) => {
    err(`bizops: ${message}`);
    err(hint);
    return 2;
  };
  // A first, lenient pass with every option any verb knows (so that option values are not taken
  // for positionals) finds the noun and the verb; the strict pass then knows their options.
  const every: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS };
  for (const verb of verbs) Object.assign(every, verb.options);
  const loose = parseArgs({ args: [...io.argv], options: parseConfig(every), strict: false, allowPositionals: true });
  const [noun, verbWord] = loose.positionals;
  const nouns = [...new Set(verbs.map((verb) => verb.noun))];
  if (noun === undefined) {
    if (loose.values.help === true) {
      io.stdout.write(`${mainHelp(verbs)}\n`);
      return 0;
    }
    return usage('give a noun and a verb', mainHelp(verbs));
  }
  if (!nouns.includes(noun)) return usage(`unknown command ${JSON.stringify(noun)}`, mainHelp(verbs));
  const own = verbs.filter((verb) => verb.noun === noun);
  const verb = own.length === 1 && own[0]?.verb === '' ? own[0] : own.find((candidate) => candidate.verb === verbWord);
  if (verb === undefined) {
    if (verbWord === undefined && loose.values.help === true) {
      io.stdout.write(`${mainHelp(verbs, noun)}\n`);
      return 0;
    }
    return usage(
      verbWord === undefined ? `${noun}: give a verb` : `${noun}: unknown verb ${JSON.stringify(verbWord)}`,
      mainHelp(verbs, noun),
    );
  }
  const hint = `see bizops ${verbName(verb)} --help`;
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...io.argv],
      options: parseConfig({ ...GLOBAL_OPTIONS, ...verb.options }),
      strict: true,
      allowPositionals: true,
    }) as { values: Values; positionals: string[] });
  } catch (error) {
    return usage((error as Error).message, hint);
  }
  if (values.help === true) {
    io.stdout.write(`${verbHelp(verb)}\n`);
    return 0;
  }
  const args = positionals.slice(verb.verb === '' ? 1 : 2);
  const [min, max] = verb.positionals;
  if (args.length < min) return usage(`${verbName(verb)}: missing ${verb.args}`, hint);
  if (args.length > max) return usage(`${verbName(verb)}: unexpected argument ${JSON.stringify(args[max])}`, hint);

  let api: Api;
  try {
    api = new Api({
      baseUrl: baseUrlOf(values, io.env),
      tokens: tokensOf(values, io.env),
      onRetry: ({ status, waitMs, attempt, tries }) =>
        err(`bizops: ${status} from the service, trying again in ${(waitMs / 1000).toFixed(1)} s (try ${attempt + 1} of ${tries})`),
    });
  } catch (error) {
    if (error instanceof UsageError) return usage(error.message, hint);
    throw error;
  }
  const paint = paintFor(io.stdout, io.env);
  const ctx: Ctx = {
    api,
    values,
    args,
    json: values.json === true,
    out: (text) => io.stdout.write(text),
    err,
    paint,
    tty: io.stdout.isTTY === true,
    columns: io.stdout.columns ?? 80,
    stdin: io.stdin,
    signal: io.signal,
  };
  try {
    return await verb.run(ctx);
  } catch (error) {
    if (error instanceof UsageError) return usage(error.message, hint);
    if (error instanceof ApiError) {
      for (const line of describeApiError(error)) err(line);
      if (ctx.json && error.text.trim().startsWith('{')) io.stdout.write(`${error.text.trim()}\n`);
      return 1;
    }
    if (error instanceof NetworkError) {
      err(`bizops: ${error.message}`);
      return 1;
    }
    if ((error as Error).name === 'AbortError' || io.signal.aborted) return 130;
    err(`bizops: ${(error as Error).message}`);
    return 1;
  }
}

/** The lines an API error is told in: status, error, description, request id. */
export function describeApiError(error: ApiError): string[] {
  const lines = [`bizops: ${error.method} ${error.path}: ${error.message}`];
  if (error.requestId) lines.push(`bizops: request_id ${error.requestId}`);
  return lines;
}

function baseUrlOf(values: Values, env: NodeJS.ProcessEnv): string {
  const url = (values['base-url'] as string | undefined) ?? env.BIZ_BASE_URL ?? DEFAULT_BASE_URL;
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError('--base-url (or BIZ_BASE_URL) must be an http(s) URL');
  return url;
}

function tokensOf(values: Values, env: NodeJS.ProcessEnv): TokenSource {
  const token = values.token as string | undefined;
  const command = values['token-command'] as string | undefined;
  if (token !== undefined && command !== undefined) throw new UsageError('give --token or --token-command, not both');
  if (token !== undefined) return fixedToken(token);
  if (command !== undefined) return tokenCommand(command, { env });
  if (env.BIZ_TOKEN) return fixedToken(env.BIZ_TOKEN.trim());
  if (env.BIZ_TOKEN_COMMAND) return tokenCommand(env.BIZ_TOKEN_COMMAND, { env });
  throw new UsageError('no token: give --token, --token-command, or set BIZ_TOKEN');
}

// Helpers the verbs share.

export function str(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function list(values: Values, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

/** A whole number option within bounds, or undefined when absent. */
export function int(values: Values, name: string, min: number, max: number): number | undefined {
  const value = str(values, name);
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  }
  return Number(value);
}

/** A JSON option's value. */
export function jsonOption(values: Values, name: string): unknown {
  const value = str(values, name);
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    throw new UsageError(`--${name} must be JSON (e.g. '{"service":"nginx"}')`);
  }
}

/** The text of a file, or of standard input for `-`. */
export async function readSource(ctx: Ctx, file: string): Promise<string> {
  if (file === '-') return ctx.stdin();
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Prints an answer: its JSON as received with --json, the human lines otherwise. */
export function print(ctx: Ctx, text: string, human: () => string[]): void {
  if (ctx.json) ctx.out(`${text.trim()}\n`);
  else ctx.out(`${human().join('\n')}\n`);
}

/** Prints a gathered listing: its JSON with --json, the human lines otherwise. */
export function printValue(ctx: Ctx, value: unknown, human: () => string[]): void {
  print(ctx, JSON.stringify(value, null, 2), human);
}

export const LISTING_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  limit: { type: 'string', arg: 'N', text: 'show at most N items (default 50; pages are followed until N or the end)' },
  all: { type: 'boolean', text: 'every item, page after page' },
  cursor: { type: 'string', arg: 'CURSOR', text: 'start from this next_cursor' },
};

export function listing(values: Values): { limit: number; all: boolean; cursor?: string } {
  const cursor = str(values, 'cursor');
  return { limit: int(values, 'limit', 1, 1_000_000) ?? 50, all: values.all === true, ...(cursor === undefined ? {} : { cursor }) };
}

/**
 * The Lua of the Redis store, read from files: lib/store/lua/<script>.lua, one per script (and
 * gate.lua, the admission preamble), with the rules they share in lua/rules/<name>.lua (each the
 * twin of the TypeScript function of that name) and the storage plumbing in lua/include/<name>.lua.
 *
 * A line `--- @include rules/<name>` (or `include/<name>`, `generated/<name>`) is replaced by
 * that file's text, its own includes first; each file comes once per script (a later include of
 * it is dropped), a cycle or a file that does not exist is refused. `generated/<name>` is made
 * here from the TypeScript constants the Lua needs (the hash field lists of fields.ts, one file per list, the command
 * statuses, the job reasons and the rollout window), so those are written once. Whole-line
 * comments and blank lines are left out of what is assembled: the text sent is the code alone.
 *
 * The assembled text of a script (assembleScript) is what the client sends and hashes. A file
 * that is already assembled (no include left, as a bundle ships it) assembles to itself, so the
 * loader reads `./lua/<name>.lua` beside this module alike from the source tree and from a bundle
 * whose index.mjs has the assembled scripts in `lua/` beside it. Nothing is read at import: a
 * script's file is read the first time the script is asked for, and kept.
 */
import { readFileSync } from 'node:fs';
import { HISTORY_KEPT } from '../commands/history.ts';
import { COMMAND_STATUSES, TERMINAL_STATUSES } from '../commands/model.ts';
import { MAX_ROLLOUT_PER_MINUTE, ROLLOUT_WINDOW_MS } from '../jobs/model.ts';
import { ABORT_REASON, JOB_CANCEL_REASON, RESULT_EXCERPT_BYTES, RETRY_REASON, SCHEDULE_END_REASON } from '../jobs/rules.ts';
import { LUA_FIELD_LISTS } from './fields.ts';

/** Every script file of lib/store/lua (kebab-case names, `.lua` left out); `gate` is the admission preamble. */
export const SCRIPT_FILES = [
  'admit',
  'enqueue',
  'fetch',
  'complete',
  'cancel',
  'list',
  'raise-cutoff',
  'group-join',
  'group-leave',
  'group-bulk',
  'group-members',
  'agent-groups',
  'revoke-token',
  'get-command',
  'get-config',
  'put-config',
  'job-create',
  'job-create-step',
  'job-dry-run',
  'job-get',
  'job-list',
  'job-executions',
  'job-execution',
  'job-cancel',
  'push-register',
  'push-remove',
  'push-connections',
  'push-jti',
  'job-pause',
  'sign-executions',
  'gate',
] as const;
export type ScriptFile = (typeof SCRIPT_FILES)[number];

/** Upstash's flag for a script that declares every key it touches. */
export const KEY_LOCKING_FLAG = 'allow-key-locking';

/** Gives the text of a Lua file by its name (`rules/statusOf`), undefined when there is none. */
export type LuaReader = (name: string) => string | undefined;

const INCLUDE = /^--- @include (\S+)$/;
const FILE_NAME = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/;

/**
 * The script `name` with every include replaced (depth first, each file once), whole-line
 * comments and blank lines left out, ending in one newline.
 */
export function resolveIncludes(name: string, read: LuaReader): string {
  const done = new Set<string>();
  const out: string[] = [];
  const visit = (file: string, stack: readonly string[]): void => {
    if (stack.includes(file)) throw new Error(`Lua include cycle: ${[...stack.slice(stack.indexOf(file)), file].join(' -> ')}`);
    if (done.has(file)) return;
    const from = stack.at(-1);
    const text = FILE_NAME.test(file) ? read(file) : undefined;
    if (text === undefined) throw new Error(from === undefined ? `no Lua file ${file}` : `${from} includes ${file}: no such Lua file`);
    const path = [...stack, file];
    const lines = text.split('\n');
    for (const [index, raw] of lines.entries()) {
      const line = raw.trimEnd();
      const code = line.trimStart();
      const include = INCLUDE.exec(line);
      if (include !== null) {
        visit(include[1] ?? '', path);
        continue;
      }
      if (line.includes('@include')) throw new Error(`${file}:${index + 1}: not an include line: ${line}`);
      if (code.startsWith('--[[')) throw new Error(`${file}:${index + 1}: a block comment (only whole-line -- comments are left out)`);
      if (code.startsWith('#!') && (from !== undefined || index > 0))
        throw new Error(`${file}:${index + 1}: a flags line not at the top of a script`);
      if (code !== '' && !code.startsWith('--')) out.push(line);
    }
    done.add(file);
  };
  visit(name, []);
  return `${out.join('\n')}\n`;
}

/** Reads `<root><name>.lua`; `generated/<name>` comes from `generated` instead. */
export function fileReader(root: URL, generated: Readonly<Record<string, string>> = generatedLua()): LuaReader {
  return (name) => {
    if (name.startsWith('generated/')) {
      const generatedName = name.slice('generated/'.length);
      return Object.hasOwn(generated, generatedName) ? generated[generatedName] : undefined;
    }
    try {
      return readFileSync(new URL(`${name}.lua`, root), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };
}

/** A Lua string literal for a plain ASCII value. */
function luaString(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value)) throw new Error(`not plain ASCII: ${JSON.stringify(value)}`);
  return `'${value.replace(/[\\']/g, (char) => `\\${char}`)}'`;
}

const luaList = (values: readonly string[]) => `{ ${values.map(luaString).join(', ')} }`;

/** The generated includes, from the TypeScript that owns each value. */
export function generatedLua(): Record<string, string> {
  // One file per list, `generated/fields/<NAME>`, and `generated/fields` including them all: each
  // `local X = {...}` builds its table on every run of the script, so a script that can answer
  // early (fetch) includes the one list it reads first and the rest after that answer.
  const lists = Object.entries(LUA_FIELD_LISTS);
  return {
    fields: [
      '-- generated by lib/store/lua.ts from lib/store/fields.ts: the lists of hash fields the scripts read and count',
      ...lists.map(([name]) => `--- @include generated/fields/${name}`),
    ].join('\n'),
    ...Object.fromEntries(lists.map(([name, list]) => [`fields/${name}`, `local ${name} = ${luaList(list)}`])),
    constants: [
      '-- generated by lib/store/lua.ts from lib/commands/model.ts, lib/commands/history.ts, lib/jobs/model.ts and lib/jobs/rules.ts',
      `local COMMAND_STATUSES = ${luaList(COMMAND_STATUSES)}`,
      `local TERMINAL_STATUSES = ${luaList(TERMINAL_STATUSES)}`,
      `local ROLLOUT_WINDOW_MS = ${String(ROLLOUT_WINDOW_MS)}`,
      `local MAX_ROLLOUT_PER_MINUTE = ${String(MAX_ROLLOUT_PER_MINUTE)}`,
      `local ABORT_REASON = ${luaString(ABORT_REASON)}`,
      `local JOB_CANCEL_REASON = ${luaString(JOB_CANCEL_REASON)}`,
      `local HISTORY_KEPT = ${String(HISTORY_KEPT)}`,
      `local SCHEDULE_END_REASON = ${luaString(SCHEDULE_END_REASON)}`,
      `local RETRY_REASON = ${luaString(RETRY_REASON)}`,
      `local RESULT_EXCERPT_BYTES = ${String(RESULT_EXCERPT_BYTES)}`,
    ].join('\n'),
  };
}

/** lib/store/lua/, beside this module (in a bundle: beside index.mjs). */
const LUA_ROOT = new URL('./lua/', import.meta.url);
const assembled = new Map<string, string>();

/** The script's whole text as sent (and as a bundle ships it): its file with every include resolved. Read once. */
export function assembleScript(name: ScriptFile): string {
  let text = assembled.get(name);
  if (text === undefined) {
    text = resolveIncludes(name, fileReader(LUA_ROOT));
    assembled.set(name, text);
  }
  return text;
}

/**
 * Any file under lib/store/lua assembled alone, not kept: a rule (`rules/<name>`) with what it
 * includes, which runs in EVAL with a call appended (`return cjson.encode(<name>(...))`).
 */
export function assembleLua(name: string): string {
  return resolveIncludes(name, fileReader(LUA_ROOT));
}

/** The script files read so far in this process (by assembleScript), for the tests that no store reads one early. */
export function scriptsRead(): string[] {
  return [...assembled.keys()];
}

/** What the loader checks a file against: its descriptor in lib/store/scripts.ts. */
export interface ScriptHeader {
  readonly name: ScriptFile;
  readonly keys: readonly string[];
  readonly args: readonly string[];
  readonly lockKeys: boolean;
}

const LUA_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LUA_RESERVED = new Set(
  'and break do else elseif end false for function if in local nil not or repeat return then true until while'.split(' '),
);

/** The flags line (when every key is declared) and one binding per input, KEYS then ARGV, in order. */
function headerLines(keys: readonly string[], args: readonly string[], lockKeys: boolean): string[] {
  return [
    ...(lockKeys ? [`#!lua flags=${KEY_LOCKING_FLAG}`] : []),
    ...keys.map((name, i) => `local ${name} = KEYS[${i + 1}]`),
    ...args.map((name, i) => `local ${name} = ARGV[${i + 1}]`),
  ];
}

/**
 * The whole script from its inputs and body: the header, then the body. Refuses an input name
 * that is no Lua local name or is given twice, a body that reaches into KEYS or ARGV itself, and
 * a body that declares a local of an input's name (it would hide the input).
 */
export function scriptText(keys: readonly string[], args: readonly string[], lockKeys: boolean, body: string): string {
  const names = [...keys, ...args];
  for (const name of names) {
    if (!LUA_NAME.test(name) || LUA_RESERVED.has(name)) throw new Error(`not a Lua local name: ${name}`);
  }
  if (new Set(names).size !== names.length) throw new Error(`a script input is named twice: ${names.join(', ')}`);
  if (/\b(KEYS|ARGV)\s*\[/.test(body)) throw new Error('a script body uses its inputs by name, never KEYS[i] or ARGV[i]');
  for (const name of names) {
    if (new RegExp(`\\blocal\\s+(function\\s+)?${name}\\b`).test(body)) throw new Error(`the body hides the input ${name}`);
  }
  return `${headerLines(keys, args, lockKeys).join('\n')}\n${body.trim()}\n`;
}

/**
 * The script's body: its assembled file less the header, which must be the one its descriptor
 * makes (the flags line exactly when it locks keys, then its inputs in order); a file that says
 * otherwise is refused, naming the script.
 */
export function scriptBody(script: ScriptHeader, text: string = assembleScript(script.name)): string {
  const header = headerLines(script.keys, script.args, script.lockKeys);
  const lines = text.split('\n');
  header.forEach((expected, i) => {
    if (lines[i] !== expected) {
      throw new Error(
        `lua/${script.name}.lua: line ${i + 1} is ${JSON.stringify(lines[i] ?? '')}; its descriptor in lib/store/scripts.ts says ${JSON.stringify(expected)}`,
      );
    }
  });
  const body = lines.slice(header.length).join('\n').trim();
  try {
    scriptText(script.keys, script.args, script.lockKeys, body);
  } catch (error) {
    throw new Error(`lua/${script.name}.lua: ${(error as Error).message}`);
  }
  return body;
}

/** The action behind the gate, one body: the gate's preamble, then the action as a function whose answer follows the verdict. */
export function gatedBody(gateBody: string, actionBody: string): string {
  return `${gateBody}\nlocal function action()\n${actionBody}\nend\n${GATE_REPLY}`;
}

/**
 * How a gated script ends: the verdict, the gate's note and the action's answer; for a write
 * (`gateCall` not ''), that reply is kept under the call's id so that a retry of the same call
 * answers it (gate.lua returns it first thing). Under pcall: a Redis that refuses writes still
 * answers what the action decided (a write of the action has failed the script by then).
 */
const GATE_REPLY = `local gateReply = {'ok', limitNote, action()}
if gateCall ~= '' then redis.pcall('SET', gateReplyKey, cjson.encode(gateReply), 'PX', gateReplyMs) end
return gateReply`;

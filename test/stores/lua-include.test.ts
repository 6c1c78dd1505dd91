/**
 * The Lua files of the Redis store and how they are put together (lib/store/lua.ts): the include
 * resolver on small trees of its own (order, each file once, nesting, cycles, missing files), the
 * real scripts assembled as a bundle ships them, each rule runnable alone in EVAL, and a store
 * that reads a script's file only when it first runs that script.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import {
  assembleLua,
  assembleScript,
  fileReader,
  generatedLua,
  resolveIncludes,
  SCRIPT_FILES,
  scriptBody,
  scriptsRead,
} from '../../lib/store/lua.ts';
import { createUpstashStores } from '../../lib/store/upstash.ts';
import { HAS_REDIS, redisEnv, type TcpClient, tcpClient } from '../helpers/redis.ts';
import { type RedisTarget, redisTarget } from '../helpers/targets.ts';
import { TEST_ENV } from '../helpers/tokens.ts';

const RULES = readdirSync('lib/store/lua/rules').map((file) => file.replace(/\.lua$/, ''));

/** A tree of Lua files in a temp dir, `name` -> text; read as the loader reads lib/store/lua. */
function tree(files: Record<string, string>, generated: Record<string, string> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'lua-include-'));
  roots.push(root);
  for (const [name, text] of Object.entries(files)) {
    const path = join(root, `${name}.lua`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  const read = fileReader(pathToFileURL(`${root}/`), generated);
  return (name: string) => resolveIncludes(name, read);
}
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

// Runs first: nothing in this file has assembled a script yet.
describe.skipIf(!HAS_REDIS)('a store and the script files', () => {
  const fixture: RedisTarget = redisTarget('lua-read');

  it('reads no file when made, and only the gate and its script when a call first runs', async () => {
    const stores = createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(fixture.bridge, fixture.prefix) }));
    expect(scriptsRead()).toEqual([]);

    const now = Date.now();
    await stores.admitted({ token: { jti: 'j-1', sub: 'agent-1', iat: 1, exp: 2 }, now }).commands.getConfig('agent-1');

    expect(scriptsRead().sort()).toEqual(['gate', 'get-config']);
    await stores.unchecked.commands.getConfig('agent-1');
    expect(scriptsRead().sort()).toEqual(['gate', 'get-config']);
  });
});

describe('the include resolver', () => {
  it('puts each included file where its include line was, its own includes first, in order', () => {
    const resolve = tree({
      main: '--- @include rules/a\n--- @include rules/b\nreturn a() + b()\n',
      'rules/a': '--- @include include/c\nlocal function a() return c() end\n',
      'rules/b': 'local function b() return 2 end\n',
      'include/c': 'local function c() return 1 end\n',
    });

    expect(resolve('main')).toBe(
      [
        'local function c() return 1 end',
        'local function a() return c() end',
        'local function b() return 2 end',
        'return a() + b()',
        '',
      ].join('\n'),
    );
  });

  it('takes each file once per script: a later include of it is dropped', () => {
    const resolve = tree({
      main: '--- @include rules/a\n--- @include rules/b\n--- @include include/c\nreturn 0\n',
      'rules/a': '--- @include include/c\nlocal a = 1\n',
      'rules/b': '--- @include include/c\n--- @include rules/a\nlocal b = 2\n',
      'include/c': 'local c = 3\n',
    });

    expect(resolve('main')).toBe('local c = 3\nlocal a = 1\nlocal b = 2\nreturn 0\n');
  });

  it('follows includes however deep they nest', () => {
    const resolve = tree({
      main: '--- @include x/one\nreturn 1\n',
      'x/one': '--- @include x/two\none()\n',
      'x/two': '--- @include x/three\ntwo()\n',
      'x/three': 'three()\n',
    });

    expect(resolve('main')).toBe('three()\ntwo()\none()\nreturn 1\n');
  });

  it('refuses a cycle, naming it', () => {
    const resolve = tree({
      main: '--- @include rules/a\n',
      'rules/a': '--- @include rules/b\n',
      'rules/b': '--- @include rules/a\n',
      self: '--- @include self\n',
    });

    expect(() => resolve('main')).toThrow('Lua include cycle: rules/a -> rules/b -> rules/a');
    expect(() => resolve('self')).toThrow('Lua include cycle: self -> self');
  });

  it('refuses a file that does not exist, naming it and the file that includes it', () => {
    const resolve = tree({ main: '--- @include rules/a\n', 'rules/a': '--- @include rules/nowhere\n' });

    expect(() => resolve('main')).toThrow('rules/a includes rules/nowhere: no such Lua file');
    expect(() => resolve('absent')).toThrow('no Lua file absent');
    expect(() => tree({ main: '--- @include ../main\n' })('main')).toThrow('main includes ../main: no such Lua file');
  });

  it('leaves no include, whole-line comment or blank line in what it assembles, and refuses a line it cannot read', () => {
    const resolve = tree({
      main: '-- what main does\n--- @include rules/a\n\nlocal x = 1 -- kept: code comes first\n  -- indented, left out\nreturn x\n',
      'rules/a': '-- mirrors: somewhere a\n\nlocal function a() end\n',
      odd: '---  @include rules/a\n',
      block: '--[[ a block\ncomment ]]\n',
      flags: 'return 1\n#!lua flags=no-writes\n',
    });

    const text = resolve('main');
    expect(text).toBe('local function a() end\nlocal x = 1 -- kept: code comes first\nreturn x\n');
    expect(text).not.toMatch(/@include/);
    expect(() => resolve('odd')).toThrow('odd:1: not an include line');
    expect(() => resolve('block')).toThrow('block:1: a block comment');
    expect(() => resolve('flags')).toThrow('flags:2: a flags line not at the top of a script');
  });

  it('makes generated/<name> from what it is given, and refuses one it does not know', () => {
    const resolve = tree(
      { main: '--- @include generated/values\n--- @include generated/values\nreturn LIMIT\n', other: '--- @include generated/none\n' },
      { values: '-- generated\nlocal LIMIT = 3' },
    );

    expect(resolve('main')).toBe('local LIMIT = 3\nreturn LIMIT\n');
    expect(() => resolve('other')).toThrow('other includes generated/none: no such Lua file');
  });
});

describe('the assembled scripts', () => {
  it('are every file of lib/store/lua, and each assembles with no include left', () => {
    const files = readdirSync('lib/store/lua')
      .filter((file) => file.endsWith('.lua'))
      .map((file) => file.replace(/\.lua$/, ''));
    expect([...SCRIPT_FILES].sort()).toEqual(files.sort());

    for (const name of SCRIPT_FILES) {
      const text = assembleScript(name);
      const defined = [...text.matchAll(/^local function (\w+)/gm)].map((match) => match[1]);
      expect(text, name).not.toMatch(/@include|^\s*--/m);
      expect(
        defined.filter((fn, i) => defined.indexOf(fn) !== i),
        `${name} defines a function twice`,
      ).toEqual([]);
    }
  });

  it.each(SCRIPT_FILES)('%s assembles to itself once assembled, as a bundle ships it beside index.mjs', (name) => {
    const shipped = assembleScript(name);

    expect(tree({ [name]: shipped })(name)).toBe(shipped);
  });

  it('refuses a file whose header is not its descriptor, naming the script', () => {
    const text = assembleScript('get-config');

    expect(scriptBody({ name: 'get-config', keys: ['configKey'], args: [], lockKeys: true }, text)).toBe(
      "return redis.call('GET', configKey)",
    );
    expect(() => scriptBody({ name: 'get-config', keys: ['configKey'], args: [], lockKeys: false }, text)).toThrow(
      /^lua\/get-config\.lua: line 1 is "#!lua flags=allow-key-locking"; its descriptor/,
    );
    expect(() => scriptBody({ name: 'get-config', keys: ['key'], args: [], lockKeys: true }, text)).toThrow(
      /^lua\/get-config\.lua: line 2/,
    );
    expect(() => scriptBody({ name: 'get-config', keys: [], args: [], lockKeys: true }, text)).toThrow(
      /^lua\/get-config\.lua: a script body uses its inputs by name/,
    );
  });

  it('takes the constants from the TypeScript that owns them', () => {
    const { constants, fields, 'fields/COMMAND_IDEMPOTENCY_FIELDS': idempotencyFields } = generatedLua();

    expect(constants).toContain('local ROLLOUT_WINDOW_MS = 60000');
    expect(constants).toContain("local ABORT_REASON = 'job_aborted'");
    expect(constants).toContain("local JOB_CANCEL_REASON = 'job_canceled'");
    expect(constants).toContain("local TERMINAL_STATUSES = { 'completed', 'failed', 'rejected', 'timed_out', 'canceled', 'expired' }");
    expect(fields).toContain('--- @include generated/fields/COMMAND_IDEMPOTENCY_FIELDS');
    expect(idempotencyFields).toBe("local COMMAND_IDEMPOTENCY_FIELDS = { 'fingerprint', 'commandId', 'until' }");
  });
});

/** One call of each rule with plain values, to show it runs alone (what it answers is the rule tests' business). */
const STATE =
  '{ spec = { expiresAt = 10, continuous = false, abort = { criteria = { { failureType = "all", thresholdPercent = 50, minExecuted = 1 } } } }, ' +
  'tally = { targets = 3, materialized = 1, delivered = 1, inProgress = 0, completed = 0, failed = 0, rejected = 0, canceled = 0, retrying = 0, updatedAt = 1 } }';
const COUNTS =
  '{ pending = 2, delivered = 1, in_progress = 0, completed = 0, failed = 0, rejected = 0, timed_out = 0, canceled = 0, expired = 0 }';
const SAMPLES: Record<string, string> = {
  abortAt: `${STATE}, ${COUNTS}, 3`,
  applyReport: "{ createdAt = 1, expiresAt = 10 }, { status = 'completed', completedAt = 3, resultJson = '{}' }, 5",
  cancel: "{ createdAt = 1, expiresAt = 10 }, { at = 3, reason = 'stop' }, 5",
  changeAt: '{ createdAt = 1, expiresAt = 10, deliveredAt = 5, updatedAt = 5 }, 3',
  cancelJob: `${STATE}, ${COUNTS}, { at = 4, force = true }`,
  countsAt: `${STATE}, { delivered = 0, inProgress = 0 }, 3`,
  deadlineEntry: '{ expiresAt = 10, deadlineAt = 5 }',
  delivered: '{ expiresAt = 10, timeoutMs = 4 }, 3',
  endInstant: `${STATE}, 3`,
  ended: `${STATE}, { status = 'canceled', at = 4, force = false, undelivered = 2 }`,
  executionRecord: "{ jobId = 'j', command = 'c', args = '{}', createdAt = 1, expiresAt = 10, timeoutMs = 4 }, 'a', 3",
  failureCount: COUNTS,
  failureRetried: `{ jobId = 'j', expiresAt = 10, resultStatus = 'failed', attempt = 1 }, { spec = { expiresAt = 10, retry = { criteria = { { failureType = 'failed', maxAttempts = 3 } } } } }, 4`,
  maxAttempts: "{ criteria = { { failureType = 'all', maxAttempts = 2 } } }, 'timed_out'",
  nextAttempt: "{ commandId = 'j', agentId = 'a', jobId = 'j', createdAt = 1, expiresAt = 10, deliveredAt = 2, attempt = 2 }, 4",
  retriesTimeout:
    "{ expiresAt = 10, retry = { criteria = { { failureType = 'timed_out', maxAttempts = 2 } } } }, { jobId = 'j', expiresAt = 10 }",
  retryCanceled:
    "{ jobId = 'j', expiresAt = 10, attempt = 2, updatedAt = 3 }, { spec = { expiresAt = 10 }, ['end'] = { status = 'aborted', at = 4, force = false, undelivered = 1 } }, 5",
  retryCutoff: "{ spec = { expiresAt = 10, schedule = { startAt = 1, endAt = 6, endBehavior = 'stop_rollout' } } }",
  staleAttempt: "{ jobId = 'j', expiresAt = 10, deliveredAt = 2, attempt = 2 }, { status = 'completed', attempt = 1 }",
  timeoutRetried: `{ jobId = 'j', expiresAt = 10, deliveredAt = 2, deadlineAt = 4 }, { spec = { expiresAt = 10, retry = { criteria = { { failureType = 'timed_out', maxAttempts = 2 } } } } }, 5`,
  failuresOf: `'timed_out', ${COUNTS}`,
  finish: "{ createdAt = 1, expiresAt = 10 }, { status = 'failed', completedAt = 3 }",
  goneAt: '{ expiresAt = 10 }, 5',
  idempotency: "{ fingerprint = 'f', ['until'] = 10 }, 'f', 3, true",
  isDeliverable: '{ expiresAt = 10 }, 3',
  isGone: '{ expiresAt = 10 }, 20, 5',
  isRevoked: "{ jti = 'j', iat = 5 }, 'allowlist', { jtiRevoked = false, registered = true, subjectCutoff = 0 / 0 }",
  isRevokedUnread: "{ iat = 1 }, 'allowlist'",
  isSameResult: "{ resultStatus = 'completed' }, { status = 'completed', completedAt = 3 }",
  isTerminal: "'timed_out'",
  rolloutStopped: "{ expiresAt = 10, schedule = { startAt = 1, endAt = 5, endBehavior = 'stop_rollout' } }, 6",
  scheduledEndDue: `${STATE}, 3`,
  scheduledEnd: `${STATE}, ${COUNTS}, 3`,
  takesJoiner: "'paused', { continuous = true, expiresAt = 10 }, 3",
  isJobEnded: "'paused'",
  isUnderCutoff: '5, 4',
  jobGoneAt: '{ expiresAt = 10 }, 5',
  jobStatusAt: `${STATE}, ${COUNTS}, 3`,
  joinOutcome: 'false, 3, 64',
  judgedCount: COUNTS,
  leaveOutcome: 'true',
  mayDeliver: "'in_progress', { expiresAt = 10 }, 3, { isTarget = true, hasExecution = false }, 1, 2",
  needsRegistration: "{ jti = 'j' }, 'allowlist'",
  pauseJob: `${STATE}, ${COUNTS}, { at = 4, paused = true, reason = 'hold' }`,
  phaseOf: '{ expiresAt = 10, startedAt = 2 }',
  proofReplayed: "'r1', 'r2'",
  progress: "{ createdAt = 1, expiresAt = 10, timeoutMs = 4 }, { status = 'in_progress', at = 3, statusDetailsJson = '{}' }",
  raisedCutoff: 'nil, 12.5',
  reportedAt: "{ status = 'in_progress', at = 3 }",
  retally: `(${STATE}).tally, { expiresAt = 10, deliveredAt = 2 }, { expiresAt = 10, deliveredAt = 2, resultStatus = 'failed' }, 3`,
  rolloutAllows: 'nil, 3',
  rolloutRate:
    "{ maxPerMinute = 8, exponential = { basePerMinute = 1, incrementFactorTenths = 20, increaseAfter = { kind = 'notified', count = 2 } } }, " +
    '(' +
    STATE +
    ').tally',
  rolloutWindowStart: '120000',
  settledExecution: "{ createdAt = 1, expiresAt = 10, deliveredAt = 2, updatedAt = 2 }, { status = 'canceled', at = 4, force = true }, 5",
  shouldAbort: `{ criteria = { { failureType = 'rejected', thresholdPercent = 50, minExecuted = 1 } } }, ${COUNTS}`,
  slidingWindow: '{ current = 1, previous = 3 }, 125000, 60000, 10',
  statusOf: '{ expiresAt = 10, deliveredAt = 2 }, 3',
  targetsOutcome: '0, false, 1000000',
  terminalCount: COUNTS,
  timeEnd: '{ expiresAt = 10, deadlineAt = 5 }',
  undeliveredStatus: `${STATE}, 3`,
  windowOf: '125000, 60000',
};

describe.skipIf(!HAS_REDIS)('each rule on its own', () => {
  let redis: TcpClient;
  beforeAll(async () => {
    redis = await tcpClient();
  });
  afterAll(() => redis?.destroy());

  it('has a sample call here', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...RULES].sort());
  });

  it.each(RULES)('rules/%s runs in EVAL from its file and what it includes, called with plain values', async (name) => {
    const script = `${assembleLua(`rules/${name}`)}return cjson.encode(${name}(${SAMPLES[name]}))`;

    const answer = await redis.eval(script, { keys: [], arguments: [] });

    expect(() => JSON.parse(String(answer))).not.toThrow();
  });
});

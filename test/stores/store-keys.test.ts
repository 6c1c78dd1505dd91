/**
 * The Redis keys and the Lua scripts, as written down: ids escaped the same way everywhere, and
 * every script with its inputs named at its top and the pure function it mirrors. The layout
 * itself against its record and the docs: test/docs/keys.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as dpop from '../../lib/auth/dpop.ts';
import * as revocation from '../../lib/auth/revocation.ts';
import * as lifecycle from '../../lib/commands/lifecycle.ts';
import * as membership from '../../lib/groups/membership.ts';
import * as jobRules from '../../lib/jobs/rules.ts';
import { loadConfig } from '../../lib/config.ts';
import { HASH_FIELDS, LUA_FIELD_LISTS } from '../../lib/store/fields.ts';
import { keyPart, redisKeys } from '../../lib/store/keys.ts';
import { SCRIPT_FILES } from '../../lib/store/lua.ts';
import * as ratelimit from '../../lib/store/ratelimit.ts';
import * as scripts from '../../lib/store/scripts.ts';
import type { UncheckedStores } from '../../lib/store/types.ts';
import { createUpstashStores } from '../../lib/store/upstash.ts';
import { HAS_REDIS, redisEnv } from '../helpers/redis.ts';
import { type RedisTarget, redisTarget } from '../helpers/targets.ts';
import { TEST_ENV } from '../helpers/tokens.ts';

describe('the key layout', () => {
  it('escapes agent ids, subjects and jtis alike, so that no two ids share a key', () => {
    const keys = redisKeys('biz:');

    expect(keyPart('a:b%c')).toBe('a%3Ab%25c');
    expect(keys.revokedSub('team:a%b')).toBe('biz:revoked:sub:team%3Aa%25b');
    expect(keys.revokedJti('j:1')).toBe('biz:revoked:jti:j%3A1');
    expect(keys.activeJti('j%3A1')).toBe('biz:active:jti:j%253A1');
    expect(keys.command('a:b', 'c')).not.toBe(keys.command('a', 'b:c'));
    expect(keys.queue('a:b')).not.toBe(keys.queue('a%3Ab'));
    expect(keys.command('fleet@eu.1', 'k1')).toBe(`${keys.commandPrefix('fleet@eu.1')}k1`);
    expect(keys.config('agent-001')).toBe('biz:config:agent-001');
    expect(keys.group('web:eu')).toBe('biz:group:web%3Aeu');
    expect(keys.groupSeq('web:eu')).toBe('biz:group-seq:web%3Aeu');
    expect(keys.agentGroups('a:b')).not.toBe(keys.agentGroups('a%3Ab'));
    expect(keys.idempotency('ops:1', 'a:b', 'k:%')).toBe('biz:idem:ops%3A1:a%3Ab:k%3A%25');
    expect(keys.idempotency('ops', 'a:b', 'k')).not.toBe(keys.idempotency('ops:a', 'b', 'k'));
    expect(keys.job('j:1')).toBe('biz:job:j%3A1');
    expect(keys.jobDeadlines('j:1', 'in_progress')).toBe('biz:job-deadlines:j%3A1:in_progress');
    expect(keys.jobTargets('a:b')).not.toBe(keys.jobTargets('a%3Ab'));
    expect(keys.groupJobs('web:eu')).toBe('biz:group-jobs:web%3Aeu');
    expect(keys.agentJobs('a:b')).toBe('biz:agent-jobs:a%3Ab');
    expect(keys.jobIdempotency('ops:1', 'k:%')).toBe('biz:job-idem:ops%3A1:k%3A%25');
    expect(keys.jobIdempotency('ops', 'a:b')).not.toBe(keys.jobIdempotency('ops:a', 'b'));
  });
});

describe('the Lua scripts', () => {
  const all = Object.entries(scripts as Record<string, unknown>).filter(
    (entry): entry is [string, scripts.LuaScript] =>
      typeof entry[1] === 'object' && entry[1] !== null && 'lua' in entry[1] && entry[1] !== scripts.GATE,
  );
  const pure = new Set([
    ...Object.keys(lifecycle),
    ...Object.keys(revocation),
    ...Object.keys(ratelimit),
    ...Object.keys(membership),
    ...Object.keys(jobRules),
  ]);
  const withGates = [...all, ...all.map(([name, lua]): [string, scripts.LuaScript] => [`gated(${name})`, scripts.gated(lua)])];

  it('are the action scripts, each also run behind the gate', () => {
    expect(all.map(([name]) => name).sort()).toEqual([
      'ADMIT',
      'AGENT_GROUPS',
      'CANCEL',
      'COMPLETE',
      'ENQUEUE',
      'FETCH',
      'GET_COMMAND',
      'GET_CONFIG',
      'GROUP_BULK',
      'GROUP_JOIN',
      'GROUP_LEAVE',
      'GROUP_MEMBERS',
      'JOB_CANCEL',
      'JOB_CREATE',
      'JOB_CREATE_STEP',
      'JOB_DRY_RUN',
      'JOB_EXECUTION',
      'JOB_EXECUTIONS',
      'JOB_GET',
      'JOB_LIST',
      'JOB_PAUSE',
      'LIST',
      'PUSH_CONNECTIONS',
      'PUSH_JTI',
      'PUSH_REGISTER',
      'PUSH_REMOVE',
      'PUT_CONFIG',
      'RAISE_CUTOFF',
      'REVOKE_TOKEN',
      'SIGN_EXECUTIONS',
    ]);
  });

  it.each(withGates)('%s starts with the key-locking flag exactly when it declares every key it touches', (_, lua) => {
    expect(lua.lua.startsWith(`#!lua flags=${scripts.KEY_LOCKING_FLAG}\n`)).toBe(lua.lockKeys);
  });

  it('marks every script for key locking but those that read keys they find on their way', () => {
    expect(all.filter(([, lua]) => !lua.lockKeys).map(([name]) => name)).toEqual([
      'ENQUEUE',
      'FETCH',
      'SIGN_EXECUTIONS',
      'LIST',
      'GROUP_JOIN',
      'GROUP_LEAVE',
      'GROUP_BULK',
      'JOB_CREATE',
      'JOB_CREATE_STEP',
      'JOB_DRY_RUN',
      'JOB_LIST',
      'JOB_EXECUTIONS',
      'PUSH_REMOVE',
      'PUSH_CONNECTIONS',
      'PUSH_JTI',
    ]);
  });

  it.each(all)("gated(%s) declares the gate's inputs first, then the action's, and returns before the action when refused", (_, lua) => {
    const behind = scripts.gated(lua);

    expect(behind.keys).toEqual([...scripts.GATE_KEYS, ...lua.keys]);
    expect(behind.args).toEqual([...scripts.GATE_ARGS, ...lua.args]);
    expect(behind.lua.indexOf("return {'revoked'}")).toBeLessThan(behind.lua.indexOf('local function action()'));
    expect(behind.lua.indexOf("return {'rate_limited'")).toBeLessThan(behind.lua.indexOf('local function action()'));
  });

  it.each(withGates)('%s binds every KEYS and ARGV entry to a named local at its top, and uses none by position after', (_, lua) => {
    const lines = lua.lua.split('\n');
    if (lua.lockKeys) lines.shift();
    const bindings = [
      ...lua.keys.map((name, i) => `local ${name} = KEYS[${i + 1}]`),
      ...lua.args.map((name, i) => `local ${name} = ARGV[${i + 1}]`),
    ];

    expect(lines.slice(0, bindings.length)).toEqual(bindings);
    expect(lines.slice(bindings.length).join('\n')).not.toMatch(/KEYS|ARGV/);
  });

  it.each(withGates)('%s names pure functions that exist, or says it only stores', (_, lua) => {
    const named = [...lua.mirrors.matchAll(/\b([a-z][A-Za-z]+)\b/g)].map((match) => match[1] ?? '').filter((word) => pure.has(word));

    expect(named.length > 0 || lua.mirrors.startsWith('storage only')).toBe(true);
  });

  it('are one file each in lib/store/lua, named by their descriptors, with the gate beside them', () => {
    const named = [...all.map(([, lua]) => lua.name), scripts.GATE.name];

    expect(new Set(named).size).toBe(named.length);
    expect([...named].sort()).toEqual([...SCRIPT_FILES].sort());
  });

  it.each([...all, ['GATE', scripts.GATE] as [string, scripts.LuaScript]])(
    '%s: its file starts with the flags line and the inputs its descriptor names',
    (_, lua) => {
      const file = readFileSync(`lib/store/lua/${lua.name}.lua`, 'utf8').split('\n');
      const header = [
        ...(lua.lockKeys ? [`#!lua flags=${scripts.KEY_LOCKING_FLAG}`] : []),
        ...lua.keys.map((name, i) => `local ${name} = KEYS[${i + 1}]`),
        ...lua.args.map((name, i) => `local ${name} = ARGV[${i + 1}]`),
      ];

      expect(file.slice(0, header.length)).toEqual(header);
      expect(lua.lua.startsWith(`${header.join('\n')}\n`)).toBe(true);
    },
  );

  it('puts the values given by name where the script reads them', () => {
    const inputs = scripts.inputsOf(scripts.RAISE_CUTOFF, { cutoffKey: 'k' }, { cutoff: 1_700_000_000 });

    expect(inputs).toEqual({ keys: ['k'], args: ['1700000000'] });
  });
});

/** The Lua files of one folder of lib/store/lua: name (no `.lua`) and text. */
function luaFiles(folder: string): [string, string][] {
  return readdirSync(`lib/store/lua/${folder}`)
    .filter((file) => file.endsWith('.lua'))
    .map((file) => [file.replace(/\.lua$/, ''), readFileSync(`lib/store/lua/${folder}/${file}`, 'utf8')]);
}

/** The arguments of every `redis.call(...)` / `redis.pcall(...)` in a Lua text, split at their top-level commas. */
function redisCalls(text: string): string[][] {
  const calls: string[][] = [];
  for (const match of text.matchAll(/redis\.p?call\(/g)) {
    const args: string[] = [];
    let depth = 0;
    let quote: string | undefined;
    let current = '';
    for (let i = (match.index ?? 0) + match[0].length; i < text.length; i += 1) {
      const char = text[i] ?? '';
      if (quote !== undefined) {
        if (char === quote && text[i - 1] !== '\\') quote = undefined;
      } else if (char === "'" || char === '"') quote = char;
      else if ('({['.includes(char)) depth += 1;
      else if (')}]'.includes(char)) {
        if (depth === 0) break;
        depth -= 1;
      } else if (char === ',' && depth === 0) {
        args.push(current.trim());
        current = '';
        continue;
      }
      current += char;
    }
    args.push(current.trim());
    calls.push(args);
  }
  return calls;
}

describe('the Lua files', () => {
  const modules: Record<string, Record<string, unknown>> = {
    'lib/commands/lifecycle.ts': lifecycle,
    'lib/auth/revocation.ts': revocation,
    'lib/auth/dpop.ts': dpop,
    'lib/store/ratelimit.ts': ratelimit,
    'lib/groups/membership.ts': membership,
    'lib/jobs/rules.ts': jobRules,
  };
  const ruleNames = new Set(Object.values(modules).flatMap((module) => Object.keys(module)));
  const everyFile = [
    ...luaFiles('.').map(([name, text]): [string, string] => [`${name}.lua`, text]),
    ...luaFiles('rules').map(([name, text]): [string, string] => [`rules/${name}.lua`, text]),
    ...luaFiles('include').map(([name, text]): [string, string] => [`include/${name}.lua`, text]),
  ];

  it.each(luaFiles('rules'))(
    'rules/%s.lua says which TypeScript function it mirrors, and defines it under that name, pure',
    (name, text) => {
      const [, path = '', mirrored = ''] = /^-- mirrors: (\S+) (\S+)\n/.exec(text) ?? [];

      expect(mirrored).toBe(name);
      expect(typeof modules[path]?.[name], `${path} exports the function ${name}`).toBe('function');
      expect(text).toMatch(new RegExp(`^local function ${name}\\(`, 'm'));
      expect(text).not.toMatch(/\bredis\./);
    },
  );

  it.each(luaFiles('include'))('include/%s.lua is plumbing, named unlike any rule', (name, text) => {
    expect(text.startsWith('-- plumbing: ')).toBe(true);
    expect(ruleNames.has(name)).toBe(false);
  });

  it.each(everyFile)('%s names only hash fields of lib/store/fields.ts, and reads a hash by a list from there', (file, text) => {
    const fieldsNamed: string[] = [];
    for (const [command = '', , ...rest] of redisCalls(text)) {
      const name = command.replace(/'/g, '').toUpperCase();
      // One HMGET, in hashFields; every other file reads through it, with a list of fields.ts.
      if (name === 'HMGET') expect([file, ...rest]).toEqual(['include/hashFields.lua', 'unpack(names)']);
      const fields =
        name === 'HSET'
          ? rest.filter((_, i) => i % 2 === 0)
          : ['HGET', 'HINCRBY', 'HDEL', 'HEXISTS'].includes(name)
            ? rest.slice(0, 1)
            : [];
      for (const field of fields) {
        const literal = /^'([^']*)'$/.exec(field);
        if (literal !== null) fieldsNamed.push(literal[1] ?? '');
      }
    }
    const lists = [...text.matchAll(/\b[A-Z_]+_FIELDS\b/g)].map((match) => match[0]);

    expect(fieldsNamed.filter((field) => !HASH_FIELDS.has(field))).toEqual([]);
    expect(lists.filter((list) => !(list in LUA_FIELD_LISTS))).toEqual([]);
  });

  it('finds the fields a script writes', () => {
    const text = readFileSync('lib/store/lua/enqueue.lua', 'utf8');
    const written = redisCalls(text).filter(([command]) => command === "'HSET'");

    expect(written[0]?.slice(2).filter((_, i) => i % 2 === 0)).toEqual([
      "'commandId'",
      "'agentId'",
      "'command'",
      "'args'",
      "'createdAt'",
      "'expiresAt'",
    ]);
  });
});

describe.skipIf(!HAS_REDIS)('the key layout on a real Redis', () => {
  const fixture: RedisTarget = redisTarget('keys');
  let stores: UncheckedStores;
  beforeAll(() => {
    stores = createUpstashStores(loadConfig({ ...TEST_ENV, ...redisEnv(fixture.bridge, fixture.prefix) })).unchecked;
  });

  it('writes a subject cut-off and a revoked jti under their escaped ids', async () => {
    await stores.revocations.revokeSubject('team:a%b', 1_700_000_000.9);
    await stores.revocations.revokeToken('j:1', 4_000_000_000);
    await stores.revocations.registerToken('j:1', 4_000_000_000);

    expect(await fixture.redis.get(`${fixture.prefix}revoked:sub:team%3Aa%25b`)).toBe('1700000000');
    expect(await fixture.redis.get(`${fixture.prefix}revoked:jti:j%3A1`)).toBe('1');
    expect(await fixture.redis.get(`${fixture.prefix}active:jti:j%3A1`)).toBe('1');
    expect(await fixture.redis.exists(`${fixture.prefix}revoked:sub:team:a%b`)).toBe(0);
  });

  it('writes a membership under the escaped group and agent, on both sides', async () => {
    await stores.groups.join('web:eu', 'fleet@eu:1');

    expect(await fixture.redis.zScore(`${fixture.prefix}group:web%3Aeu`, 'fleet@eu:1')).toBe(1);
    expect(await fixture.redis.get(`${fixture.prefix}group-seq:web%3Aeu`)).toBe('1');
    expect(await fixture.redis.sMembers(`${fixture.prefix}agent-groups:fleet@eu%3A1`)).toEqual(['web:eu']);
  });
});

import { createClient } from 'redis';
import { startOwnRedis } from '../test/helpers/own-redis.ts';
import { gated, FETCH, inputsOf } from '../lib/store/scripts.ts';
const own = await startOwnRedis();
const c = createClient({ socket: { host: '127.0.0.1', port: own.port } });
await c.connect();
async function measure(name: string, script: string, keys: string[], args: string[], n = 3000) {
  const sha = await c.scriptLoad(script);
  for (let i = 0; i < 200; i++) await c.evalSha(sha, { keys, arguments: args });
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    await c.configResetStat();
    for (let i = 0; i < n / 5; i++) await c.evalSha(sha, { keys, arguments: args });
    const info = await c.info('commandstats');
    const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info)!;
    rounds.push(Number(m[2]) / Number(m[1]));
  }
  rounds.sort((a, b) => a - b);
  console.log(name.padEnd(40), 'min', rounds[0]!.toFixed(1), 'median', rounds[2]!.toFixed(1), 'len', script.length);
}
const keys13 = Array.from({ length: 13 }, (_, i) => `k${i}`);
const args18 = Array.from({ length: 18 }, (_, i) => `${i}`);
await measure('return 1', 'return 1', [], []);
await measure('return 1, 13 keys 18 args', 'return 1', keys13, args18);
const g = gated(FETCH);
const k: Record<string, string> = {}; for (const n of g.keys) k[n] = `p:${n}`;
const a: Record<string, string | number> = {}; for (const n of g.args) a[n] = '0';
Object.assign(a, { gateMode: 'denylist', gateHasJti: '1', gateIat: '1', gateHasIat: '1', limitRequests: '0', limitWindowMs: '1000', limitWindow: '1', limitExpireAt: '1', limitNow: '1000', gateCall: '', gateReplyMs: '30000', keyPrefix: 'p:', commandPrefix: 'p:cmd:a:', agentId: 'a', limit: '10', now: '1000', retentionMs: '1000', metKeepMs: '300000' });
const inp = inputsOf(g, k as never, a as never);
await measure('gated fetch, empty', g.lua, inp.keys, inp.args);
// the gate alone + empty action
const body = g.lua;
const cut = body.indexOf('local function action()');
await measure('gate only (action returns {})', body.slice(0, cut) + "return {'ok', limitNote, {}}", inp.keys, inp.args);
const plain = FETCH; const k2: Record<string,string> = {}; for (const n of plain.keys) k2[n] = `p:${n}`;
const a2: Record<string,string|number> = {}; for (const n of plain.args) a2[n] = a[n] ?? '0';
const inp2 = inputsOf(plain, k2 as never, a2 as never);
await measure('fetch alone, empty', plain.lua, inp2.keys, inp2.args);
await c.quit(); await own.stop();

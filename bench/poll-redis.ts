/**
 * Redis time of one agent poll (FETCH behind the gate), measured inside Redis: a private
 * redis-server with the local bridge in front, `CONFIG RESETSTAT`, many polls, then `INFO
 * commandstats` (usec_per_call of evalsha). Three cases, each on keys of its own:
 *   - empty: an agent with nothing queued and no job;
 *   - one command: one command queued (handed out again on each poll: it is never completed);
 *   - 16 jobs over 10 groups: the agent in 10 groups, 14 jobs over them (some groups two) and 2
 *     naming it, each with other targets so it stays in progress; after the first poll made its
 *     16 executions, either they stay in its queue (handed out again on each poll) or the agent
 *     completed them (its queue empty, the jobs still in play).
 *
 *   npx node bench/poll-redis.ts [polls per round] [rounds]
 *
 * Each case runs in rounds (CONFIG RESETSTAT before each) and prints the least usec_per_call of a
 * round and the median round: on a shared machine the other load only ever adds time.
 */
import { createClient } from 'redis';
import { loadConfig } from '../lib/config.ts';
import { createRuntime } from '../lib/runtime.ts';
import { redisEnv, startBridge } from '../test/helpers/redis.ts';
import { startOwnRedis } from '../test/helpers/own-redis.ts';
import { TEST_ENV } from '../test/helpers/tokens.ts';

const POLLS = Number(process.argv[2] ?? 500);
const ROUNDS = Number(process.argv[3] ?? 7);
const HOUR = 3_600_000;

const own = await startOwnRedis();
const bridge = await startBridge({ redisPort: own.port });
const tcp = createClient({ socket: { host: '127.0.0.1', port: own.port } });
await tcp.connect();

async function evalshaUsec(): Promise<{ calls: number; usec: number }> {
  const info = await tcp.info('commandstats');
  const line = info.split('\n').find((l) => l.startsWith('cmdstat_evalsha:'));
  const calls = Number(/calls=(\d+)/.exec(line ?? '')?.[1] ?? 0);
  const usec = Number(/usec_per_call=([\d.]+)/.exec(line ?? '')?.[1] ?? 0);
  return { calls, usec };
}

let run = 0;
function runtime() {
  run += 1;
  return createRuntime(loadConfig({ ...TEST_ENV, ...redisEnv(bridge, `pb${run}:`) }));
}

/** The polls in ROUNDS rounds; the least usec_per_call of a round (the machine's other load only adds). */
async function measure(label: string, poll: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 50; i += 1) await poll();
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    await tcp.configResetStat();
    for (let i = 0; i < POLLS; i += 1) await poll();
    const { calls, usec } = await evalshaUsec();
    if (calls !== POLLS) throw new Error(`${calls} evalsha calls counted for ${POLLS} polls`);
    rounds.push(usec);
  }
  const sorted = [...rounds].sort((a, b) => a - b);
  console.log(
    `${label.padEnd(48)} ${(sorted[0] ?? 0).toFixed(1).padStart(6)} µs per poll (median round ${(sorted[Math.floor(ROUNDS / 2)] ?? 0).toFixed(1)}; ${ROUNDS} × ${POLLS} polls)`,
  );
}

function admitted(rt: ReturnType<typeof runtime>, sub: string) {
  const now = Date.now();
  return rt.stores.admitted({ token: { jti: `jti-${sub}`, sub, iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 3600 }, now });
}

{
  const rt = runtime();
  const stores = admitted(rt, 'agent-empty');
  await measure('empty queue, no job', () => stores.commands.fetch('agent-empty', 50, Date.now()));
}
{
  const rt = runtime();
  const now = Date.now();
  await rt.stores.unchecked.commands.enqueue({
    commandId: 'c1',
    agentId: 'agent-one',
    command: 'ping',
    args: {},
    createdAt: now,
    expiresAt: now + HOUR,
  });
  const stores = admitted(rt, 'agent-one');
  await measure('one command queued', () => stores.commands.fetch('agent-one', 50, Date.now()));
}
for (const complete of [false, true]) {
  const rt = runtime();
  const agent = 'poller';
  const { groups, jobs, commands } = rt.stores.unchecked;
  const now = Date.now();
  for (let g = 0; g < 10; g += 1) {
    await groups.join(`g${g}`, agent, now);
    await groups.join(`g${g}`, `other-${g}`, now);
  }
  let made = 0;
  const create = (targets: { agents: string[]; groups: string[] }) => {
    made += 1;
    return jobs.create({
      jobId: `job-${made}`,
      command: 'ping',
      args: {},
      targets,
      createdAt: now,
      expiresAt: now + HOUR,
      continuous: false,
    });
  };
  for (let g = 0; g < 10; g += 1) await create({ agents: [], groups: [`g${g}`] });
  for (let g = 0; g < 4; g += 1) await create({ agents: [], groups: [`g${g}`] });
  for (let i = 0; i < 2; i += 1) await create({ agents: [agent, 'other-named'], groups: [] });
  const stores = admitted(rt, agent);
  const first = await stores.commands.fetch(agent, 50, Date.now());
  if (first.length !== 16) throw new Error(`the first poll handed out ${first.length}, not 16`);
  if (complete) {
    for (const record of first)
      await commands.complete(agent, record.commandId, { status: 'completed', resultJson: '{}', completedAt: Date.now() });
    const after = await stores.commands.fetch(agent, 50, Date.now());
    if (after.length !== 0) throw new Error(`after completing, a poll handed out ${after.length}`);
  }
  await measure(complete ? '16 jobs over 10 groups, executions completed' : '16 jobs over 10 groups, 16 executions queued', () =>
    stores.commands.fetch(agent, 50, Date.now()),
  );
}

await tcp.quit();
await bridge.close();
await own.stop();

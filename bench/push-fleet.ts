/**
 * A connected fleet in a process of its own, for bench figure 9's job part: 10,000 WebSockets and
 * their polls do not fit beside the server's 10,000 in one process's file descriptors.
 *
 *   node bench/push-fleet.ts <base url> <agent id prefix> <count>
 *
 * Connects `<prefix><i>` for i < count (a 503 is tried again with back-off), says `ready` on
 * stdout, then polls once per wake (64 polls in flight at most) and says `held <agent> <id> ...`
 * for every poll that handed something out. Stops when its stdin closes.
 */
import { WebSocket } from 'ws';
import { signToken } from './fixtures.ts';

const [baseUrl = '', prefix = '', countText = '0'] = process.argv.slice(2);
const count = Number(countText);
const wsUrl = `${baseUrl.replace('http', 'ws')}/ws`;

let running = 0;
const waiting: (() => void)[] = [];
async function limited(max: number, work: () => Promise<void>): Promise<void> {
  if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
  running += 1;
  try {
    await work();
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

const sockets: WebSocket[] = [];

async function connect(id: string): Promise<void> {
  const token = await signToken({ sub: id, scope: 'agent:commands agent:results' });
  for (let attempt = 0; ; attempt += 1) {
    const ws = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false });
    const status = await new Promise<number>((resolve, reject) => {
      ws.once('open', () => resolve(101));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
    });
    if (status === 101) {
      sockets.push(ws);
      ws.on('message', () => {
        process.stdout.write(`woke ${id}\n`);
        void limited(64, async () => {
          const answer = await fetch(`${baseUrl}/api/commands?limit=10`, { headers: { authorization: `Bearer ${token}` } });
          const body = (await answer.json()) as { commands?: { command_id: string }[] };
          const held = (body.commands ?? []).map((c) => c.command_id);
          if (held.length > 0) process.stdout.write(`held ${id} ${held.join(' ')}\n`);
        }).catch(() => {});
      });
      return;
    }
    if (status !== 503 || attempt >= 6) throw new Error(`upgrade refused: ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
  }
}

let next = 0;
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (next < count) {
      const i = next;
      next += 1;
      await connect(`${prefix}${i}`);
    }
  }),
);
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', () => {
  for (const ws of sockets) ws.terminate();
  process.exit(0);
});

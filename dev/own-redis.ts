/**
 * Development tooling: a redis-server of one's own on a free loopback port, for the tests that
 * must change or break their Redis and for the benchmark's Redis-time figure. Never deployed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { createClient } from 'redis';

/** A loopback port free at the time of asking. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface OwnRedis {
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts redis-server with these extra arguments (no persistence by default); resolves once it answers PING. */
export async function startOwnRedis(extra: readonly string[] = []): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'biz-own-redis-'));
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra],
    { stdio: 'ignore' },
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false, connectTimeout: 500 } });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      client.destroy();
      return { port, stop };
    } catch {
      if (client.isOpen) client.destroy();
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`redis-server on ${port} did not start`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * A server for figure 5, run in its own process so that the load tool (in the parent) and the
 * server each get a core: `service` is the local server (dev/server.ts, every request
 * through the real handlers), `bare` is a node:http server answering every request with the
 * bytes given in BENCH_BARE (status, headers, body). Tells the parent its port over IPC, and
 * its own CPU time when asked; stops on SIGTERM or when the parent goes away.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const mode = process.argv[2];

async function main(): Promise<{ port: number; close: () => Promise<void> }> {
  if (mode === 'service') {
    const { startServer } = await import('../dev/server.ts');
    const server = await startServer({ env: process.env, port: 0 });
    return { port: server.port, close: () => server.close() };
  }
  const answer = JSON.parse(process.env.BENCH_BARE ?? '{}') as { status: number; headers: Record<string, string>; body: string };
  const body = Buffer.from(answer.body, 'utf8');
  const server = http.createServer((_req, res) => {
    res.statusCode = answer.status;
    for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
    res.end(body);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const { port, close } = await main();
process.send?.({ port });
// The parent asks for this process's CPU time around each load run (CPU per request served).
process.on('message', (message: { cpu?: boolean }) => {
  if (message?.cpu) {
    const { user, system } = process.cpuUsage();
    process.send?.({ cpuMs: (user + system) / 1000 });
  }
});
const stop = () => {
  close().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('disconnect', stop);

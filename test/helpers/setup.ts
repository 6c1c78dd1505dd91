/** Runs before every test file: unit tests never reach the network beyond loopback. */
import net from 'node:net';

const loopback = (host: unknown) =>
  host === undefined || host === null || host === 'localhost' || host === '::1' || (typeof host === 'string' && host.startsWith('127.'));

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guarded(this: net.Socket, ...args: unknown[]) {
  const first = args[0] as { host?: unknown; path?: unknown } | number | string | undefined;
  const host =
    typeof first === 'object' && first !== null && !Array.isArray(first) ? first.host : typeof args[1] === 'string' ? args[1] : undefined;
  const isPath = typeof first === 'object' && first !== null && 'path' in first && first.path !== undefined;
  if (!isPath && !loopback(host)) throw new Error(`blocked outbound connection to ${String(host)} in tests`);
  return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;

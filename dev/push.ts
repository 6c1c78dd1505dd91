/**
 * The push channel on the local server (docs/push.md#locally): `ws://127.0.0.1:5000/ws` with the
 * `ws` library, the same protocol as the WebSocket API in AWS.
 *
 * - The upgrade request becomes a `$connect` event for the same handler Lambda runs
 *   (functions/ws-connect.ts): its answer decides. Anything but 200 is written back as the HTTP
 *   answer to the upgrade (401, 403, 429, 503 with the chain's JSON body), and the socket closed;
 *   only a connection the handler registered is accepted.
 * - `{"type":"ping"}` is answered `{"type":"pong"}` here, as API Gateway's mock integration does;
 *   anything else the agent sends is ignored.
 * - API Gateway's limits, on the runtime's clock (a test's ManualClock moves them): a connection
 *   closes 2 h after it opened, or after 10 min without a message from the agent. `sweep()`
 *   checks them (every 250 ms by itself).
 * - Whoever closes a connection, its `$disconnect` handler runs (functions/ws-disconnect.ts).
 * - LocalConnections: PostToConnection and DeleteConnection on these sockets (a closed one is
 *   'gone', as API Gateway's 410). LocalWakeQueue: the wake queue in process, each task run by
 *   the same worker as the wake function, after its delay.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { WebSocket, WebSocketServer } from 'ws';
import type { Clock } from '../lib/clock.ts';
import { logger } from '../lib/logger.ts';
import type { ConnectionGateway, PostOutcome } from '../lib/push/gateway.ts';
import { IDLE_TIMEOUT_MS, isPing, PONG } from '../lib/push/messages.ts';
import type { WakeQueue } from '../lib/push/queue.ts';
import { LOCAL_WEBSOCKET_PATH } from '../lib/push/routes.ts';
import { recordWake, wakeDeps } from '../lib/push/service.ts';
import type { WakeTask } from '../lib/push/tasks.ts';
import { runWakeTask } from '../lib/push/worker.ts';
import { MAX_CONNECTION_MS } from '../lib/store/connections.ts';
import { lambdaContext } from './lambda-context.ts';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** A WebSocket route event as API Gateway sends it to a Lambda proxy integration. */
export function webSocketEvent(input: {
  routeKey: '$connect' | '$disconnect';
  connectionId: string;
  headers?: Record<string, string>;
  domainName?: string;
  sourceIp?: string;
  time?: number;
}): APIGatewayProxyEventV2 {
  const time = input.time ?? Date.now();
  return {
    headers: input.headers ?? {},
    isBase64Encoded: false,
    requestContext: {
      routeKey: input.routeKey,
      eventType: input.routeKey === '$connect' ? 'CONNECT' : 'DISCONNECT',
      connectionId: input.connectionId,
      messageDirection: 'IN',
      extendedRequestId: randomUUID(),
      requestTime: new Date(time).toUTCString(),
      requestTimeEpoch: time,
      connectedAt: time,
      stage: 'local',
      domainName: input.domainName ?? 'localhost',
      apiId: 'local',
      requestId: randomUUID(),
      identity: { sourceIp: input.sourceIp ?? '127.0.0.1' },
    },
  } as unknown as APIGatewayProxyEventV2;
}

interface Live {
  readonly socket: WebSocket;
  readonly connectedAt: number;
  lastSeen: number;
}

/** Closes: 1000 by the service (DeleteConnection, eviction, revocation), 1001 for the limits, as API Gateway's "Going away". */
const CLOSE_DELETED = 1000;
const CLOSE_LIMIT = 1001;

export class LocalPushServer implements ConnectionGateway {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 32 * 1024 });
  private readonly live = new Map<string, Live>();
  private readonly clock: Clock;
  private readonly timer: NodeJS.Timeout;
  private readonly disconnects = new Set<Promise<unknown>>();

  constructor(server: http.Server, clock: Clock) {
    this.clock = clock;
    server.on('upgrade', (req, socket, head) => {
      this.upgrade(req, socket, head).catch((error: unknown) => {
        logger.error('upgrade failed', { error: error as Error });
        refuse(socket, { statusCode: 500, body: '{"error":"server_error"}' });
      });
    });
    this.timer = setInterval(() => this.sweep(), 250);
    this.timer.unref();
  }

  /** Open connections now (tests). */
  get size(): number {
    return this.live.size;
  }

  private async upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== LOCAL_WEBSOCKET_PATH) {
      refuse(socket, { statusCode: 404, body: '{"error":"not_found","error_description":"no WebSocket here"}' });
      return;
    }
    const headers: Record<string, string> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = (req.rawHeaders[i] ?? '').toLowerCase();
      const value = req.rawHeaders[i + 1] ?? '';
      headers[name] = name in headers ? `${headers[name]},${value}` : value;
    }
    const connectionId = `${randomUUID().replaceAll('-', '').slice(0, 16)}=`;
    const event = webSocketEvent({
      routeKey: '$connect',
      connectionId,
      headers,
      sourceIp: req.socket.remoteAddress ?? '',
      time: Date.now(),
    });
    const answer = await (await handlerOf('ws-connect'))(event, lambdaContext('ws-connect'));
    if ((answer.statusCode ?? 200) !== 200) {
      refuse(socket, answer);
      return;
    }
    if (socket.destroyed) {
      // Registered, but the client left meanwhile: as API Gateway, its $disconnect follows.
      this.disconnected(connectionId);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const now = this.clock.now();
      this.live.set(connectionId, { socket: ws, connectedAt: now, lastSeen: now });
      ws.on('message', (data, isBinary) => {
        const entry = this.live.get(connectionId);
        if (entry === undefined) return;
        entry.lastSeen = this.clock.now();
        if (!isBinary && isPing(data.toString())) ws.send(PONG);
      });
      ws.on('close', () => {
        this.live.delete(connectionId);
        this.disconnected(connectionId);
      });
      ws.on('error', () => ws.terminate());
    });
  }

  private disconnected(connectionId: string): void {
    const done = handlerOf('ws-disconnect')
      .then((handler) => handler(webSocketEvent({ routeKey: '$disconnect', connectionId }), lambdaContext('ws-disconnect')))
      .catch((error: unknown) => logger.error('$disconnect failed', { error: error as Error }))
      .finally(() => this.disconnects.delete(done));
    this.disconnects.add(done);
  }

  /** Closes what passed API Gateway's limits on the runtime's clock: 2 h open, 10 min without a message. */
  sweep(): void {
    const now = this.clock.now();
    for (const [, entry] of this.live) {
      if (now >= entry.connectedAt + MAX_CONNECTION_MS) entry.socket.close(CLOSE_LIMIT, 'maximum connection duration');
      else if (now >= entry.lastSeen + IDLE_TIMEOUT_MS) entry.socket.close(CLOSE_LIMIT, 'idle timeout');
    }
  }

  async post(connectionId: string, data: string): Promise<PostOutcome> {
    const entry = this.live.get(connectionId);
    if (entry === undefined || entry.socket.readyState !== WebSocket.OPEN) return 'gone';
    await new Promise<void>((resolve, reject) => entry.socket.send(data, (error) => (error ? reject(error) : resolve())));
    return 'sent';
  }

  /** Closes every connection as the service would (DeleteConnection): tests of what an agent does then. */
  closeAll(): void {
    for (const [, entry] of this.live) entry.socket.close(CLOSE_DELETED, 'closed by the service');
  }

  async close(connectionId: string): Promise<void> {
    this.live.get(connectionId)?.socket.close(CLOSE_DELETED, 'closed by the service');
  }

  /** Every $disconnect begun so far has run (tests). */
  async settled(): Promise<void> {
    while (this.disconnects.size > 0) await Promise.all([...this.disconnects]);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const [, entry] of this.live) entry.socket.terminate();
    await this.settled();
    this.wss.close();
  }
}

/** The wake queue in this process: each task runs after its delay, by the wake function's worker. */
export class LocalWakeQueue implements WakeQueue {
  private readonly running = new Set<Promise<unknown>>();
  private readonly timers = new Set<NodeJS.Timeout>();

  async send(task: WakeTask, delaySeconds = 0): Promise<void> {
    const run = () => {
      const done = wakeDeps()
        .then(async (deps) => recordWake(task, await runWakeTask(task, deps)))
        .catch((error: unknown) => logger.error('wake task failed', { error: error as Error }))
        .finally(() => this.running.delete(done));
      this.running.add(done);
    };
    if (delaySeconds <= 0) {
      run();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, delaySeconds * 1000);
    timer.unref();
    this.timers.add(timer);
  }

  /** Every task due so far has run (tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

/** Writes a refusal as the HTTP answer to the upgrade request, then closes the socket. */
function refuse(socket: Duplex, answer: APIGatewayProxyStructuredResultV2): void {
  if (socket.destroyed) return;
  const status = answer.statusCode ?? 500;
  const body = Buffer.from(answer.body ?? '', answer.isBase64Encoded ? 'base64' : 'utf8');
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  for (const [name, value] of Object.entries(answer.headers ?? {})) headers[name] = String(value);
  headers['Content-Length'] = String(body.length);
  headers.Connection = 'close';
  const head = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  socket.end(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), body]));
}

const handlers = new Map<string, Promise<Handler>>();

function handlerOf(name: string): Promise<Handler> {
  let found = handlers.get(name);
  if (found === undefined) {
    found = import(new URL(`../functions/${name}.ts`, import.meta.url).href).then((module: { handler: Handler }) => module.handler);
    handlers.set(name, found);
  }
  return found;
}

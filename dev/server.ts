/**
 * The local server: every HTTP request becomes an API Gateway HTTP API (payload 2.0) event
 * and goes to the same exported handler that Lambda calls, chosen from the same route table
 * the CDK stack uses. One log line per request; tokens are never logged.
 *
 *   npm start                      in-memory store, port BIZ_SERVICE_PORT (5000)
 *   USE_REDIS=true npm start       real Redis at REDIS_HOST:REDIS_PORT through the local
 *                                  Upstash bridge (or Upstash itself when UPSTASH_* are set)
 *   TLS_CERT_FILE=… TLS_KEY_FILE=… [MTLS_CA_FILE=…] npm start
 *                                  HTTPS; with a CA, a client certificate signed by it is
 *                                  required (mTLS) and passed to the handlers as API Gateway's
 *                                  custom domain does (requestContext.authentication.clientCert)
 *
 * GET /console is the operators' web console (console/), built with esbuild at start.
 * Besides the routes, GET /openapi.json answers the OpenAPI document (docs/openapi.yaml) as JSON,
 * and ws://…/ws is the push channel (dev/push.ts, docs/push.md), its wakes sent through an
 * in-process wake queue.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { isUtf8 } from 'node:buffer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { type Config, ConfigError } from '../lib/config.ts';
import { logger } from '../lib/logger.ts';
import { setReadinessStore } from '../functions/ready.ts';
import { setConsoleFiles } from '../lib/http/console.ts';
import { buildConsole } from '../console/build.ts';
import { useMetrics } from '../lib/http/observe.ts';
import { createRuntime, setRuntime } from '../lib/runtime.ts';
import { httpEvent } from './events.ts';
import { lambdaContext } from './lambda-context.ts';
import { loadLocalConfig } from './local-config.ts';
import { OPENAPI_PATH, openApiJson } from './openapi.ts';
import { findRoute } from '../lib/http/router.ts';
import { fallbackRoute } from '../lib/http/routes.ts';
import type { Clock } from '../lib/clock.ts';
import { setPushRuntime } from '../lib/push/runtime.ts';
import type { CommandKeySet } from '../lib/signing/jws.ts';
import { createCommandSigner, loadSigningSettings, setCommandSigner } from '../lib/signing/runtime.ts';
import { LocalPushServer, LocalWakeQueue } from './push.ts';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** Requests larger than this are cut off before they reach a handler (API Gateway's limit is 10 MB). */
const MAX_REQUEST_BYTES = 1024 * 1024;

/**
 * The local server's access log for the answers it gives itself (too large, not a URL,
 * /openapi.json), in the shape of the handlers' Powertools lines; a handler's answer is logged by
 * its own chain (lib/http/observe.ts). Written directly; development tooling only.
 */
const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'];
const accessLogOn =
  LEVELS.indexOf((process.env.POWERTOOLS_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'INFO').toUpperCase()) <= LEVELS.indexOf('INFO');

function accessLog(message: string, fields: Record<string, unknown> = {}): void {
  if (!accessLogOn) return;
  process.stdout.write(
    `${JSON.stringify({ level: 'INFO', message, timestamp: new Date().toISOString(), service: 'biz-service-local', ...fields })}\n`,
  );
}

const handlers = new Map<string, Promise<Handler>>();

function loadHandler(name: string): Promise<Handler> {
  let found = handlers.get(name);
  if (!found) {
    const url = new URL(`../functions/${name}.ts`, import.meta.url);
    found = import(url.href).then((module: { handler: Handler }) => module.handler);
    handlers.set(name, found);
  }
  return found;
}

function toEvent(req: http.IncomingMessage, body: Buffer, url: URL, requestId: string): { event: APIGatewayProxyEventV2; handler: string } {
  const method = req.method ?? 'GET';
  const path = url.pathname;
  const match = findRoute(method, path);
  // API Gateway joins repeated headers with commas and lower-cases names.
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] ?? '').toLowerCase();
    const value = req.rawHeaders[i + 1] ?? '';
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  // API Gateway sets the scheme the client used (the DPoP check builds the request's URL from it).
  headers['x-forwarded-proto'] = (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  // A text body that is not valid UTF-8 is passed on as its bytes (base64), as a binary one is, so
  // the handler sees what was sent and can refuse it, instead of U+FFFD replacing the bytes.
  const isText = body.length === 0 || (/^(application\/(.+\+)?json|text\/)/i.test(headers['content-type'] ?? '') && isUtf8(body));
  const event = httpEvent({
    method,
    path,
    routeKey: match ? `${match.route.method} ${match.route.path}` : '$default',
    headers,
    query,
    rawQueryString: url.search.slice(1),
    ...(match ? { pathParameters: Object.fromEntries(Object.entries(match.pathParameters).map(([k, v]) => [k, safeDecode(v)])) } : {}),
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64'), isBase64Encoded: !isText } : {}),
    // What the client sent, nothing added.
    defaultContentType: null,
    requestId,
    sourceIp: req.socket.remoteAddress ?? '',
    protocol: `HTTP/${req.httpVersion}`,
  });
  const clientCert = peerCertificate(req);
  if (clientCert !== undefined) Object.assign(event.requestContext, { authentication: { clientCert } });
  return { event, handler: match ? match.route.handler : fallbackRoute.handler };
}

/** The verified client certificate of an mTLS connection, in API Gateway's shape; else undefined. */
function peerCertificate(req: http.IncomingMessage) {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerX509Certificate !== 'function' || socket.authorized !== true) return undefined;
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return undefined;
  return {
    clientCertPem: cert.toString(),
    serialNumber: cert.serialNumber,
    subjectDN: cert.subject.split('\n').join(','),
    issuerDN: cert.issuer.split('\n').join(','),
    validity: { notBefore: cert.validFrom, notAfter: cert.validTo },
  };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function send(res: http.ServerResponse, result: APIGatewayProxyStructuredResultV2, requestId: string): void {
  res.statusCode = result.statusCode ?? 200;
  // The handlers set it themselves; the server's own answers get it here.
  res.setHeader('X-Request-Id', requestId);
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  const body = result.body === undefined ? undefined : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  res.end(body);
}

/** An error answer of the server's own, in the handlers' shape. */
function ownError(statusCode: number, error: string, description: string, requestId: string, headers: Record<string, string> = {}) {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify({ error, error_description: description, request_id: requestId }),
  };
}
const serverError = (requestId: string) => ownError(500, 'server_error', 'internal error', requestId);

/** A request target that is no URL (`GET http://[`, a port beyond 65535): 400, as for any bad input. */
const badTarget = (requestId: string) => ownError(400, 'invalid_request', 'the request target is not a valid URL', requestId);

function requestUrl(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const started = performance.now();
  const requestId = randomUUID();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) {
      send(res, ownError(413, 'payload_too_large', 'the request is too large', requestId, { Connection: 'close' }), requestId);
      req.destroy();
      return;
    }
    chunks.push(chunk);
  }
  const url = requestUrl(req.url);
  if (url === undefined) {
    send(res, badTarget(requestId), requestId);
    accessLog('request', { request_id: requestId, method: req.method, path: '(not a URL)', route: '-', status: 400 });
    return;
  }
  if (req.method === 'GET' && url.pathname === OPENAPI_PATH) {
    send(
      res,
      { statusCode: 200, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }, body: openApiJson() },
      requestId,
    );
    accessLog('request', {
      request_id: requestId,
      method: req.method,
      path: url.pathname,
      route: `GET ${OPENAPI_PATH}`,
      status: 200,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
    return;
  }
  const { event, handler } = toEvent(req, Buffer.concat(chunks), url, requestId);
  let result: APIGatewayProxyStructuredResultV2;
  try {
    result = await (await loadHandler(handler))(event, lambdaContext(handler, { requestId }));
  } catch (error) {
    logger.error('handler threw', { error: error as Error, request_id: requestId });
    result = serverError(requestId);
  }
  send(res, result, requestId);
  // The handler's chain wrote the request's line (lib/http/observe.ts); the server writes its own
  // line only for the answers it gives itself (above).
}

export interface LocalServer {
  readonly url: string;
  readonly port: number;
  readonly config: Config;
  /** The push channel: its connections, and the wake queue in process. */
  readonly push: { readonly server: LocalPushServer; readonly queue: LocalWakeQueue };
  /** The public keys its commands are signed with (GET /.well-known/command-keys). */
  readonly commandKeys: CommandKeySet;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** Environment to configure from; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Port to listen on; defaults to BIZ_SERVICE_PORT. 0 picks a free one. */
  port?: number;
  host?: string;
  /** The runtime's clock (tests move a ManualClock: tokens, commands, the push channel's limits). */
  clock?: Clock;
}

/** Starts the service on loopback; with USE_REDIS=true and no Upstash URL, also the bridge. */
export async function startServer(options: ServerOptions = {}): Promise<LocalServer> {
  const local = await loadLocalConfig(options.env ?? process.env);
  const { config } = local;
  const runtime = setRuntime(createRuntime(config, options.clock === undefined ? {} : { clock: options.clock }));
  setReadinessStore(config);
  // The console's page, script and stylesheet, built with esbuild now (a deployment ships them built).
  setConsoleFiles(buildConsole());
  // The command signer: the key file (.local/command-signing-key.pem unless COMMAND_SIGNING_KEY_FILE
  // says otherwise), made now on the first start; COMMAND_SIGNING_KMS_KEY_ID signs with KMS instead.
  const signer = setCommandSigner(createCommandSigner(loadSigningSettings(options.env ?? process.env)));
  const commandKeys = await signer.keySet();
  // EMF metric lines are for CloudWatch; locally they are opt-in (POWERTOOLS_METRICS_DISABLED=false).
  if ((options.env ?? process.env).POWERTOOLS_METRICS_DISABLED !== 'false') useMetrics(false);

  const listener: http.RequestListener = (req, res) => {
    serve(req, res).catch((error: unknown) => {
      logger.error('request failed', { error: error as Error });
      const requestId = randomUUID();
      if (!res.headersSent) send(res, serverError(requestId), requestId);
    });
  };
  const { tls } = local.local;
  const server =
    tls === undefined
      ? http.createServer(listener)
      : https.createServer(
          {
            cert: readFileSync(tls.certFile),
            key: readFileSync(tls.keyFile),
            // With a CA: only clients with a certificate it signed get through the handshake.
            ...(tls.caFile === undefined ? {} : { ca: readFileSync(tls.caFile), requestCert: true, rejectUnauthorized: true }),
          },
          listener,
        );
  server.keepAliveTimeout = 5_000;
  const push = { server: new LocalPushServer(server, runtime.clock), queue: new LocalWakeQueue() };
  setPushRuntime({ queue: push.queue, gateway: push.server });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? local.local.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    config,
    push,
    commandKeys,
    close: async () => {
      push.queue.stop();
      await push.server.stop();
      await push.queue.idle();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await local.close();
    },
  };
}

async function main(): Promise<void> {
  let server: LocalServer;
  try {
    server = await startServer();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`biz-service: configuration error: ${error.message}`);
      process.exit(2);
    }
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      console.error(`biz-service: port ${(error as { port?: number }).port ?? ''} is in use; set BIZ_SERVICE_PORT to another port`);
      process.exit(2);
    }
    throw error;
  }
  const store = server.config.useRedis ? `redis (${server.config.upstashUrl})` : 'in-memory';
  accessLog(`biz-service listening on ${server.url} (store: ${store}; commands signed with kid ${server.commandKeys.keys[0]?.kid})`);
  const stop = () => {
    server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();

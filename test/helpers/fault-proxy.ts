/**
 * A fault proxy between the @upstash/redis client and the local bridge, on real sockets: it
 * forwards every request to the bridge and hands back its answer, except a request that an armed
 * fault matches: that one is forwarded, its answer read in full (so Redis has run the command),
 * and then the client's connection is reset instead of answered. The client sees a network error
 * after its command took effect, which is the case a retry must survive.
 *
 *   const proxy = await startFaultProxy(bridge.url);
 *   proxy.dropAnswer((body) => body.includes('EVALSHA'));   // the next matching request only
 *   // runtime env: UPSTASH_REDIS_REST_URL = proxy.url
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Decides from the request's body (the command as JSON) whether the armed fault applies. */
export type RequestMatcher = (body: string) => boolean;

export interface FaultProxy {
  /** Base URL to give the client in place of the bridge's. */
  readonly url: string;
  /** Requests forwarded so far (answered or dropped). */
  readonly forwarded: number;
  /** Answers dropped so far. */
  readonly dropped: number;
  /**
   * The next request that matches and that Redis runs (answered 2xx; a NOSCRIPT answer passes and
   * the fault waits for the client's EVAL) loses its answer: the connection is reset.
   * With `meanwhile`, a later request with the very same body (the client's retry) waits until
   * `meanwhile` has run: what other clients do between a lost answer and its retry.
   */
  dropAnswer(match?: RequestMatcher, meanwhile?: () => Promise<unknown>): void;
  /** Disarms every fault not yet used. */
  clear(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let forwarded = 0;
  let dropped = 0;
  let armed: { match: RequestMatcher; meanwhile: (() => Promise<unknown>) | undefined } | undefined;
  /** The body whose answer was dropped, and what its retry waits for. */
  let held: { body: string; until: Promise<unknown> } | undefined;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      const fault = armed?.match(text) ? armed : undefined;
      if (fault !== undefined) armed = undefined;
      const drop = fault !== undefined;
      const wait = held !== undefined && held.body === text ? held.until : Promise.resolve();
      if (held !== undefined && held.body === text) held = undefined;
      void wait.then(() => forward(drop, fault?.meanwhile));
    });
    const forward = (dropIt: boolean, meanwhile: (() => Promise<unknown>) | undefined) => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      forwarded += 1;
      let drop = dropIt;
      const headers = { ...req.headers, host: upstream.host };
      const out = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => parts.push(chunk));
        answer.on('end', () => {
          if (drop && (answer.statusCode ?? 500) >= 300) {
            // Redis did not run it (NOSCRIPT before the client's EVAL, say): the fault waits for the next one.
            armed ??= { match: () => true, meanwhile };
            drop = false;
          }
          if (drop) {
            dropped += 1;
            if (meanwhile !== undefined) held = { body: text, until: meanwhile().catch(() => undefined) };
            // Redis has run the command and the bridge has answered: the client never hears it.
            req.socket.resetAndDestroy();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(parts));
        });
      });
      out.on('error', () => req.socket.destroy());
      out.end(body);
    };
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get forwarded() {
      return forwarded;
    },
    get dropped() {
      return dropped;
    },
    dropAnswer(match = () => true, meanwhile) {
      armed = { match, meanwhile };
    },
    clear() {
      armed = undefined;
      held = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

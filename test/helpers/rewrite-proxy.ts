/**
 * A man in the middle on real sockets: an HTTP reverse proxy in front of the local server that
 * forwards every request as it came and may rewrite a JSON answer on its way back (what a
 * compromised proxy, a misrouted name or a buggy reverse proxy could do to an agent's poll).
 *
 *   const proxy = await startRewriteProxy(server.url, (path, body) => ...changed body or undefined);
 *   // the agent's base URL: proxy.url
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Gets the request's method and path and the answer's parsed JSON; returns the body to send instead, or undefined to pass it on. */
export type Rewrite = (method: string, path: string, body: unknown) => unknown;

export interface RewriteProxy {
  readonly url: string;
  /** Answers rewritten so far. */
  readonly rewritten: number;
  close(): Promise<void>;
}

export async function startRewriteProxy(target: string, rewrite: Rewrite): Promise<RewriteProxy> {
  const upstream = new URL(target);
  let rewritten = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const forward = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (part: Buffer) => parts.push(part));
          answer.on('end', () => {
            let body = Buffer.concat(parts);
            const headers = { ...answer.headers };
            if (String(answer.headers['content-type']).includes('json') && body.length > 0) {
              const changed = rewrite(req.method ?? 'GET', req.url ?? '/', JSON.parse(body.toString('utf8')));
              if (changed !== undefined) {
                rewritten += 1;
                body = Buffer.from(JSON.stringify(changed));
              }
            }
            headers['content-length'] = String(body.length);
            delete headers['transfer-encoding'];
            res.writeHead(answer.statusCode ?? 502, headers);
            res.end(body);
          });
        },
      );
      forward.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get rewritten() {
      return rewritten;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

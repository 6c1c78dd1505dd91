/**
 * A real HTTPS issuer on loopback for the JWKS tests: a self-signed certificate made by openssl,
 * trusted in this test process only (tls.setDefaultCACertificates, what NODE_EXTRA_CA_CERTS does
 * for a whole process), so the service's own fetch path runs unchanged. Real keys from
 * node:crypto; tokens signed by the one minter (dev/token.ts, jose), not with the library that
 * verifies them.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { signToken } from '../../dev/token.ts';
import { TEST_AUDIENCE, TEST_ISSUER } from './tokens.ts';

export interface KeyPair {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function rsaKey(kid: string, modulusLength = 2048): KeyPair {
  return { kid, ...generateKeyPairSync('rsa', { modulusLength }) };
}

export function ecKey(kid: string, namedCurve = 'P-256'): KeyPair {
  return { kid, ...generateKeyPairSync('ec', { namedCurve }) };
}

export function ed25519Key(kid: string): KeyPair {
  return { kid, ...generateKeyPairSync('ed25519') };
}

/** The public JWK of a key pair, with its kid and any other members given. */
export function publicJwk(pair: KeyPair, extra: Record<string, unknown> = {}): JsonWebKey {
  return { ...pair.publicKey.export({ format: 'jwk' }), kid: pair.kid, use: 'sig', ...extra };
}

/** A token signed by a private key (the one minter, dev/token.ts: jose); the kid is the pair's unless header says otherwise. */
export function signWith(
  pair: KeyPair,
  alg: string,
  options: { claims?: Record<string, unknown>; header?: Record<string, unknown>; nowSeconds?: number; expiresIn?: number } = {},
): Promise<string> {
  return signToken({ secret: pair.privateKey, issuer: TEST_ISSUER, audience: TEST_AUDIENCE, alg, kid: pair.kid }, options.claims, {
    ...(options.nowSeconds === undefined ? {} : { now: options.nowSeconds }),
    ...(options.expiresIn === undefined ? {} : { expiresIn: options.expiresIn }),
    ...(options.header === undefined ? {} : { header: options.header }),
  });
}

export type IssuerAnswer =
  | { readonly kind: 'json'; readonly body: unknown }
  | { readonly kind: 'raw'; readonly body: string; readonly status?: number }
  /** Holds the request this long before answering with the key set. */
  | { readonly kind: 'slow'; readonly ms: number; readonly body: unknown }
  /** Closes the connection without an answer. */
  | { readonly kind: 'drop' };

export interface TestIssuer {
  readonly origin: string;
  readonly jwksUrl: string;
  /** What the JWKS path answers with next; other paths come from `routes`. */
  answer: IssuerAnswer;
  readonly routes: Map<string, () => IssuerAnswer>;
  /** Requests by path. */
  readonly hits: Map<string, number>;
  jwksHits(): number;
  close(): Promise<void>;
}

function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'jwks-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const JWKS_PATH = '/oauth2/jwks';

export async function startIssuer(keys: readonly JsonWebKey[]): Promise<TestIssuer> {
  const { key, cert } = selfSignedCertificate();
  // Added to what is trusted already (the defaults and earlier test issuers).
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), cert]);
  const hits = new Map<string, number>();
  const routes = new Map<string, () => IssuerAnswer>();
  const timers = new Set<NodeJS.Timeout>();
  const issuer = {
    answer: { kind: 'json', body: { keys } } as IssuerAnswer,
    routes,
    hits,
  } as TestIssuer;
  const server = https.createServer({ key, cert }, (request, response) => {
    const path = new URL(request.url ?? '/', 'https://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = path === JWKS_PATH ? issuer.answer : routes.get(path)?.();
    if (route === undefined) {
      response.writeHead(404).end();
      return;
    }
    const send = (status: number, body: string) => response.writeHead(status, { 'content-type': 'application/json' }).end(body);
    switch (route.kind) {
      case 'json':
        send(200, JSON.stringify(route.body));
        break;
      case 'raw':
        send(route.status ?? 200, route.body);
        break;
      case 'slow': {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!response.destroyed) send(200, JSON.stringify(route.body));
        }, route.ms);
        timers.add(timer);
        break;
      }
      case 'drop':
        request.socket.destroy();
        break;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(issuer, {
    origin,
    jwksUrl: `${origin}${JWKS_PATH}`,
    jwksHits: () => hits.get(JWKS_PATH) ?? 0,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
  return issuer;
}

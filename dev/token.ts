/**
 * The one token minter of this repository (tests, benchmark, `npm run token`, `npm run invoke`),
 * and the command that prints a token signed with the current configuration, for curl:
 *   npm run token -- --sub agent-001 --scope "agent:commands agent:results" [--ttl 300] [--kid K] [--client-id C]
 *
 * With the issuer's keys instead of a shared secret (JWT_JWKS_URL), a local private key signs:
 *   npm run token -- --jwks .local/issuer.pem [--alg ES256] [--serve 8081]
 *       makes the key if the file does not exist (RSA 2048; P-256 with --alg ES256), prints its
 *       public JWKS, and with --serve serves it at http://127.0.0.1:PORT/jwks.json until stopped
 *   npm run token -- --key .local/issuer.pem --sub agent-001 [--alg PS256]
 *       signs RS256 (RSA key) or ES256 (P-256 key), kid = the key's JWK thumbprint (RFC 7638)
 *
 * DPoP-bound tokens (RFC 9449, cnf.jkt), good only with proofs made by that key:
 *   npm run token -- --sub agent-001 --dpop-jkt THUMBPRINT
 *   npm run token -- --sub agent-001 --dpop-key .local/agent-001.dpop.pem
 *       the thumbprint of the key in the file (a P-256 key is made there if there is none)
 *
 * Tokens are signed with jose, another library than the verifier's (jsonwebtoken), so that a
 * test token is never shaped by the code it tests.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, type JWK, SignJWT } from 'jose';
import { ConfigError, loadConfig } from '../lib/config.ts';

const USAGE = [
  'usage: npm run token -- --sub AGENT_ID [--scope "agent:commands agent:results"] [--ttl SECONDS] [--kid KID] [--client-id ID]',
  '                        [--key PRIVATE_KEY.pem [--alg RS256|PS256|ES256]]',
  '       npm run token -- --jwks PRIVATE_KEY.pem [--alg RS256|ES256] [--serve PORT]',
  '',
  '  --dpop-jkt THUMBPRINT   bind the token to a DPoP key (cnf.jkt, RFC 9449)',
  '  --dpop-key FILE         the same, the thumbprint of the key in FILE (a P-256 PEM, made if missing)',
  '  --ttl SECONDS   lifetime of the token (default 300: five minutes)',
  '  -h, --help      this text',
].join('\n');

/** A PEM private key from a file; with `create`, made first when the file does not exist. */
export function privateKeyFile(path: string, options: { create?: boolean; alg?: string } = {}): KeyObject {
  if (!existsSync(path)) {
    if (!options.create) throw new Error(`no key file ${path} (make one with --jwks ${path})`);
    const { privateKey } = options.alg?.startsWith('ES')
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return createPrivateKey(readFileSync(path));
}

/** The public JWK of a private key, kid = its RFC 7638 thumbprint, for signatures only. */
export async function publicJwk(privateKey: KeyObject): Promise<JWK> {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), use: 'sig' };
}

function algorithmFor(key: KeyObject, wanted: string | undefined): string {
  const alg = wanted ?? (key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256');
  const fits = key.asymmetricKeyType === 'ec' ? alg === 'ES256' : ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'].includes(alg);
  if (!fits) throw new Error(`--alg ${alg} does not fit a ${key.asymmetricKeyType} key`);
  return alg;
}

/** Who signs: the key, and the issuer and audience the verifier expects. */
export interface Signer {
  /** An HMAC secret, or a private key (RSA or P-256). */
  readonly secret: string | KeyObject;
  readonly issuer: string;
  readonly audience: string;
  /** HS256 by default. */
  readonly alg?: string;
  /** Goes into the header when set. */
  readonly kid?: string;
}

export interface TokenOptions {
  /** Another HMAC secret than the signer's. */
  secret?: string;
  alg?: string;
  /** Extra (or replaced) header fields. */
  header?: Record<string, unknown>;
  /** Seconds from now; negative for a token already expired. 300 by default. */
  expiresIn?: number;
  /** Epoch seconds used as "now" for iat/exp. */
  now?: number;
  /** Claims to leave out (also the defaults: iat, jti, ...). */
  omit?: string[];
}

/**
 * A compact JWS with the claims an agent token carries (sub agent-001, both agent scopes, a
 * fresh jti, five minutes), `claims` on top.
 */
export async function signToken(signer: Signer, claims: Record<string, unknown> = {}, options: TokenOptions = {}): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    iss: signer.issuer,
    aud: signer.audience,
    sub: 'agent-001',
    iat: now,
    exp: now + (options.expiresIn ?? 300),
    jti: randomUUID(),
    scope: 'agent:commands agent:results',
    ...claims,
  };
  for (const name of options.omit ?? []) delete payload[name];
  const key = options.secret ?? signer.secret;
  return new SignJWT(payload)
    .setProtectedHeader({
      alg: options.alg ?? signer.alg ?? 'HS256',
      typ: 'JWT',
      ...(signer.kid ? { kid: signer.kid } : {}),
      ...options.header,
    })
    .sign(typeof key === 'string' ? new TextEncoder().encode(key) : key);
}

/**
 * The signer the local configuration verifies (JWT_SECRET_KEY / JWT_SECRET_KEYS, JWT_ALGORITHMS,
 * JWT_ISSUER, JWT_AUDIENCE and their defaults): its secret for `kid` ('' for tokens without
 * one: JWT_SECRET_KEY, or the first of JWT_SECRET_KEYS), first HMAC algorithm and first audience.
 */
export function configSigner(env: Readonly<Record<string, string | undefined>> = process.env, kid = ''): Signer {
  const config = loadConfig(env);
  // As the verifier: with one secret (JWT_SECRET_KEY alone) every kid uses it; with
  // JWT_SECRET_KEYS the kid selects.
  const secret = config.secrets.size === 1 ? config.secrets.get('') : config.secrets.get(kid);
  if (secret === undefined) {
    if (config.secrets.size === 0) {
      throw new ConfigError('JWT_SECRET_KEY', 'no shared secret is configured (only a JWKS): sign with --key PRIVATE_KEY.pem');
    }
    const kids = [...config.secrets.keys()].filter((name) => name !== '');
    throw new ConfigError('JWT_SECRET_KEYS', `no secret has kid ${JSON.stringify(kid)}; its kids are ${kids.join(', ')}`);
  }
  return {
    secret,
    issuer: config.issuer,
    audience: config.audiences[0] ?? 'biz-service',
    alg: config.algorithms.find((alg) => alg.startsWith('HS')) ?? 'HS256',
    ...(kid ? { kid } : {}),
  };
}

/** What `npm run token` prints: signed with the configured secret, or with `key` (kid: its thumbprint). */
export async function mintToken(
  options: {
    sub: string;
    scope: string;
    ttl: number;
    kid?: string;
    clientId?: string;
    key?: KeyObject;
    alg?: string;
    /** Binds the token to a DPoP key: its RFC 7638 thumbprint, as cnf.jkt. */
    dpopJkt?: string;
  },
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<string> {
  const claims = {
    sub: options.sub,
    scope: options.scope,
    client_id: options.clientId ?? options.sub,
    ...(options.dpopJkt === undefined ? {} : { cnf: { jkt: options.dpopJkt } }),
  };
  if (options.key === undefined) return signToken(configSigner(env, options.kid ?? ''), claims, { expiresIn: options.ttl });
  const config = loadConfig(env);
  const kid = options.kid ?? (await publicJwk(options.key)).kid;
  const signer: Signer = {
    secret: options.key,
    issuer: config.issuer,
    audience: config.audiences[0] ?? 'biz-service',
    alg: algorithmFor(options.key, options.alg),
    ...(kid ? { kid } : {}),
  };
  return signToken(signer, claims, { expiresIn: options.ttl });
}

/** Serves the JWKS on loopback for a local JWT_JWKS_URL; resolves with the URL once listening. */
export function serveJwks(jwks: unknown, port: number): Promise<{ url: string; close(): void }> {
  const body = JSON.stringify(jwks);
  const server = createServer((request, response) => {
    if (request.url !== '/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const address = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${address.port}/jwks.json`, close: () => server.close() });
    });
  });
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        sub: { type: 'string' },
        scope: { type: 'string', default: 'agent:commands agent:results' },
        ttl: { type: 'string', default: '300' },
        kid: { type: 'string' },
        'client-id': { type: 'string' },
        key: { type: 'string' },
        alg: { type: 'string' },
        jwks: { type: 'string' },
        serve: { type: 'string' },
        'dpop-jkt': { type: 'string' },
        'dpop-key': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const alg = typeof values.alg === 'string' ? values.alg : undefined;
  try {
    if (typeof values.jwks === 'string') {
      const key = privateKeyFile(values.jwks, { create: true, ...(alg === undefined ? {} : { alg }) });
      const jwks = { keys: [await publicJwk(key)] };
      if (typeof values.serve !== 'string') {
        console.log(JSON.stringify(jwks, null, 2));
        return;
      }
      const served = await serveJwks(jwks, Number(values.serve));
      console.log(`JWKS of ${values.jwks} at ${served.url} (JWT_JWKS_URL=${served.url}); Ctrl-C stops`);
      return;
    }
    const ttl = Number(values.ttl);
    if (typeof values.sub !== 'string' || values.sub === '' || !Number.isInteger(ttl) || ttl < 1) {
      console.error(USAGE);
      process.exit(2);
    }
    if (typeof values['dpop-jkt'] === 'string' && typeof values['dpop-key'] === 'string') {
      console.error(`--dpop-jkt or --dpop-key, not both\n${USAGE}`);
      process.exit(2);
    }
    const dpopJkt =
      typeof values['dpop-key'] === 'string'
        ? (await (await import('./dpop.ts')).dpopKeyFile(values['dpop-key'])).jkt
        : typeof values['dpop-jkt'] === 'string'
          ? values['dpop-jkt']
          : undefined;
    if (dpopJkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(dpopJkt)) {
      console.error('token: --dpop-jkt takes a SHA-256 JWK thumbprint: 43 base64url characters');
      process.exit(2);
    }
    console.log(
      await mintToken({
        sub: values.sub,
        scope: String(values.scope),
        ttl,
        ...(typeof values.kid === 'string' ? { kid: values.kid } : {}),
        ...(typeof values['client-id'] === 'string' ? { clientId: values['client-id'] } : {}),
        ...(typeof values.key === 'string' ? { key: privateKeyFile(values.key) } : {}),
        ...(alg === undefined ? {} : { alg }),
        ...(dpopJkt === undefined ? {} : { dpopJkt }),
      }),
    );
  } catch (error) {
    console.error(`token: ${(error as Error).message}`);
    process.exit(2);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void main();

/**
 * DPoP (RFC 9449) on the client side, for the reference agent, `npm run token -- --dpop-key`
 * and the tests: the proof key (a PEM file, made on first use, or a key made in memory) and one
 * proof per request. Proofs are signed with jose, another library than the service's verifier
 * (lib/auth/dpop.ts), so that a proof is never shaped by the code that checks it.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, type JWK, SignJWT } from 'jose';

/** A proof key: the private key, its `alg`, its public JWK and that JWK's RFC 7638 thumbprint (the token's cnf.jkt). */
export interface DpopKey {
  readonly privateKey: KeyObject;
  readonly alg: string;
  readonly jwk: JWK;
  readonly jkt: string;
}

/** The `alg` a key signs proofs with: ES256 for P-256, EdDSA for Ed25519, RS256 for RSA (PS256 when asked). */
function algorithmOf(key: KeyObject, wanted?: string): string {
  const type = key.asymmetricKeyType;
  if (type === 'ec') return wanted ?? 'ES256';
  if (type === 'ed25519' || type === 'ed448') return 'EdDSA';
  if (type === 'rsa') return wanted ?? 'RS256';
  throw new Error(`a ${type} key cannot sign DPoP proofs (P-256, Ed25519 or RSA)`);
}

/** The key of a KeyObject, with its public JWK and thumbprint. */
export async function dpopKey(privateKey: KeyObject, alg?: string): Promise<DpopKey> {
  const { kty, crv, x, y, n, e } = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const jwk = Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, value]) => value !== undefined)) as JWK;
  return { privateKey, alg: algorithmOf(privateKey, alg), jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}

/** A new key in memory: P-256 by default, `ed25519` or `rsa` when asked. */
export function generateDpopKey(type: 'ec' | 'ed25519' | 'rsa' = 'ec', alg?: string): Promise<DpopKey> {
  const pair =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519');
  return dpopKey(pair.privateKey, alg);
}

/** The key in a PEM file (PKCS#8), made (P-256) when the file does not exist. */
export function dpopKeyFile(path: string): Promise<DpopKey> {
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return dpopKey(createPrivateKey(readFileSync(path)));
}

export interface ProofInput {
  /** The request's method and URL (query and fragment are dropped, as htu is). */
  readonly htm: string;
  readonly htu: string;
  /** The access token the request carries: `ath`. */
  readonly accessToken?: string;
  /** Epoch seconds; now by default. */
  readonly iat?: number;
  readonly jti?: string;
  /** Header members replaced or added (a test's broken proof); `undefined` removes one. */
  readonly header?: Record<string, unknown>;
  /** Claims replaced or added; `undefined` removes one. */
  readonly claims?: Record<string, unknown>;
}

/** One proof (a DPoP header value) for one request. */
export function dpopProof(key: DpopKey, input: ProofInput): Promise<string> {
  const url = new URL(input.htu);
  const claims: Record<string, unknown> = {
    jti: input.jti ?? randomUUID(),
    htm: input.htm,
    htu: `${url.origin}${url.pathname}`,
    iat: input.iat ?? Math.floor(Date.now() / 1000),
    ...(input.accessToken === undefined ? {} : { ath: createHash('sha256').update(input.accessToken).digest('base64url') }),
    ...input.claims,
  };
  const header = { typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...input.header };
  const clean = (record: Record<string, unknown>) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
  // jose signs with the alg the header names; a test that names another keeps the key's and rewrites the header itself.
  return new SignJWT(clean(claims)).setProtectedHeader(clean(header) as { alg: string }).sign(key.privateKey);
}

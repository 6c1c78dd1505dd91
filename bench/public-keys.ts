/**
 * Public-key tokens for figure 2: an RSA 2048 and a P-256 key made per run, their JWKS served
 * from memory through the key set's fetch option (the bench measures verification, not the
 * network), and RS256 / ES256 tokens signed directly with node:crypto.
 */
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { RemoteKeySet } from '../lib/auth/jwks.ts';
import { AGENT_ID, BENCH_AUDIENCE, BENCH_ENV, BENCH_ISSUER } from './fixtures.ts';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const JWKS = JSON.stringify({
  keys: [
    { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'bench-rsa', use: 'sig', alg: 'RS256' },
    { ...ec.publicKey.export({ format: 'jwk' }), kid: 'bench-ec', use: 'sig', alg: 'ES256' },
  ],
});

/** HMAC and the public-key families together, as during a migration from the shared secret. */
export const BENCH_PUBLIC_KEY_ENV: Record<string, string> = {
  ...BENCH_ENV,
  JWT_JWKS_URL: 'https://auth.bench.local/oauth2/jwks',
  JWT_ALGORITHMS: 'HS256,RS256,ES256',
};

/** A key set whose fetch answers from memory; fetched once before it is handed out. */
export async function benchKeySet(): Promise<RemoteKeySet> {
  const keySet = new RemoteKeySet({
    jwksUrl: BENCH_PUBLIC_KEY_ENV.JWT_JWKS_URL,
    cacheSeconds: 600,
    maxStaleSeconds: 86400,
    fetch: async () => new Response(JWKS, { status: 200, headers: { 'content-type': 'application/json' } }),
  });
  await keySet.start();
  return keySet;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact RS256 or ES256 JWS with the claims an agent token carries. */
export function signPublicKeyToken(alg: 'RS256' | 'ES256', claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: BENCH_ISSUER,
    aud: BENCH_AUDIENCE,
    sub: AGENT_ID,
    iat: now,
    exp: now + 3600,
    jti: `jti-${randomBytes(9).toString('base64url')}`,
    scope: 'agent:commands agent:results',
    ...claims,
  };
  const kid = alg === 'RS256' ? 'bench-rsa' : 'bench-ec';
  const input = `${b64url({ alg, typ: 'JWT', kid })}.${b64url(payload)}`;
  const key: KeyObject = alg === 'RS256' ? rsa.privateKey : ec.privateKey;
  const signature = sign('sha256', Buffer.from(input), alg === 'RS256' ? key : { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

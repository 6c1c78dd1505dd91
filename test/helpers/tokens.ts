/** Real signed tokens for tests, made with jose (another library than the one that verifies). */
import { SignJWT } from 'jose';

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
export const TEST_ISSUER = 'https://auth.test.local';
export const TEST_AUDIENCE = 'biz-service';

export interface TokenOptions {
  secret?: string;
  alg?: string;
  header?: Record<string, unknown>;
  /** Seconds from now; negative for a token already expired. */
  expiresIn?: number;
  /** Epoch seconds used as "now" for iat/exp. */
  now?: number;
  omit?: string[];
}

let sequence = 0;

export async function signToken(claims: Record<string, unknown> = {}, options: TokenOptions = {}): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  sequence += 1;
  const payload: Record<string, unknown> = {
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    sub: 'agent-001',
    iat: now,
    exp: now + (options.expiresIn ?? 300),
    jti: `jti-${process.pid}-${sequence}-${Math.random().toString(36).slice(2)}`,
    scope: 'agent:commands agent:results',
    ...claims,
  };
  for (const name of options.omit ?? []) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT', ...options.header })
    .sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}

/** The environment that matches signToken()'s defaults. */
export const TEST_ENV = {
  JWT_SECRET_KEY: TEST_SECRET,
  JWT_ISSUER: TEST_ISSUER,
  JWT_AUDIENCE: TEST_AUDIENCE,
} as const;

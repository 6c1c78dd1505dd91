/** The tests' identity for the one token minter (dev/token.ts, jose: another library than the verifier's). */
import { type Signer, signToken as sign, type TokenOptions } from '../../dev/token.ts';

export type { TokenOptions };

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
export const TEST_ISSUER = 'https://auth.test.local';
export const TEST_AUDIENCE = 'biz-service';

const TEST_SIGNER: Signer = { secret: TEST_SECRET, issuer: TEST_ISSUER, audience: TEST_AUDIENCE };

/** A real token for TEST_ENV: an agent token (agent-001, both agent scopes) unless `claims` say otherwise. */
export function signToken(claims: Record<string, unknown> = {}, options: TokenOptions = {}): Promise<string> {
  return sign(TEST_SIGNER, claims, options);
}

/** The environment that matches signToken()'s defaults. */
export const TEST_ENV = {
  JWT_SECRET_KEY: TEST_SECRET,
  JWT_ISSUER: TEST_ISSUER,
  JWT_AUDIENCE: TEST_AUDIENCE,
} as const;

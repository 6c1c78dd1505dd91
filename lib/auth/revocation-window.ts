/**
 * How long a revocation must hold, from the token rules' own leeway: written once for the API and
 * the command line, so that a revocation always covers every token the verifier would still take.
 */
import { TokenError } from './errors.ts';
import type { TokenVerifier } from './verifier.ts';

export interface RevocationWindow {
  readonly nowSeconds: number;
  /**
   * The cut-off for "every token of this subject so far": the verifier takes `iat` up to now +
   * leeway as issued by now, so the cut-off is that far ahead (fractional `iat` included). Tokens
   * the issuer makes in the next `leeway` seconds fall under it too; later ones work.
   */
  readonly subjectCutoff: number;
  /** Until when a jti revocation is kept: the token's exp plus the leeway, after which it fails anyway. */
  keepUntil(exp: number): number;
  /**
   * The jti and exp of a token given whole, checked to be one this service would accept (its
   * signature, issuer, audience, not expired); throws a RevocationRefused otherwise.
   */
  tokenToRevoke(verifier: TokenVerifier, token: string): { jti: string; exp: number };
}

/** A token given to revoke that cannot be (no jti, not ours, already expired): the caller's input is wrong. */
export class RevocationRefused extends Error {
  override name = 'RevocationRefused';
}

export function revocationWindow(nowMs: number, leewaySeconds: number): RevocationWindow {
  const nowSeconds = Math.floor(nowMs / 1000);
  return {
    nowSeconds,
    subjectCutoff: Math.ceil(nowMs / 1000) + leewaySeconds,
    keepUntil: (exp) => exp + leewaySeconds,
    tokenToRevoke: (verifier, token) => {
      let verified: ReturnType<TokenVerifier['verify']>;
      try {
        verified = verifier.verify(token);
      } catch (error) {
        if (error instanceof TokenError) {
          throw new RevocationRefused(
            error.reason === 'token_expired'
              ? 'the token has expired already: it can no longer be used'
              : `the token is not one this service accepts (${error.reason})`,
          );
        }
        throw error;
      }
      if (verified.jti === undefined) throw new RevocationRefused('the token has no jti: revoke its subject (sub) instead');
      return { jti: verified.jti, exp: verified.exp };
    },
  };
}

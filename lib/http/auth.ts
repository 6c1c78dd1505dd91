/**
 * Bearer authentication for a Middy chain: extracts the token (RFC 6750 2.1, header only),
 * verifies it, checks revocation in one store call, then the route's scopes. Puts the
 * verified token and the runtime on the Lambda context for the handler.
 */
import type middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { VerifiedToken } from '../auth/verifier.ts';
import { missingScopes } from '../auth/scopes.ts';
import { ApiError, insufficientScope, invalidToken, missingToken, TokenError, unavailable } from '../errors.ts';
import { logger } from '../logger.ts';
import { type Runtime, runtime } from '../runtime.ts';

export interface AuthContext extends Context {
  auth: VerifiedToken;
  runtime: Runtime;
}

export interface RuntimeContext extends Context {
  runtime: Runtime;
}

const BEARER = /^Bearer +(\S+)$/i;

/** The token from the Authorization header, undefined when there is none. */
export function bearerToken(headers: APIGatewayProxyEventV2['headers']): string | undefined {
  const value = headers?.authorization;
  if (value === undefined || value.trim() === '') return undefined;
  const found = BEARER.exec(value);
  // Another scheme, two headers joined by a comma, stray characters: not a usable token.
  if (!found?.[1] || found[1].includes(',')) throw invalidToken('malformed_token');
  return found[1];
}

/** Only puts the runtime on the context (for routes without a token). */
export function withRuntime(): middy.MiddlewareObj<APIGatewayProxyEventV2, unknown, Error, RuntimeContext> {
  void runtime().catch(() => {}); // start making it during init; errors surface on the request
  return {
    before: async (request) => {
      request.context.runtime = await runtime();
    },
  };
}

export function authenticate(options: {
  scopes: readonly string[];
}): middy.MiddlewareObj<APIGatewayProxyEventV2, unknown, Error, AuthContext> {
  void runtime().catch(() => {});
  const required = options.scopes;
  return {
    before: async (request) => {
      const rt = await runtime();
      request.context.runtime = rt;
      const token = bearerToken(request.event.headers);
      if (token === undefined) throw missingToken();

      let verified: VerifiedToken;
      try {
        verified = rt.verifier.verify(token);
      } catch (error) {
        if (error instanceof TokenError) {
          logger.info('token rejected', { reason: error.reason, detail: error.message });
          throw invalidToken(error.reason, error);
        }
        throw error;
      }
      if (rt.config.useRedis && verified.jti === undefined) throw invalidToken('missing_claim');

      let revoked: boolean;
      try {
        revoked = await rt.revocations.isRevoked(verified);
      } catch (error) {
        if (error instanceof ApiError) throw error;
        logger.error('revocation check failed', { error: error as Error });
        throw unavailable('the revocation check is unavailable, try again shortly', error);
      }
      if (revoked) {
        logger.info('token rejected', { reason: 'token_revoked', agent_id: verified.sub });
        throw invalidToken('token_revoked');
      }

      const lacking = missingScopes(verified.scopes, required);
      if (lacking.length > 0) throw insufficientScope(required);

      request.context.auth = verified;
      logger.appendKeys({ agent_id: verified.sub });
    },
  };
}

/**
 * Bearer authentication for a Middy chain: extracts the token (RFC 6750 2.1, header only),
 * verifies it (signature and claims, cached per token string), checks its certificate binding
 * (RFC 8705, per request), then its revocation (one store call) and, when configured, the
 * agent's rate limit, both in flight at once, then the route's scopes. Puts the verified token
 * and the runtime on the Lambda context.
 *
 * Nothing touches the store before the token is verified and its binding holds.
 */
import type middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { checkBinding } from '../auth/binding.ts';
import { TokenError } from '../auth/errors.ts';
import { missingScopes } from '../auth/scopes.ts';
import type { VerifiedToken } from '../auth/verifier.ts';
import { logger, requestKeys } from '../logger.ts';
import { type Runtime, runtime as processRuntime } from '../runtime.ts';
import { insufficientScope, missingToken, rateLimited } from './errors.ts';
import { StoreUnavailableError } from '../store/types.ts';
import type { AuthenticatedRoute } from './routes.ts';

export interface AuthContext extends Context {
  auth: VerifiedToken;
  runtime: Runtime;
}

const BEARER = /^Bearer +(\S+)$/i;

/** The token from the Authorization header, undefined when there is none. */
export function bearerToken(headers: APIGatewayProxyEventV2['headers']): string | undefined {
  const value: unknown = headers?.authorization;
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return undefined;
  // API Gateway joins repeated headers into one string; anything else (an array in a hand-made event) is no token.
  if (typeof value !== 'string') throw new TokenError('malformed_token', 'the Authorization header is not one string');
  const found = BEARER.exec(value);
  // Another scheme, two headers joined by a comma, stray characters: not a usable token.
  if (!found?.[1] || found[1].includes(',')) throw new TokenError('malformed_token', 'not one Bearer token');
  return found[1];
}

export interface AuthenticateOptions {
  /** Where the runtime comes from; by default the process's own, made once from the environment. */
  readonly runtime?: () => Promise<Runtime>;
}

/** The route's own scopes (from its entry in the route table) are the ones required. */
export function authenticate(
  route: Pick<AuthenticatedRoute, 'scopes'>,
  options: AuthenticateOptions = {},
): middy.MiddlewareObj<APIGatewayProxyEventV2, unknown, Error, AuthContext> {
  const runtime = options.runtime ?? processRuntime;
  void runtime().catch(() => {});
  const required = route.scopes;
  return {
    before: async (request) => {
      const rt = await runtime();
      request.context.runtime = rt;
      const token = bearerToken(request.event.headers);
      if (token === undefined) throw missingToken();

      // Only a public-key token whose key is not at hand waits (for one key set fetch, at most
      // the timeout); a key that cannot be known throws KeySetUnavailableError: 503 at the edge.
      const keys = rt.verifier.prepare(token);
      if (keys !== undefined) await keys;
      const verified = rt.verifier.verify(token);
      // Per request, never cached: the same token is good with one certificate only.
      checkBinding(verified.claims, clientCertPem(request.event), { requireBound: rt.config.requireBoundTokens });

      // Both in flight at once: one round trip of time (two requests when rate limiting is on;
      // @upstash/redis never batches a read with a script, and auto-pipelining is off).
      const [revocation, limit] = await Promise.all([
        settle(rt.revocations.isRevoked(verified)),
        rt.rateLimiter === undefined ? undefined : settle(rt.rateLimiter.limit(verified.sub)),
      ]);
      // Fail closed: a token whose revocation state is unknown is never accepted; the edge answers 503.
      if (!revocation.ok) {
        const { error } = revocation;
        throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError('the revocation check failed', { cause: error });
      }
      if (revocation.value) throw new TokenError('token_revoked', undefined, undefined, verified.sub);
      if (limit !== undefined) {
        if (!limit.ok) {
          // Fail open, logged: the token is verified and not revoked; the limit protects
          // capacity, not access. See SECURITY.md.
          logger.error('rate limit check failed; request let through', {
            ...requestKeys(request.context),
            error: limit.error as Error,
            agent_id: verified.sub,
          });
        } else if (!limit.value.success) {
          logger.info('rate limited', { ...requestKeys(request.context), agent_id: verified.sub });
          throw rateLimited(limit.value.reset, Date.now()); // reset is on the limiter's (system) clock
        }
      }

      const lacking = missingScopes(verified.scopes, required);
      if (lacking.length > 0) throw insufficientScope(required);

      request.context.auth = verified;
    },
  };
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** The client certificate of an mTLS request, as API Gateway (and the local server) pass it. */
export function clientCertPem(event: APIGatewayProxyEventV2): string | undefined {
  const context = event.requestContext as APIGatewayProxyEventV2['requestContext'] & {
    authentication?: { clientCert?: { clientCertPem?: unknown } | null } | null;
  };
  const pem = context?.authentication?.clientCert?.clientCertPem;
  return typeof pem === 'string' ? pem : undefined;
}

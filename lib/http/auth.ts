/**
 * Bearer and DPoP authentication for a Middy chain: extracts the token (RFC 6750 2.1 or RFC 9449
 * 7.1, header only), verifies it (signature and claims, cached per token string), checks its
 * certificate binding (RFC 8705, per request), its DPoP proof (RFC 9449 4.3 but the jti's
 * replay, per request) and the route's scopes, all without I/O. Puts the verified token, the
 * stores admitted for it and the runtime (its stores left out) on the Lambda context.
 *
 * The revocation decision and the rate limit are the admission's (lib/store/types.ts): the
 * handler's stores are `runtime.stores.admitted(admission)`, the only stores it can reach, so
 * for a route whose handler calls the store (`admitsInStore` in the route table) that one store
 * call admits the request in the same atomic step as its action, and the request costs one
 * Upstash command; for the others (whoami, token-info) this middleware admits it with one call.
 *
 * Nothing touches the store before the token is verified, its binding holds and it has the
 * route's scopes: a token refused for any of these is never counted against the rate limit.
 *
 * A DPoP-bound token (`cnf.jkt`) is good only as `Authorization: DPoP <token>` with one proof
 * that passes lib/auth/dpop.ts; the proof's jti goes into the admission, and the gate that admits
 * the request refuses a jti another request used (one store command still).
 */
import type middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { checkBinding, checkBindingWithoutTls, dpopThumbprint } from '../auth/binding.ts';
import { type DpopSettings, proofId, proofKeepUntil, requestUrl, verifyProof } from '../auth/dpop.ts';
import { TokenError } from '../auth/errors.ts';
import { missingScopes } from '../auth/scopes.ts';
import type { VerifiedToken } from '../auth/verifier.ts';
import { type Runtime, runtime as processRuntime } from '../runtime.ts';
import type { Admission, AdmittedStores, ProofAdmission } from '../store/types.ts';
import { type DpopChallenge, insufficientScope, missingToken } from './errors.ts';
import type { AuthenticatedRoute } from './routes.ts';

/** What a handler may use of the runtime: everything but its stores, which it reaches admitted only. */
export type HandlerRuntime = Omit<Runtime, 'stores'>;

export interface AuthContext extends Context, DpopChallenge {
  auth: VerifiedToken;
  /** The request's stores: every call admits it (revocation decision, rate limit) in the same step as its action. */
  stores: AdmittedStores;
  runtime: HandlerRuntime;
}

const SCHEME = /^(Bearer|DPoP) +(\S+)$/i;

/** The token and its scheme from the Authorization header, undefined when there is none. */
export function authorization(headers: APIGatewayProxyEventV2['headers']): { scheme: 'Bearer' | 'DPoP'; token: string } | undefined {
  const value: unknown = headers?.authorization;
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return undefined;
  // API Gateway joins repeated headers into one string; anything else (an array in a hand-made event) is no token.
  if (typeof value !== 'string') throw new TokenError('malformed_token', 'the Authorization header is not one string');
  const found = SCHEME.exec(value);
  // Another scheme, two headers joined by a comma, stray characters: not a usable token.
  if (!found?.[1] || !found[2] || found[2].includes(',')) throw new TokenError('malformed_token', 'not one Bearer or DPoP token');
  return { scheme: found[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: found[2] };
}

/** The token from the Authorization header (either scheme), undefined when there is none. */
export function bearerToken(headers: APIGatewayProxyEventV2['headers']): string | undefined {
  return authorization(headers)?.token;
}

/**
 * The DPoP rules of one request (RFC 9449 7.1): a token bound to a key (`cnf.jkt`) only with the
 * DPoP scheme and a proof that passes every check; the DPoP scheme only with a bound token;
 * DPOP_REQUIRED refuses a token that is not bound. Gives what the admission needs of the proof.
 */
export function checkDpop(
  event: APIGatewayProxyEventV2,
  scheme: 'Bearer' | 'DPoP',
  token: string,
  claims: Readonly<Record<string, unknown>>,
  settings: DpopSettings,
  now: number,
): ProofAdmission | undefined {
  const jkt = dpopThumbprint(claims);
  if (jkt === undefined) {
    if (scheme === 'DPoP') throw new TokenError('not_dpop_bound', 'the DPoP scheme with a token that has no cnf.jkt');
    if (settings.required) throw new TokenError('missing_claim', 'cnf.jkt (DPoP-bound tokens are required)');
    return undefined;
  }
  if (scheme !== 'DPoP') throw new TokenError('dpop_bound_token', 'a DPoP-bound token sent as Bearer');
  const context = event.requestContext;
  const url = requestUrl(settings.publicBaseUrl, {
    scheme: event.headers?.['x-forwarded-proto'] ?? 'https',
    host: context?.domainName ?? event.headers?.host ?? '',
    path: event.rawPath ?? context?.http?.path ?? '/',
  });
  const method = context?.http?.method ?? '';
  const proof = verifyProof({ header: event.headers?.dpop, method, url, accessToken: token, jkt, now }, settings);
  return { id: proofId(proof), until: proofKeepUntil(proof.iat, settings.iatWindowSeconds), request: randomUUID() };
}

export interface AuthenticateOptions {
  /** Where the runtime comes from; by default the process's own, made once from the environment. */
  readonly runtime?: () => Promise<Runtime>;
}

/** The route's own scopes (from its entry in the route table) are the ones required. */
export function authenticate(
  route: Pick<AuthenticatedRoute, 'scopes' | 'admitsInStore'> & {
    /** 'websocket': the push channel's $connect, where no client certificate can arrive (checkBindingWithoutTls). */
    readonly channel?: 'http' | 'websocket';
  },
  options: AuthenticateOptions = {},
): middy.MiddlewareObj<APIGatewayProxyEventV2, unknown, Error, AuthContext> {
  const runtime = options.runtime ?? processRuntime;
  void runtime().catch(() => {});
  const required = route.scopes;
  const admitsInStore = route.admitsInStore === true;
  return {
    before: async (request) => {
      const rt = await runtime();
      request.context.runtime = rt;
      const dpop = rt.config.dpop;
      const found = authorization(request.event.headers);
      if (found === undefined) throw missingToken(dpop.required && route.channel !== 'websocket' ? dpop.algorithms : undefined);
      const { scheme, token } = found;
      if (scheme === 'DPoP' || dpop.required) request.context.dpopAlgs = dpop.algorithms;

      // Only a public-key token whose key is not at hand waits (for one key set fetch, at most
      // the timeout); a key that cannot be known throws KeySetUnavailableError: 503 at the edge.
      const keys = rt.verifier.prepare(token);
      if (keys !== undefined) await keys;
      const verified = rt.verifier.verify(token);
      if (dpopThumbprint(verified.claims) !== undefined) request.context.dpopAlgs = dpop.algorithms;
      // Per request, never cached: the same token is good with one certificate only.
      const policy = { requireBound: rt.config.requireBoundTokens };
      if (route.channel === 'websocket') checkBindingWithoutTls(verified.claims, policy);
      else checkBinding(verified.claims, clientCertPem(request.event), policy);
      const now = rt.clock.now();
      // Per request too: a proof is made for one request, its jti checked in the admission below.
      // The push channel's upgrade carries no proof (checkBindingWithoutTls refuses a jkt token).
      if (route.channel === 'websocket' && scheme === 'DPoP') throw new TokenError('malformed_token', 'no DPoP on the push channel');
      const proof = route.channel === 'websocket' ? undefined : checkDpop(request.event, scheme, token, verified.claims, dpop, now);
      const lacking = missingScopes(verified.scopes, required);
      if (lacking.length > 0) throw insufficientScope(required);

      const admission: Admission = proof === undefined ? { token: verified, now } : { token: verified, now, proof };
      const stores = rt.stores.admitted(admission);
      // Fail closed: a store that cannot answer throws StoreUnavailableError (503 at the edge);
      // a revoked token TokenError (401), an agent over its limit RateLimitedError (429).
      if (!admitsInStore) await stores.admit();
      request.context.auth = verified;
      request.context.stores = stores;
    },
  };
}

/** The client certificate of an mTLS request, as API Gateway (and the local server) pass it. */
export function clientCertPem(event: APIGatewayProxyEventV2): string | undefined {
  const context = event.requestContext as APIGatewayProxyEventV2['requestContext'] & {
    authentication?: { clientCert?: { clientCertPem?: unknown } | null } | null;
  };
  const pem = context?.authentication?.clientCert?.clientCertPem;
  return typeof pem === 'string' ? pem : undefined;
}

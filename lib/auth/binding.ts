/**
 * Certificate-bound access tokens (RFC 8705 3): a token whose `cnf` claim carries `x5t#S256`
 * (the base64url SHA-256 of the client certificate's DER) is only good on a request made with
 * that certificate. The certificate comes from the mTLS handshake (API Gateway's custom domain
 * passes it as `requestContext.authentication.clientCert.clientCertPem`; the local server in
 * TLS mode does the same); its chain was checked there against the trust store, we only match
 * the thumbprint.
 *
 * Checked on every request, never cached: the same token string is good with one certificate
 * and not with another.
 */
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { TokenError } from './errors.ts';

/** `x5t#S256` of a PEM certificate: base64url (no padding) of SHA-256 over its DER. */
export function certificateThumbprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');
}

export interface BindingPolicy {
  /** REQUIRE_BOUND_TOKENS: refuse tokens without `cnf`. */
  readonly requireBound: boolean;
}

/**
 * Throws TokenError unless the token may be used with this client certificate (or none):
 * - no `cnf`: fine, unless bound tokens are required (`missing_claim`);
 * - `cnf` not an object, or `x5t#S256` or `jkt` not a string: `malformed_token`;
 * - `cnf` with `jkt` alone (DPoP, RFC 9449): fine here, the proof is checked by lib/auth/dpop.ts;
 * - `cnf` with neither (a confirmation method we cannot check), no certificate on the request, an
 *   unreadable one, or another one: `certificate_mismatch`.
 */
export function checkBinding(claims: Readonly<Record<string, unknown>>, clientCertPem: string | undefined, policy: BindingPolicy): void {
  const expected = boundThumbprint(claims, policy, true);
  if (expected === undefined) return;
  if (clientCertPem === undefined || clientCertPem === '') throw new TokenError('certificate_mismatch', 'no client certificate');
  let actual: string;
  try {
    actual = certificateThumbprint(clientCertPem);
  } catch (error) {
    throw new TokenError('certificate_mismatch', 'the client certificate cannot be read', error);
  }
  const a = Buffer.from(actual);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new TokenError('certificate_mismatch', 'another client certificate');
}

/**
 * The binding rule of a channel without mutual TLS: API Gateway WebSocket APIs offer none, so no
 * client certificate reaches `$connect` (docs/push.md#bound-tokens). A certificate-bound token is
 * accepted there unchecked, because the push channel carries nothing but "poll now": every poll
 * a wake causes is an HTTPS request that checkBinding holds to the token's certificate, so a
 * stolen bound token opens a connection that learns only when its agent has something, never
 * what. Everything else is as checkBinding: no `cnf` is fine unless bound tokens are required;
 * a malformed `cnf` is refused; a confirmation other than `x5t#S256` (DPoP's `jkt`) is refused,
 * since no proof on the upgrade request is checked.
 */
export function checkBindingWithoutTls(claims: Readonly<Record<string, unknown>>, policy: BindingPolicy): void {
  boundThumbprint(claims, policy, false);
}

/**
 * The token's DPoP key thumbprint (`cnf.jkt`, RFC 9449 6.1), undefined when it is not DPoP-bound;
 * a `cnf` that is no object, or a `jkt` that is no string, is `malformed_token`.
 */
export function dpopThumbprint(claims: Readonly<Record<string, unknown>>): string | undefined {
  const cnf = claims.cnf;
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw new TokenError('malformed_token', 'cnf is not an object');
  const jkt = (cnf as Record<string, unknown>).jkt;
  if (jkt === undefined) return undefined;
  if (typeof jkt !== 'string' || jkt === '') throw new TokenError('malformed_token', 'cnf.jkt is not a string');
  return jkt;
}

/**
 * The token's `cnf` read by the rules both checks share: undefined when it has none (refused when
 * bound tokens are required), else its `x5t#S256` (a malformed `cnf`, or one without that
 * confirmation, refused); `dpop`: the channel checks DPoP proofs, so `jkt` alone is a confirmation
 * it can hold the token to (undefined here).
 */
function boundThumbprint(claims: Readonly<Record<string, unknown>>, policy: BindingPolicy, dpop: boolean): string | undefined {
  const cnf = claims.cnf;
  if (cnf === undefined) {
    if (policy.requireBound) throw new TokenError('missing_claim', 'cnf (bound tokens are required)');
    return undefined;
  }
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw new TokenError('malformed_token', 'cnf is not an object');
  const expected = (cnf as Record<string, unknown>)['x5t#S256'];
  if (expected === undefined && dpop && dpopThumbprint(claims) !== undefined) return undefined;
  if (expected === undefined) throw new TokenError('certificate_mismatch', 'cnf has no x5t#S256 confirmation');
  if (typeof expected !== 'string') throw new TokenError('malformed_token', 'x5t#S256 is not a string');
  return expected;
}

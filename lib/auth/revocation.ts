/**
 * The revocation decision, written once: given what a store read for a token, is it revoked?
 * No I/O: the in-memory store and the Upstash store (one MGET) gather the facts and ask here.
 * Times are epoch seconds.
 *
 * - denylist (default): revoked when its jti is denylisted, or its subject has a cut-off at or
 *   after its iat (a token without iat cannot show it was issued later, so it is revoked too).
 * - allowlist: as denylist, and also revoked unless its jti is registered (a token without jti
 *   never can be).
 */
/** denylist: revoked entries refuse; allowlist: only registered tokens pass (REVOCATION_MODE). */
export type RevocationMode = 'denylist' | 'allowlist';

/** What the revocation check needs to know of a verified token. */
export interface TokenIdentity {
  readonly jti: string | undefined;
  readonly sub: string;
  readonly iat: number | undefined;
  readonly exp: number;
}

/** What a store read for one token. */
export interface RevocationFacts {
  /** A live denylist entry exists for the token's jti. */
  readonly jtiRevoked: boolean;
  /** The subject's cut-off, if it has one; NaN when what is stored does not read as a number. */
  readonly subjectCutoff: number | undefined;
  /** A live allowlist registration exists for the token's jti (looked at in allowlist mode only). */
  readonly registered: boolean;
}

/** Nothing to read: in allowlist mode a token without jti is revoked whatever the store holds. */
export function isRevokedUnread(token: TokenIdentity, mode: RevocationMode): boolean {
  return mode === 'allowlist' && token.jti === undefined;
}

/** Whether the store must read the allowlist registration for this token. */
export function needsRegistration(token: TokenIdentity, mode: RevocationMode): boolean {
  return mode === 'allowlist' && token.jti !== undefined;
}

/** A subject cut-off revokes a token issued at or before it; an unreadable cut-off revokes all (fail closed). */
export function isUnderCutoff(iat: number | undefined, cutoff: number | undefined): boolean {
  if (cutoff === undefined) return false;
  return iat === undefined || !Number.isFinite(cutoff) || iat <= cutoff;
}

/** The decision. */
export function isRevoked(token: TokenIdentity, mode: RevocationMode, facts: RevocationFacts): boolean {
  if (isRevokedUnread(token, mode)) return true;
  if (token.jti !== undefined) {
    if (facts.jtiRevoked) return true;
    if (mode === 'allowlist' && !facts.registered) return true;
  }
  return isUnderCutoff(token.iat, facts.subjectCutoff);
}

/**
 * An entry (denylisted jti, registration) kept until `until` is live at `now`. Not `until > now`:
 * an end that is not a number (NaN) keeps the entry, as the Upstash store keeps such a key for good.
 */
export function isLive(until: number, now: number): boolean {
  return !(until <= now);
}

/** Cut-offs are whole seconds: a fraction is dropped before the cut-off is stored. */
export function cutoffSeconds(cutoff: number): number {
  return Math.floor(cutoff);
}

/** The stored cut-off after revoking the subject at `cutoff`: only ever raised, never lowered. */
export function raisedCutoff(current: number | undefined, cutoff: number): number {
  const next = cutoffSeconds(cutoff);
  return current !== undefined && current >= next ? current : next;
}

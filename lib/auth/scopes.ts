/** Scopes from `scope` (space-delimited string or JSON array) or else `scp`; exact matching. */

export function scopesOf(claims: Readonly<Record<string, unknown>>): string[] | undefined {
  const source = claims.scope !== undefined ? claims.scope : claims.scp;
  if (source === undefined) return [];
  if (typeof source === 'string') return source.split(' ').filter((scope) => scope.length > 0);
  if (Array.isArray(source) && source.every((scope) => typeof scope === 'string')) {
    return source.filter((scope) => scope.length > 0);
  }
  return undefined; // wrong JSON type: the caller treats the token as malformed
}

/** The required scopes the token lacks, in the order they were asked for. */
export function missingScopes(granted: readonly string[], required: readonly string[]): string[] {
  return required.filter((scope) => !granted.includes(scope));
}

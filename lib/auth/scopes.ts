/** Scopes from `scope` (space-delimited string or JSON array) or else `scp`; exact matching. */

/** Every scope the service knows. */
export const SCOPES = {
  commands: 'agent:commands',
  results: 'agent:results',
  adminCommands: 'admin:commands',
  adminConfig: 'admin:config',
  adminRevoke: 'admin:revoke',
  adminGroups: 'admin:groups',
  jobs: 'admin:jobs',
} as const;

function parse(source: unknown): string[] | undefined {
  if (typeof source === 'string') return source.split(' ').filter((scope) => scope.length > 0);
  if (Array.isArray(source) && source.every((scope) => typeof scope === 'string')) {
    return source.filter((scope) => scope.length > 0);
  }
  return undefined;
}

/** The token's scopes; undefined when `scope` or `scp` has the wrong JSON type (a malformed token). */
export function scopesOf(claims: Readonly<Record<string, unknown>>): string[] | undefined {
  const scope = claims.scope === undefined ? [] : parse(claims.scope);
  const scp = claims.scp === undefined ? [] : parse(claims.scp);
  if (scope === undefined || scp === undefined) return undefined;
  return claims.scope !== undefined ? scope : scp;
}

/** The required scopes the token lacks, in the order they were asked for. */
export function missingScopes(granted: readonly string[], required: readonly string[]): string[] {
  return required.filter((scope) => !granted.includes(scope));
}

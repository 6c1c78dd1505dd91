/**
 * docs/deploy.md against the code it describes: the context table names every key the stack reads
 * (CONTEXT_DEFAULTS in infra/settings.ts, and `region` from infra/app.ts) with its default, and the
 * scopes to register are every scope the service knows (SCOPES in lib/auth/scopes.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTEXT_DEFAULTS } from '../../infra/settings.ts';
import { SCOPES } from '../../lib/auth/scopes.ts';
import { routes } from '../../lib/http/routes.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const deploy = readFileSync(path.join(ROOT, 'docs/deploy.md'), 'utf8');

/** The rows of the table that follows a heading: first cell → second cell. */
function tableAfter(heading: string): Map<string, string> {
  const section = deploy.slice(deploy.indexOf(`\n${heading}\n`));
  const rows = new Map<string, string>();
  for (const line of section.split('\n').slice(2)) {
    if (line.startsWith('## ')) break;
    const cells = line.split(' | ');
    if (line.startsWith('| `') && cells.length >= 3) rows.set((cells[0] as string).slice(2).replaceAll('`', ''), cells[1] as string);
  }
  return rows;
}

describe('docs/deploy.md', () => {
  it('lists every context key, with the default the stack uses', () => {
    const table = tableAfter('## Context values');
    const defaults = Object.entries(CONTEXT_DEFAULTS).map(([key, value]) => [key, value === '' ? 'empty' : `\`${value}\``]);

    expect([...table.keys()].sort()).toEqual(['region', ...Object.keys(CONTEXT_DEFAULTS)].sort());
    expect(defaults.filter(([key, shown]) => table.get(key as string) !== shown)).toEqual([]);
  });

  it('lists every scope to register, each with what it allows', () => {
    const rows = [...deploy.matchAll(/^\| (agents|operators) \| `([a-z:]+)` \| (.+) \|$/gm)].map((match) => match[2]);

    expect(rows.sort()).toEqual(Object.values(SCOPES).sort());
  });

  it('gives agents only the scopes of agent routes, and operators the others', () => {
    const byScope = new Map([...deploy.matchAll(/^\| (agents|operators) \| `([a-z:]+)` \|/gm)].map((match) => [match[2], match[1]]));
    const agentScopes = new Set(
      routes.filter((route) => route.path === '/api/commands' || route.path === '/api/results').flatMap((route) => route.scopes ?? []),
    );

    for (const [scope, who] of byScope) expect(who, scope).toBe(agentScopes.has(scope as string) ? 'agents' : 'operators');
  });

  it('asks the issuer for every claim the service requires', () => {
    for (const claim of ['iss', 'aud', 'exp', 'sub', 'jti', 'scope']) expect(deploy).toMatch(new RegExp(`^\\| \`${claim}\` \\|`, 'm'));
  });
});

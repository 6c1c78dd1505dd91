/**
 * The rooms keep their meaning: nothing that is deployed (functions/, lib/, infra/) imports
 * development tooling (dev/), tests or benchmarks, and the pure rooms import no HTTP, AWS or
 * storage code. Read from the sources' own import lines.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(ROOT, dir))) {
    const relative = path.join(dir, entry);
    if (statSync(path.join(ROOT, relative)).isDirectory()) out.push(...sources(relative));
    else if (entry.endsWith('.ts')) out.push(relative);
  }
  return out;
}

/** Every module a file imports, resolved to a path from the root when it is one of ours. */
function imports(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const found = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)];
  return found.map((match) => {
    const spec = (match[1] ?? match[2]) as string;
    return spec.startsWith('.') ? path.normalize(path.join(path.dirname(file), spec)) : spec;
  });
}

describe('the layout', () => {
  const deployed = [...sources('functions'), ...sources('lib'), ...sources('infra')];

  it('finds the product sources it checks', () => {
    expect(deployed).toContain('lib/http/auth.ts');
    expect(imports('lib/http/auth.ts')).toContain('lib/auth/binding.ts');
  });

  it('keeps development tooling, tests and benchmarks out of everything that is deployed', () => {
    const offending = deployed.flatMap((file) =>
      imports(file)
        .filter((target) => /^(dev|test|bench)\//.test(target))
        .map((target) => `${file} -> ${target}`),
    );
    expect(offending).toEqual([]);
  });

  it('keeps the token rules, the command model and the group rules free of HTTP, AWS, storage code and the configuration', () => {
    const pure = [...sources('lib/auth'), ...sources('lib/commands'), ...sources('lib/groups')];
    const offending = pure.flatMap((file) =>
      imports(file)
        .filter(
          (target) =>
            /^lib\/(http|store)\//.test(target) ||
            /^lib\/(config|runtime|secrets)\.ts$/.test(target) ||
            /^(@middy|@upstash|aws-lambda|@aws-sdk|aws-cdk-lib)/.test(target),
        )
        .map((target) => `${file} -> ${target}`),
    );
    expect(offending).toEqual([]);
  });
});

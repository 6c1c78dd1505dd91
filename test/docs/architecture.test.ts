/**
 * The Layout section of docs/architecture.md names the tree as it is: every folder and file it
 * names exists, and every folder at the top of the repository, under lib/ and under test/ is
 * named there, so a folder added or moved without a word fails here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The code block of the Layout section. */
function layoutBlock(): string[] {
  const doc = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
  const section = doc.slice(doc.indexOf('\n## Layout\n'));
  const from = section.indexOf('\n```\n') + 5;
  return section.slice(from, section.indexOf('\n```', from)).split('\n');
}

/**
 * The paths a layout block names: a name line starts its first column at an indent of two per
 * level (`lib/`, `  config.ts`, `    verifier.ts`), names separated by `, `; the lines indented
 * further are the descriptions that go on.
 */
function namedPaths(lines: readonly string[]): string[] {
  const parents: string[] = [];
  const out: string[] = [];
  for (const line of lines) {
    const indent = line.length - line.trimStart().length;
    if (line.trim() === '' || indent >= 10) continue;
    if (indent % 2 !== 0) throw new Error(`odd indent in the layout: ${JSON.stringify(line)}`);
    const level = indent / 2;
    const column = line.trimStart().split(/\s{2,}/)[0] as string;
    const names = column.split(', ').map((name) => name.trim());
    parents.length = level;
    const parent = parents.join('');
    for (const name of names) out.push(`${parent}${name}`);
    const folder = names.find((name) => name.endsWith('/'));
    if (folder !== undefined) parents[level] = folder;
  }
  return out;
}

/** The folders git tracks directly under `dir` ('' for the root). */
function trackedFolders(dir: string): string[] {
  const files = execFileSync('git', ['ls-files', '--', dir === '' ? '.' : dir], { cwd: ROOT, encoding: 'utf8' }).split('\n');
  const folders = new Set<string>();
  for (const file of files) {
    const rest = file.slice(dir.length);
    const slash = rest.indexOf('/');
    if (file.startsWith(dir) && slash > 0) folders.add(`${dir}${rest.slice(0, slash + 1)}`);
  }
  return [...folders].sort();
}

describe('the Layout of docs/architecture.md', () => {
  const named = namedPaths(layoutBlock());

  it('reads the layout block', () => {
    expect(named).toContain('lib/');
    expect(named).toContain('lib/http/routes.ts');
    expect(named).toContain('lib/auth/revocation-window.ts');
    expect(named).toContain('test/docs/');
  });

  it('names only paths that exist', () => {
    const missing = named.filter((name) => {
      const full = path.join(ROOT, name);
      return !existsSync(full) || statSync(full).isDirectory() !== name.endsWith('/');
    });

    expect(missing).toEqual([]);
  });

  it.each(['', 'lib/', 'test/'])('names every folder under "%s"', (dir) => {
    const unnamed = trackedFolders(dir).filter((folder) => !named.includes(folder));

    expect(unnamed).toEqual([]);
  });

  it('names every file of lib/ directly under it', () => {
    const files = readdirSync(path.join(ROOT, 'lib')).filter((entry) => entry.endsWith('.ts'));

    expect(files.filter((file) => !named.includes(`lib/${file}`))).toEqual([]);
  });
});

/**
 * The docs by reader: the README stays a door (at most 300 lines, a map of every doc), each doc
 * says first who it is for, every relative link leads to a file and heading that exist, and the
 * revoke command is shown in the form that does not echo a token.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { signToken } from '../helpers/tokens.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

const DOCS = readdirSync(path.join(ROOT, 'docs'))
  .filter((file) => file.endsWith('.md'))
  .map((file) => `docs/${file}`);
/** Every markdown file whose links are checked. */
const LINKED = ['README.md', 'SECURITY.md', 'bench/README.md', ...DOCS];

/** The markdown outside fenced code blocks. */
function prose(markdown: string): string {
  let fenced = false;
  return markdown
    .split('\n')
    .filter((line) => {
      if (line.startsWith('```')) fenced = !fenced;
      return !fenced && !line.startsWith('```');
    })
    .join('\n');
}

/** GitHub's anchors of a file's headings: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of prose(markdown).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = (text as string)
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.add(count === 0 ? base : `${base}-${count}`);
  }
  return out;
}

describe('the docs by reader', () => {
  it('keep the README at 300 lines at most', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(300);
  });

  it('map every doc in the README', () => {
    const readme = read('README.md');

    expect(DOCS.filter((doc) => !readme.includes(`](${doc})`))).toEqual([]);
  });

  it.each(DOCS)('%s says first who it is for', (doc) => {
    const [title, blank, first] = read(doc).split('\n');

    expect(title).toMatch(/^# /);
    expect(blank).toBe('');
    expect(first).toMatch(/^For /);
  });

  it.each(LINKED)('%s links only to files and headings that exist', (file) => {
    const broken: string[] = [];
    for (const [, target] of prose(read(file)).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target as string)) continue;
      const [where, anchor] = (target as string).split('#') as [string, string | undefined];
      const linked = where === '' ? file : path.normalize(path.join(path.dirname(file), where));
      if (!existsSync(path.join(ROOT, linked))) broken.push(`${target}: no ${linked}`);
      else if (anchor !== undefined && linked.endsWith('.md') && !anchors(read(linked)).has(anchor)) broken.push(`${target}: no heading`);
    }

    expect(broken).toEqual([]);
  });
});

/**
 * Paths the docs name that another change of the same series brings (the Lua files and their
 * resolver): allowed to be missing until it is merged, then to be taken out of this list.
 */

describe('the paths the docs name', () => {
  it.each(['README.md', 'SECURITY.md', ...DOCS])('%s names only files and folders that exist', (file) => {
    const named = [...read(file).matchAll(/`((?:lib|dev|test|infra|functions|bench|events|docs)\/[\w./-]+)`/g)].map(
      (match) => match[1] as string,
    );
    const missing = [...new Set(named)].filter((name) => !existsSync(path.join(ROOT, name)));

    expect(missing).toEqual([]);
  });
});

describe('what the docs have you make locally', () => {
  it.each(['.local/issuer.pem', 'env.json'])('%s is kept out of git', async (file) => {
    const { stdout } = await promisify(execFile)('git', ['check-ignore', file], { cwd: ROOT });

    expect(stdout.trim()).toBe(file);
  });
});

describe('the revoke command in the docs', () => {
  it('is always run with npm -s, which does not echo the command line (a token given with --token)', () => {
    const lines = LINKED.flatMap((file) => read(file).split('\n')).filter((line) => /npm run (?:-s )?revoke -- /.test(line));

    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter((line) => !line.includes('npm run -s revoke'))).toEqual([]);
  });

  it('never prints the token it is given, even where it is misplaced', async () => {
    const token = await signToken({ sub: 'agent-001' });
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
    const run = (args: string[]) =>
      promisify(execFile)('npm', ['run', '-s', 'revoke', '--', ...args], { cwd: ROOT, env }).then(
        (done) => done.stdout + done.stderr,
        (failed: { stdout?: string; stderr?: string }) => `${failed.stdout ?? ''}${failed.stderr ?? ''}`,
      );

    for (const args of [['--token', token], [token], ['--token', token, '--sub', 'x'], [`--token=${token}`, '--exp', '1']]) {
      const output = await run(args);
      expect(output.length, args.join(' ')).toBeGreaterThan(0);
      expect(output, args.join(' ')).not.toContain(token);
    }
  }, 60_000);
});

/**
 * The Redis key layout has one home, KEY_LAYOUT in lib/store/keys.ts: every entry has its builder
 * in redisKeys() and every builder makes its entry's pattern, the key table of docs/architecture.md
 * is the one generated from it, and no file header keeps a copy of its own.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOCS_COMMAND, keyTable, staleParts, withPart } from '../../dev/docs.ts';
import { KEY_LAYOUT, type KeyName, keyPart, redisKeys, VERBATIM_PARTS } from '../../lib/store/keys.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The `<name>` parts of a pattern after `<p>`, in order. */
const partsOf = (pattern: string) => [...pattern.matchAll(/<(\w+)>/g)].map((match) => match[1] as string).slice(1);

/** Calls a builder with one value per part; the builders take their parts in pattern order. */
function build(name: KeyName, prefix: string, values: readonly string[]): string {
  const builder = redisKeys(prefix)[name] as (...args: string[]) => string;
  return builder(...values);
}

describe('the key layout record', () => {
  it('has one entry per key builder, and a builder for every entry', () => {
    const builders = Object.keys(redisKeys('<p>')).filter((name) => name !== 'prefix' && name !== 'commandPrefix');

    expect(KEY_LAYOUT.map((entry) => entry.name).sort()).toEqual(builders.sort());
    expect(new Set(KEY_LAYOUT.map((entry) => entry.pattern)).size).toBe(KEY_LAYOUT.length);
  });

  it.each(KEY_LAYOUT.map((entry) => [entry.name, entry] as const))(
    '%s builds its pattern, taking its parts in the pattern order',
    (name, entry) => {
      const parts = partsOf(entry.pattern);

      expect(entry.pattern.startsWith('<p>')).toBe(true);
      expect(
        build(
          name,
          '<p>',
          parts.map((part) => `<${part}>`),
        ),
      ).toBe(entry.pattern);
      // Distinct values show the order: a builder that swapped two parts would not give this.
      const values = parts.map((_, i) => `v${i}`);
      expect(build(name, 'biz:', values)).toBe(
        parts.reduce((key, part, i) => key.replace(`<${part}>`, `v${i}`), entry.pattern.replace('<p>', 'biz:')),
      );
    },
  );

  it.each(KEY_LAYOUT.map((entry) => [entry.name, entry] as const))('%s escapes every id part but the verbatim ones', (name, entry) => {
    const parts = partsOf(entry.pattern);
    const key = build(
      name,
      'biz:',
      parts.map(() => 'a:b%c'),
    );
    const expected = parts.reduce(
      (text, part) => text.replace(`<${part}>`, VERBATIM_PARTS.includes(part) ? 'a:b%c' : keyPart('a:b%c')),
      entry.pattern.replace('<p>', 'biz:'),
    );

    expect(key).toBe(expected);
  });

  it('puts commandPrefix before the command id, and says what every key holds and when it goes', () => {
    const keys = redisKeys('biz:');

    expect(keys.command('fleet:eu', 'c-1')).toBe(`${keys.commandPrefix('fleet:eu')}c-1`);
    for (const entry of KEY_LAYOUT) {
      expect(entry.meaning.length, entry.name).toBeGreaterThan(3);
      expect(entry.expiry.length, entry.name).toBeGreaterThan(3);
    }
  });
});

describe('the key table of docs/architecture.md', () => {
  it(`is the one generated from KEY_LAYOUT (if not: ${DOCS_COMMAND})`, () => {
    const stale = staleParts(ROOT).map(({ part }) => `${part.file} (${part.marker}): run ${DOCS_COMMAND}`);

    expect(stale).toEqual([]);
  });

  it('has one row per entry, in the record order', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `(<p>[^`]+)` \|/gm)].map((match) => match[1]);

    expect(rows).toEqual(KEY_LAYOUT.map((entry) => entry.pattern));
    expect(keyTable().split('\n')).toHaveLength(KEY_LAYOUT.length + 2);
  });

  it('is written between its markers and nowhere else', () => {
    expect(withPart('a\n<!-- keys:begin -->\nold\n<!-- keys:end -->\nb', 'keys', 'new')).toBe(
      'a\n<!-- keys:begin -->\nnew\n<!-- keys:end -->\nb',
    );
    expect(() => withPart('no markers', 'keys', 'new')).toThrow(/keys:begin/);
  });
});

describe('the file headers', () => {
  it.each(['lib/store/upstash.ts', 'lib/store/keys.ts'])('%s keeps no table of the key layout of its own', (file) => {
    const source = readFileSync(path.join(ROOT, file), 'utf8');
    const header = source.slice(0, source.indexOf('*/'));
    // A table row: a comment line that starts with a key and its type.
    const rows = header.split('\n').filter((line) => /^\s*\*\s+<p>\S+\s{2,}(string|hash|set|sorted set)\b/.test(line));

    expect(rows).toEqual([]);
  });
});

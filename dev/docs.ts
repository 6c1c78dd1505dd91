/**
 * Writes the parts of the docs that are generated from the code, so that each fact has one home:
 * today the Redis key table of docs/architecture.md, from KEY_LAYOUT (lib/store/keys.ts), between
 * its `<!-- keys:begin -->` and `<!-- keys:end -->` lines.
 *
 *   npx node dev/docs.ts           rewrite what is out of date
 *   npx node dev/docs.ts --check   say what is out of date and exit 1, change nothing
 *
 * test/docs/keys.test.ts fails when the committed doc differs from what this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { KEY_LAYOUT } from '../lib/store/keys.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

export const DOCS_COMMAND = 'npx node dev/docs.ts';

/** One generated part of one doc. */
export interface GeneratedPart {
  /** From the repository root. */
  readonly file: string;
  /** The marker name: the part sits between `<!-- name:begin -->` and `<!-- name:end -->`. */
  readonly marker: string;
  readonly render: () => string;
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The key table, one row per KEY_LAYOUT entry. */
export function keyTable(): string {
  const rows = KEY_LAYOUT.map((entry) => `| \`${entry.pattern}\` | ${entry.type} | ${cell(entry.meaning)} | ${cell(entry.expiry)} |`);
  return ['| Key | Type | Meaning | Expiry |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export const GENERATED: readonly GeneratedPart[] = [{ file: 'docs/architecture.md', marker: 'keys', render: keyTable }];

/** The text with the part between the markers replaced; throws when the markers are missing. */
export function withPart(text: string, marker: string, content: string): string {
  const begin = `<!-- ${marker}:begin -->`;
  const end = `<!-- ${marker}:end -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`no ${begin} ... ${end} lines`);
  return `${text.slice(0, from + begin.length)}\n${content}\n${text.slice(to)}`;
}

/** The generated parts that differ from what their files hold now. */
export function staleParts(root = ROOT): { part: GeneratedPart; current: string; wanted: string }[] {
  return GENERATED.flatMap((part) => {
    const current = readFileSync(path.join(root, part.file), 'utf8');
    const wanted = withPart(current, part.marker, part.render());
    return current === wanted ? [] : [{ part, current, wanted }];
  });
}

function main(args: readonly string[]): void {
  const usage = `usage: ${DOCS_COMMAND} [--check]\n\n  --check     say what is out of date and exit 1; change nothing\n  -h, --help  this text`;
  if (args.includes('-h') || args.includes('--help')) {
    console.log(usage);
    return;
  }
  if (args.some((arg) => arg !== '--check')) {
    console.error(usage);
    process.exit(2);
  }
  const check = args.includes('--check');
  const stale = staleParts();
  for (const { part, wanted } of stale) {
    if (check) console.error(`${part.file}: the ${part.marker} part is out of date; run ${DOCS_COMMAND}`);
    else {
      writeFileSync(path.join(ROOT, part.file), wanted);
      console.log(`${part.file}: ${part.marker} rewritten`);
    }
  }
  if (check && stale.length > 0) process.exit(1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));

/**
 * Production bundles, built the way the CDK stack builds them (NodejsFunction's local esbuild
 * step: --bundle --platform=node --format=esm --target=node24 --minify --sourcemap
 * --sources-content=false --external:@aws-sdk/* --main-fields=module,main and the ESM require
 * banner), by calling esbuild's API directly rather than `cdk synth`.
 *
 * The options come from infra/function.ts's exported `BUNDLING` (the NodejsFunction `bundling`
 * object the stack uses: one source of truth), translated to esbuild's API, `esbuildArgs`
 * included (an unknown flag stops the bench rather than being dropped). STACK_BUNDLING, a copy,
 * is only the fallback when infra/ cannot be loaded.
 *
 * Beside each bundle go the assembled Lua scripts the stack ships with that function
 * (lua/<name>.lua, infra/function.ts scriptsToShip of its route), since the Redis store reads
 * them from there: a bundle started on the Upstash store needs them.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { fallbackRoute, routes } from '../lib/http/routes.ts';
import { assembleScript, type ScriptFile } from '../lib/store/lua.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where bundles go (git-ignored); BENCH_OUT_DIR moves them (the test uses a temporary folder). */
export const OUT_DIR = process.env.BENCH_OUT_DIR ?? path.join(ROOT, '.bench', 'bundles');

/** What the stack's NodejsFunction `bundling` sets (infra/function.ts), in NodejsFunction's terms. */
export interface StackBundling {
  readonly minify?: boolean;
  readonly sourceMap?: boolean;
  readonly sourcesContent?: boolean;
  readonly format?: string;
  readonly target?: string;
  readonly mainFields?: readonly string[];
  readonly externalModules?: readonly string[];
  readonly banner?: string;
  readonly footer?: string;
  readonly define?: Readonly<Record<string, string>>;
  readonly keepNames?: boolean;
  readonly loader?: Readonly<Record<string, string>>;
  /** Extra esbuild CLI arguments, e.g. { '--alias:semver': '/path/shim.cjs' }. */
  readonly esbuildArgs?: Readonly<Record<string, string | boolean>>;
}

/** esbuildArgs (CLI flags) as API options; throws on a flag this bench does not know, so none is silently dropped. */
export function cliArgs(args: Readonly<Record<string, string | boolean>> = {}): BuildOptions {
  const alias: Record<string, string> = {};
  const define: Record<string, string> = {};
  const out: BuildOptions = {};
  for (const [flag, value] of Object.entries(args)) {
    if (flag.startsWith('--alias:')) alias[flag.slice('--alias:'.length)] = String(value);
    else if (flag.startsWith('--define:')) define[flag.slice('--define:'.length)] = String(value);
    else if (flag === '--keep-names') out.keepNames = value !== false && value !== 'false';
    else if (flag === '--legal-comments') out.legalComments = String(value) as BuildOptions['legalComments'];
    else if (flag === '--log-level') continue;
    else throw new Error(`bench/bundle.ts: esbuildArgs flag ${flag} is not translated to esbuild's API yet`);
  }
  if (Object.keys(alias).length > 0) out.alias = alias;
  if (Object.keys(define).length > 0) out.define = define;
  return out;
}

/** A copy of infra/function.ts's `bundling`, used only when that file cannot be loaded (it exports BUNDLING). */
export const STACK_BUNDLING: StackBundling = {
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  format: 'esm',
  target: 'node24',
  mainFields: ['module', 'main'],
  externalModules: ['@aws-sdk/*'],
  banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
};

/** The stack's bundling options: exported by infra/function.ts when it does, else the copy above. */
export async function stackBundling(): Promise<{ options: StackBundling; source: string }> {
  try {
    const infra = (await import('../infra/function.ts')) as Record<string, unknown>;
    for (const name of ['BUNDLING', 'BUNDLING_OPTIONS', 'FUNCTION_BUNDLING']) {
      const found = infra[name];
      if (found && typeof found === 'object') return { options: found as StackBundling, source: `infra/function.ts (${name})` };
    }
  } catch {
    // infra/ missing or not loadable here: fall back to the copy.
  }
  return { options: STACK_BUNDLING, source: 'bench/bundle.ts STACK_BUNDLING (a copy: infra/function.ts exports no BUNDLING here)' };
}

/** NodejsFunction's bundling props as esbuild API options (what its CLI call amounts to). */
export function esbuildOptions(stack: StackBundling, entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: stack.target ?? 'node24',
    format: stack.format === 'cjs' ? 'cjs' : 'esm',
    outfile,
    minify: stack.minify ?? false,
    sourcemap: stack.sourceMap ?? false,
    sourcesContent: stack.sourcesContent ?? true,
    external: [...(stack.externalModules ?? ['@aws-sdk/*'])],
    ...(stack.mainFields ? { mainFields: [...stack.mainFields] } : {}),
    ...(stack.banner ? { banner: { js: stack.banner } } : {}),
    ...(stack.footer ? { footer: { js: stack.footer } } : {}),
    ...(stack.define ? { define: { ...stack.define } } : {}),
    ...(stack.keepNames ? { keepNames: true } : {}),
    ...(stack.loader ? { loader: { ...stack.loader } as BuildOptions['loader'] } : {}),
    ...cliArgs(stack.esbuildArgs),
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: ROOT,
  };
}

export const kbOf = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

export interface Bundle {
  readonly name: string;
  readonly file: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly mapBytes: number;
  /** The Lua scripts shipped beside it (lua/<name>.lua): their names and bytes in all, not in `bytes`. */
  readonly scripts: readonly ScriptFile[];
  readonly luaBytes: number;
  /** Output bytes per package (node_modules/<pkg>) or per project folder. */
  readonly composition: ReadonlyMap<string, number>;
  readonly metafile: Metafile;
}

/** node_modules/@scope/name/... → @scope/name; lib/http/auth.ts → lib/http */
export function owner(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at >= 0) {
    const parts = input.slice(at + 'node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? input);
  }
  const parts = input.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : (parts[0] ?? input);
}

export async function functionNames(): Promise<string[]> {
  return (await readdir(path.join(ROOT, 'functions')))
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -3))
    .sort();
}

/** The scripts the stack ships with the function `name` (infra/function.ts scriptsToShip of its route); none when infra/ cannot be loaded. */
export async function scriptsOf(name: string): Promise<ScriptFile[]> {
  let ship: ((route: { scopes: readonly string[] | undefined; scripts: readonly ScriptFile[] }) => ScriptFile[]) | undefined;
  try {
    ship = ((await import('../infra/function.ts')) as { scriptsToShip?: typeof ship }).scriptsToShip;
  } catch {
    // infra/ missing or not loadable here: no scripts, as before they were shipped apart.
  }
  const route = routes.find((candidate) => candidate.handler === name) ?? { scopes: undefined, scripts: fallbackRoute.scripts };
  return ship?.(route) ?? [];
}

export async function buildBundle(stack: StackBundling, name: string): Promise<Bundle> {
  const dir = path.join(OUT_DIR, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const ext = stack.format === 'cjs' ? 'js' : 'mjs';
  const file = path.join(dir, `index.${ext}`);
  const result = await build(esbuildOptions(stack, path.join(ROOT, 'functions', `${name}.ts`), file));
  const metafile = result.metafile as Metafile;
  const code = await readFile(file);
  let mapBytes = 0;
  try {
    mapBytes = (await readFile(`${file}.map`)).length;
  } catch {
    // no source map
  }
  const scripts = await scriptsOf(name);
  let luaBytes = 0;
  if (scripts.length > 0) await mkdir(path.join(dir, 'lua'));
  for (const script of scripts) {
    const text = assembleScript(script);
    luaBytes += Buffer.byteLength(text);
    await writeFile(path.join(dir, 'lua', `${script}.lua`), text);
  }
  const composition = compositionOf(metafile, owner);
  return { name, file, bytes: code.length, gzipBytes: gzipSync(code).length, mapBytes, scripts, luaBytes, composition, metafile };
}

/** Output bytes of the entry's bundle per key (owner: per package or folder; ownFile: our files one by one). */
export function compositionOf(metafile: Metafile, key: (input: string) => string): Map<string, number> {
  const composition = new Map<string, number>();
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint !== undefined);
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const k = key(input);
    composition.set(k, (composition.get(k) ?? 0) + bytesInOutput);
  }
  return composition;
}

/** Like owner, but each of our own files on its own row (lib/store/scripts.ts), packages still whole. */
export function ownFile(input: string): string {
  return input.includes('node_modules/') ? owner(input) : input;
}

/**
 * KB per package (rows, largest first in the largest bundle) for each bundle (columns), the
 * bundle's total last: what keeps a function above its size target. `key` = ownFile splits our
 * own folders into files.
 */
export function compositionTable(bundles: readonly Bundle[], key: (input: string) => string = owner): string {
  const columns = bundles.map((b) => ({ b, parts: key === owner ? b.composition : compositionOf(b.metafile, key) }));
  const largest = [...columns].sort((x, y) => y.b.bytes - x.b.bytes)[0];
  const keys = new Set(columns.flatMap((c) => [...c.parts.keys()]));
  const most = (k: string) => Math.max(...columns.map((c) => c.parts.get(k) ?? 0));
  const rows = [...keys]
    .sort((x, y) => (largest?.parts.get(y) ?? 0) - (largest?.parts.get(x) ?? 0) || most(y) - most(x) || x.localeCompare(y))
    .map((k) => [k, ...columns.map((c) => (c.parts.has(k) ? ((c.parts.get(k) ?? 0) / 1024).toFixed(1) : '-'))]);
  rows.push(['(whole bundle, minified)', ...columns.map((c) => (c.b.bytes / 1024).toFixed(1))]);
  rows.push(['(Lua beside it, lua/)', ...columns.map((c) => (c.b.luaBytes / 1024).toFixed(1))]);
  const width = Math.max(...[...keys].map((k) => k.length), 24);
  const header = ['KB in the bundle', ...columns.map((c) => c.b.name)];
  const cell = (text: string, col: number) => (col === 0 ? text.padEnd(width) : text.padStart(Math.max(header[col]?.length ?? 0, 6)));
  const line = (row: readonly string[]) => row.map(cell).join('  ');
  return [line(header), line(header.map((h, col) => '-'.repeat(col === 0 ? width : Math.max(h.length, 6)))), ...rows.map(line)].join('\n');
}

export const USAGE = `usage: node bench/bundle.ts [--by-file] [function ...]

  Builds the production bundles (as figure 3 does) and prints what each is made of: KB of
  minified output per package (node_modules/<package>) and per folder of ours (lib/store, ...),
  one column per function (all of them when none is named).

  --by-file   our own code file by file (lib/store/scripts.ts, ...) instead of by folder
  -h, --help  this text`;

async function main(args: readonly string[]): Promise<void> {
  const { parseArgs } = await import('node:util');
  let parsed: { values: { 'by-file'?: boolean | undefined; help?: boolean | undefined }; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...args],
      options: { 'by-file': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    console.error(`bench/bundle.ts: ${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return;
  }
  const all = await functionNames();
  const unknown = parsed.positionals.filter((name) => !all.includes(name));
  if (unknown.length > 0) {
    console.error(`bench/bundle.ts: no such function: ${unknown.join(', ')} (functions/ has ${all.join(', ')})`);
    process.exitCode = 2;
    return;
  }
  const { options, source } = await stackBundling();
  const bundles: Bundle[] = [];
  for (const name of parsed.positionals.length > 0 ? parsed.positionals : all) bundles.push(await buildBundle(options, name));
  console.log(`bundling options from ${source}; bundles in ${path.relative(ROOT, OUT_DIR) || '.'}/<function>/`);
  console.log(compositionTable(bundles, parsed.values['by-file'] ? ownFile : owner));
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));

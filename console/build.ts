/**
 * Builds the operators' console (console/app.ts, console/app.css, console/index.html) with
 * esbuild, in memory: the script bundled and minified for the browser, the stylesheet minified,
 * each named after a hash of its content (app.<hash>.js, app.<hash>.css), and the page with those
 * names written in. The local server builds it at start (dev/server.ts, handed to
 * lib/http/console.ts); a synth writes it once per process to a folder the console functions'
 * bundling hook copies into console/ beside their index.mjs (infra/function.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSync } from 'esbuild';

const HERE = import.meta.dirname;

function bundle(entry: string): string {
  const result = buildSync({
    entryPoints: [path.join(HERE, entry)],
    bundle: true,
    minify: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    legalComments: 'none',
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  if (output === undefined) throw new Error(`esbuild wrote nothing for console/${entry}`);
  return output.text;
}

const hashed = (stem: string, extension: string, text: string) =>
  `${stem}.${createHash('sha256').update(text).digest('hex').slice(0, 12)}.${extension}`;

/** Every file of the console by name: index.html and the hashed script and stylesheet. */
export function buildConsole(): Map<string, string> {
  const script = bundle('app.ts');
  const style = bundle('app.css');
  const scriptName = hashed('app', 'js', script);
  const styleName = hashed('app', 'css', style);
  const page = readFileSync(path.join(HERE, 'index.html'), 'utf8')
    .replace('/console/app.js', `/console/${scriptName}`)
    .replace('/console/app.css', `/console/${styleName}`);
  if (!page.includes(scriptName) || !page.includes(styleName))
    throw new Error('console/index.html names no /console/app.js or /console/app.css');
  return new Map([
    ['index.html', page],
    [scriptName, script],
    [styleName, style],
  ]);
}

let built: string | undefined;

/**
 * The console built once per process into <tmp>/biz-service-console-<hash of its files>, for the
 * bundling hook to copy from; written aside and renamed into place, as the Lua folder is.
 */
export function consoleBuildDir(): string {
  if (built !== undefined) return built;
  const files = buildConsole();
  const hash = createHash('sha256');
  for (const [name, text] of files) hash.update(`${name}\0${text}\0`);
  const dir = path.join(tmpdir(), `biz-service-console-${hash.digest('hex').slice(0, 16)}`);
  if (!existsSync(dir)) {
    const writing = `${dir}.${process.pid}.${Date.now()}`;
    mkdirSync(writing, { recursive: true });
    for (const [name, text] of files) writeFileSync(path.join(writing, name), text);
    try {
      renameSync(writing, dir);
    } catch (error) {
      rmSync(writing, { recursive: true, force: true });
      if (!existsSync(dir)) throw error;
    }
  }
  built = dir;
  return dir;
}

/**
 * The operators' web console, a static page (console/) served with no token by GET /console
 * (functions/console-page.ts) and GET /console/{file} (functions/console-file.ts). The page holds
 * no secret: every API call it makes carries the token the operator pastes.
 *
 * The files are built by console/build.ts (esbuild): index.html, and the script and stylesheet
 * under names that carry a hash of their content (app.<hash>.js, app.<hash>.css). In a Lambda
 * bundle they lie in console/ beside index.mjs (the stack's bundling hook puts them there,
 * infra/function.ts) and are read once per container; the local server builds them at start and
 * hands them over with setConsoleFiles. The page is answered `no-cache` (revalidated, so a deploy
 * shows at once), the hashed files `immutable` for a year: a new build has new names.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ApiError } from './errors.ts';

/** The console's files by name: index.html, app.<hash>.js, app.<hash>.css. */
export type ConsoleFiles = ReadonlyMap<string, string>;

/**
 * Only what the page's own origin serves: its script, its stylesheet, the API; no inline script
 * or style, no frames, no forms posted anywhere, no <base>.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONSOLE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
} as const;

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** The files beside the bundle's index.mjs (console/), read on first use. */
const BUNDLED = new URL('./console/', import.meta.url);

let files: ConsoleFiles | undefined;

/** The local tools' files, built when they start (dev/server.ts, dev/invoke.ts); in Lambda they are read from the bundle. */
export function setConsoleFiles(built: ConsoleFiles): void {
  files = built;
}

/** A bundle without its console/ folder is a build fault: the read throws, and the edge answers a bare 500. */
function consoleFiles(): ConsoleFiles {
  files ??= new Map(readdirSync(BUNDLED).map((name) => [name, readFileSync(new URL(name, BUNDLED), 'utf8')]));
  return files;
}

/** Answers one of the console's files by name, with its type, caching and the security headers; 404 for any other name. */
export function consoleFile(name: string): APIGatewayProxyStructuredResultV2 {
  const body = consoleFiles().get(name);
  const type = TYPES[name.slice(name.lastIndexOf('.') + 1)];
  if (body === undefined || type === undefined) throw new ApiError('not_found', 'no such console file');
  const cacheControl = name === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable';
  return { statusCode: 200, headers: { 'Content-Type': type, 'Cache-Control': cacheControl, ...SECURITY_HEADERS }, body };
}

/**
 * GET /console and GET /console/{file} over real HTTP from the local server: the page, its one
 * script and one stylesheet, no token needed, the security headers and the strict CSP on each,
 * caching (the page revalidated, the hashed files immutable), and 404 for anything else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startServer } from '../../dev/server.ts';
import { CONSOLE_CSP } from '../../lib/http/console.ts';
import { ROUTES } from '../../lib/http/routes.ts';
import { TEST_ENV } from '../helpers/tokens.ts';

let server: LocalServer;

beforeAll(async () => {
  server = await startServer({ env: { ...TEST_ENV }, port: 0 });
});
afterAll(async () => {
  await server.close();
});

const get = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, init);

function expectSecurityHeaders(response: Response): void {
  expect(response.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
  expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  expect(response.headers.get('referrer-policy')).toBe('no-referrer');
  expect(response.headers.get('x-frame-options')).toBe('DENY');
}

/** The page's script and stylesheet addresses, from its markup. */
async function assets(): Promise<{ html: string; script: string; style: string }> {
  const html = await (await get('/console')).text();
  const script = /<script src="(\/console\/app\.[0-9a-f]{12}\.js)" defer><\/script>/.exec(html)?.[1];
  const style = /<link rel="stylesheet" href="(\/console\/app\.[0-9a-f]{12}\.css)">/.exec(html)?.[1];
  expect(script).toBeDefined();
  expect(style).toBeDefined();
  return { html, script: script as string, style: style as string };
}

describe('the console route', () => {
  it('is two public routes of their own that touch no store', () => {
    for (const route of [ROUTES.ConsolePage, ROUTES.ConsoleFile]) {
      expect(route).toMatchObject({ method: 'GET', scopes: undefined, usesStore: false, scripts: [], console: true });
    }
    expect([ROUTES.ConsolePage.path, ROUTES.ConsoleFile.path]).toEqual(['/console', '/console/{file}']);
    expect([ROUTES.ConsolePage.handler, ROUTES.ConsoleFile.handler]).toEqual(['console-page', 'console-file']);
  });

  it('serves the page without a token, with a strict CSP, nosniff, no referrer and revalidation', async () => {
    const response = await get('/console');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expectSecurityHeaders(response);
    const csp = Object.fromEntries(
      CONSOLE_CSP.split(';').map((part) => {
        const [name, ...values] = part.trim().split(/\s+/);
        return [name, values.join(' ')];
      }),
    );
    expect(csp).toEqual({
      'default-src': "'none'",
      'script-src': "'self'",
      'style-src': "'self'",
      'connect-src': "'self'",
      'img-src': "'self' data:",
      'base-uri': "'none'",
      'form-action': "'none'",
      'frame-ancestors': "'none'",
    });
  });

  it('has one script and one stylesheet, from its own origin, and no inline script or style', async () => {
    const { html } = await assets();
    expect(html.match(/<script\b/g)).toHaveLength(1);
    expect(html.match(/<link rel="stylesheet"/g)).toHaveLength(1);
    // No request for /favicon.ico: an empty icon inline (img-src allows data:).
    expect(html).toContain('<link rel="icon" href="data:,">');
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=|javascript:/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('serves the script and stylesheet under hashed names, immutable for a year, with the same headers', async () => {
    const { script, style } = await assets();
    for (const [path, type] of [
      [script, 'text/javascript; charset=utf-8'],
      [style, 'text/css; charset=utf-8'],
    ] as const) {
      const response = await get(path);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(type);
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expectSecurityHeaders(response);
      expect((await response.text()).length).toBeGreaterThan(1000);
    }
  });

  it('keeps the token out of cookies and localStorage, and calls the API by relative URLs only', async () => {
    const { script } = await assets();
    const code = await (await get(script)).text();
    expect(code).not.toMatch(/document\.cookie|localStorage/);
    expect(code).toContain('sessionStorage');
    expect(code).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it('answers 404 in the API shape for a file it does not have, the page under a second name, or a stale hash', async () => {
    for (const path of ['/console/nope.js', '/console/index.html', '/console/app.000000000000.js', '/console/..%2Fpackage.json']) {
      const response = await get(path);
      expect(response.status, path).toBe(404);
      expect(await response.json()).toMatchObject({ error: 'not_found', request_id: expect.any(String) });
    }
  });

  it('answers 405 for a method the console does not serve', async () => {
    const response = await get('/console', { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
  });
});

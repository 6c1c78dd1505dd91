/**
 * Debian's Chromium (/usr/bin/chromium) driven by playwright-core, headless, with a fresh profile
 * of its own. Missing Chromium fails under CI=true (`.ci/run` installs it) and is skipped locally
 * with the reason.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where the browser tests write their screenshots (git-ignored). */
export const ARTIFACTS = path.resolve(import.meta.dirname, '../../.artifacts/console');

/** Why the browser tests cannot run here, or undefined when they can; throws on CI, where they must. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH): the console's browser tests are skipped`;
  if (process.env.CI === 'true') throw new Error(`${reason.split(':')[0]}: CI installs it (.ci/run), so this is a failure`);
  console.warn(reason);
  return reason;
}

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** A headless Chromium with a profile made for this run and removed after it. */
export async function launchChromium(viewport = { width: 1280, height: 800 }): Promise<Browser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'biz-console-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

import { configDefaults, defineConfig } from 'vitest/config';

/** What every test run shares (the soak config too). */
export const shared = {
  setupFiles: ['test/helpers/setup.ts'],
  env: { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_DEV: 'false', POWERTOOLS_METRICS_DISABLED: 'true' },
  testTimeout: 20_000,
  hookTimeout: 30_000,
  pool: 'forks' as const,
};

/**
 * `npm test`: every suite except the soak ones under test/soak (`npm run test:soak`), in two
 * projects run one after the other: `fast` (the rules, the stores, the handlers, the local server
 * over HTTP) first, then `slow` (the synthesised stack and its real bundling, and the docs whose
 * walkthroughs run against `npm start`). `npm test -- --project fast` runs the first alone.
 */
const SLOW = ['test/infra/**/*.test.ts', 'test/docs/**/*.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'fast',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/soak/**', ...SLOW],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'slow',
          include: SLOW,
          // Each file's first synth (in a test or its beforeAll) bundles every function with esbuild: seconds alone, a minute on a busy machine.
          testTimeout: 120_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

import { configDefaults, defineConfig } from 'vitest/config';

/** `npm test`: every suite except the soak-style ones under test/soak (`npm run test:soak`). */
export const shared = {
  setupFiles: ['test/helpers/setup.ts'],
  env: { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_DEV: 'false', POWERTOOLS_METRICS_DISABLED: 'true' },
  testTimeout: 20_000,
  hookTimeout: 30_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    ...shared,
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, 'test/soak/**'],
  },
});

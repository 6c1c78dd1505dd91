import { defineConfig } from 'vitest/config';
import { shared } from './vitest.config.ts';

/**
 * `npm run test:soak`: the suites that run the service for seconds at a time in other
 * processes (a load run, Redis outages under load, the benchmark's quick mode).
 */
export default defineConfig({
  test: {
    ...shared,
    include: ['test/soak/**/*.test.ts'],
  },
});

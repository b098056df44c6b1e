import { defineConfig } from 'vitest/config';

/**
 * Two projects. `unit`: pure stages, no Redis, no network, so `npm run test:unit` runs with Redis
 * stopped. `integration` (everything else under test/): real Redis found by the global setup, local
 * HTTP fakes, child processes. Integration tests share one Redis; each uses its own key prefix, so
 * files may run in parallel.
 */
export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    fileParallelism: true,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**', '**/node_modules/**'],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});

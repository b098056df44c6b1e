import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Two projects. `unit`: pure stages, no Redis, no network, so `npm run test:unit` runs with Redis
 * stopped. `integration` (everything else under test/): real Redis found by the global setup, local
 * HTTP fakes, child processes. Integration tests share one Redis; each uses its own key prefix, so
 * files may run in parallel.
 *
 * Speed and a loaded machine (issue #19 item 10, figures in docs/BENCHMARKS.md):
 * - `unit` files share their workers' module cache (`isolate: false`): importing src/ again for
 *   each of the ~90 files cost more than running their tests. They are pure, mock no module and
 *   keep no state between files.
 * - At least 2 workers, also on a 2-core machine (vitest's default there is 1): integration tests
 *   mostly wait on Redis, timers and child processes, so two files overlap their waits.
 * - Timeouts sized for a busy 2-core machine: a hang still fails, a slow but working test does not.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], isolate: false } },
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

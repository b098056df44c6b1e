import type { Logger } from '../log.ts';
import type { Workers } from './worker.ts';

/**
 * Runs the flush and deliver workers; resolves once both are ready. `onStop` receives their close,
 * bounded by the shutdown's grace (`closeWithinGrace`): BullMQ's close waits for the active jobs;
 * at the deadline it stops waiting, and the jobs left go to another replica.
 */
export function runWorkers(
  workers: Workers,
  opts: { log: Logger; onStop: (name: string, stop: () => Promise<void>) => void; closeWithinGrace: (close: () => Promise<void>) => Promise<boolean> },
): void {
  const { log } = opts;
  opts.onStop('workers', async () => {
    if (!(await opts.closeWithinGrace(() => workers.close()))) log.warn('shutdown grace over: leaving the active jobs to another replica');
  });
  void workers.flush.run().catch((err: unknown) => log.error({ err }, 'flush worker stopped'));
  void workers.deliver.run().catch((err: unknown) => log.error({ err }, 'deliver worker stopped'));
}

/** Resolves once the flush and deliver workers are connected and ready. */
export function workersReady(workers: Workers): Promise<unknown> {
  return Promise.all([workers.flush.waitUntilReady(), workers.deliver.waitUntilReady()]);
}

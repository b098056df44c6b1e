import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { startWorkerWatchdog } from '../../../src/queue/run-workers.ts';
import type { Workers } from '../../../src/queue/worker.ts';
import { capturedBestEffort } from '../../support/best-effort.ts';
import { waitFor } from '../../support/redis.ts';

// The worker watchdog's own Redis and BullMQ steps are best effort: a read of due jobs that fails
// skips that check, a replaced worker whose close fails has its connection cut anyway. Neither is
// silent: counted by operation and logged at most once a minute.

/** A Redis whose pipeline answers `replies`, or fails with `error`. */
function fakeRedis(answer: { replies?: Array<[null, number]>; error?: Error }): Redis {
  const pipeline = {
    llen: () => pipeline,
    zcard: () => pipeline,
    zcount: () => pipeline,
    exec: async () => {
      if (answer.error) throw answer.error;
      return answer.replies;
    },
  };
  return { pipeline: () => pipeline, disconnect: () => undefined } as unknown as Redis;
}

/** Workers that never take a job; a replaced one's close fails. */
function stuckWorkers(): Workers & { replaced: number } {
  const worker = { run: () => new Promise(() => undefined) };
  const w = {
    replaced: 0,
    flush: worker,
    deliver: worker,
    activity: () => ({ running: 0, lastProgressAt: 0 }),
    concurrency: () => 1,
    replace() {
      w.replaced += 1;
      return { close: async () => Promise.reject(new Error('Connection is closed.')) };
    },
    close: async () => undefined,
  };
  return w as unknown as Workers & { replaced: number };
}

describe('worker watchdog best-effort steps', () => {
  it('a failed read of due jobs skips the check, counted and logged once', async () => {
    const seen = capturedBestEffort();
    const workers = stuckWorkers();
    const dog = startWorkerWatchdog(
      workers,
      {
        redis: fakeRedis({ error: new Error('Connection is closed.') }),
        prefix: 'p',
        afterMs: 1,
        newConnection: () => fakeRedis({}),
        metrics: seen.metrics,
        bestEffort: seen.bestEffort,
        intervalMs: 5,
      },
      createLogger('silent'),
    );
    try {
      // Two queues per check: three checks at least.
      await waitFor(async () => (await seen.failures('watchdog_due_read')) >= 6, 10_000, 'failed reads counted');
    } finally {
      dog.stop();
    }
    expect(workers.replaced).toBe(0);
    expect(seen.warnings('watchdog_due_read')).toEqual([expect.objectContaining({ level: 40, failed: 1, error: 'Connection is closed.' })]);
  });

  it('a replaced worker whose close fails: counted and logged once, the watchdog goes on', async () => {
    const seen = capturedBestEffort();
    const workers = stuckWorkers();
    const dog = startWorkerWatchdog(
      workers,
      {
        redis: fakeRedis({
          replies: [
            [null, 3],
            [null, 0],
            [null, 0],
          ],
        }),
        prefix: 'p',
        afterMs: 1,
        newConnection: () => fakeRedis({}),
        metrics: seen.metrics,
        bestEffort: seen.bestEffort,
        intervalMs: 5,
      },
      createLogger('silent'),
    );
    try {
      await waitFor(async () => (await seen.failures('worker_close')) >= 2, 10_000, 'failed closes counted');
    } finally {
      dog.stop();
      dog.closeConnections();
    }
    expect(workers.replaced).toBeGreaterThanOrEqual(2);
    expect(seen.warnings('worker_close')).toEqual([expect.objectContaining({ level: 40, failed: 1, error: 'Connection is closed.' })]);
  });
});

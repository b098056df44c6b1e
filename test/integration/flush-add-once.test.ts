import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createQueues, type Queues } from '../../src/queue/queues.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

/**
 * Issue #15 quick win: every webhook into a group with a flush pending re-added that flush (a
 * no-op script call that also writes a "duplicated" event). The process that added it skips that.
 */

let prefix: string;
let redis: Redis;
let queues: Queues;

beforeEach(() => {
  prefix = testPrefix('flush-once');
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  queues = createQueues(redis, prefix);
});

afterEach(async () => {
  await queues.close();
  redis.disconnect();
  await deleteKeys(redisUrl(), prefix);
});

describe('scheduleFlush', () => {
  it('adds a flush once per process however many signals find it pending; again after a Redis data loss', async () => {
    const add = vi.spyOn(queues.flush, 'addBulk');
    const now = Date.now();
    for (let i = 0; i < 5; i++) await queues.scheduleFlush('g1', 1, 1, now + 3_600_000, now);
    expect(add).toHaveBeenCalledTimes(1);
    expect(await queues.flush.getDelayedCount()).toBe(1);
    // The next flush of the group is a new job.
    await queues.scheduleFlush('g1', 1, 2, now + 3_600_000, now);
    expect(add).toHaveBeenCalledTimes(2);

    // The jobs went with the data: they are added again.
    await queues.flush.obliterate({ force: true });
    queues.forgetScheduledFlushes();
    await queues.scheduleFlush('g1', 1, 2, now + 3_600_000, now);
    expect(add).toHaveBeenCalledTimes(3);
    expect(await queues.flush.getDelayedCount()).toBe(1);
  });

  it('adds the flushes asked for at once in one call, the same job once, each caller told its outcome', async () => {
    const add = vi.spyOn(queues.flush, 'addBulk');
    const now = Date.now();
    await Promise.all([
      queues.scheduleFlush('g3', 1, 1, now + 3_600_000, now),
      queues.scheduleFlush('g4', 1, 1, now + 3_600_000, now),
      queues.scheduleFlush('g4', 1, 1, now + 3_600_000, now),
      queues.scheduleFlush('g5', 1, 1, now + 3_600_000, now),
    ]);
    expect(add).toHaveBeenCalledTimes(1);
    expect(add.mock.calls[0]?.[0]).toHaveLength(3);
    expect(await queues.flush.getDelayedCount()).toBe(3);

    add.mockRejectedValueOnce(new Error('Connection is closed.'));
    const failed = await Promise.allSettled([queues.scheduleFlush('g6', 1, 1, now + 60_000, now), queues.scheduleFlush('g7', 1, 1, now + 60_000, now)]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    // Not remembered as added: the next signal adds them.
    await Promise.all([queues.scheduleFlush('g6', 1, 1, now + 60_000, now), queues.scheduleFlush('g7', 1, 1, now + 60_000, now)]);
    expect(await queues.flush.getDelayedCount()).toBe(5);
  });

  it('adds it again after a failed add', async () => {
    const add = vi.spyOn(queues.flush, 'addBulk').mockRejectedValueOnce(new Error('Connection is closed.'));
    const now = Date.now();
    await expect(queues.scheduleFlush('g2', 1, 1, now + 60_000, now)).rejects.toThrow('Connection is closed.');
    await queues.scheduleFlush('g2', 1, 1, now + 60_000, now);
    expect(add).toHaveBeenCalledTimes(2);
    expect(await queues.flush.getDelayedCount()).toBe(1);
  });
});

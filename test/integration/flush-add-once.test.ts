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
    const add = vi.spyOn(queues.flush, 'add');
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

  it('adds it again after a failed add', async () => {
    const add = vi.spyOn(queues.flush, 'add').mockRejectedValueOnce(new Error('Connection is closed.'));
    const now = Date.now();
    await expect(queues.scheduleFlush('g2', 1, 1, now + 60_000, now)).rejects.toThrow('Connection is closed.');
    await queues.scheduleFlush('g2', 1, 1, now + 60_000, now);
    expect(add).toHaveBeenCalledTimes(2);
    expect(await queues.flush.getDelayedCount()).toBe(1);
  });
});

import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Notification } from '../../src/model/alert-group.ts';
import { createQueues, QUEUE_NAMES, type Queues } from '../../src/queue/queues.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';

let prefix: string;
let redis: Redis;
let workerRedis: Redis;
let queues: Queues;
let worker: Worker | undefined;

beforeEach(() => {
  prefix = testPrefix('job-counts');
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  workerRedis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  queues = createQueues(redis, prefix, { attempts: 1, backoffMs: 10 });
});

afterEach(async () => {
  await worker?.close();
  worker = undefined;
  await queues.close();
  redis.disconnect();
  workerRedis.disconnect();
  await deleteKeys(redisUrl(), prefix);
});

const notification: Notification = {
  groupKey: 'g1',
  seq: 1,
  reason: 'first',
  status: 'firing',
  labels: { cluster: 'prod', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: 'shop' }, project: 'default', receiver: 'console' },
  severity: 'high',
  firing: [],
  resolved: [],
  at: 0,
  firstSeen: 0,
};

describe('Queues.jobCounts', () => {
  it('counts ready, delayed and dead-lettered jobs per queue, and nothing else', async () => {
    const now = Date.now();
    expect(await queues.jobCounts()).toEqual({
      flush: { waiting: 0, prioritized: 0, delayed: 0, active: 0, failed: 0 },
      deliver: { waiting: 0, prioritized: 0, delayed: 0, active: 0, failed: 0 },
    });
    await queues.scheduleFlush('due', 1, 1, now, now); // ready, no worker: waiting
    await queues.scheduleFlush('later', 1, 1, now + 3_600_000, now); // a group_wait timer: delayed
    await queues.scheduleFlush('later', 1, 1, now + 3_600_000, now); // the same flush again: one job
    await queues.enqueueDeliveries(notification);
    expect(await queues.jobCounts()).toEqual({
      flush: { waiting: 1, prioritized: 0, delayed: 1, active: 0, failed: 0 },
      deliver: { waiting: 1, prioritized: 0, delayed: 0, active: 0, failed: 0 },
    });

    // A delivery that fails for good is a dead letter: failed.
    const refuse = async (): Promise<void> => {
      throw new UnrecoverableError('receiver refused the message');
    };
    worker = new Worker(QUEUE_NAMES.deliver, refuse, { connection: workerRedis, prefix });
    await waitFor(async () => (await queues.jobCounts()).deliver.failed === 1, 10_000, 'the dead letter');
    expect((await queues.jobCounts()).deliver).toEqual({ waiting: 0, prioritized: 0, delayed: 0, active: 0, failed: 1 });
  });

  it('rejects when Redis cannot be reached (the refresh logs it and keeps the last values)', async () => {
    redis.disconnect();
    await expect(queues.jobCounts()).rejects.toThrow();
  });
});

describe('flush promotion', () => {
  // BullMQ only moves a delayed job when a worker's blocking wait times out, which Redis checks
  // `hz` times a second; the scheduling replica promotes its flushes itself at their due time.
  it('a flush due soon is ready at its due time without any worker, and one due in hours stays delayed', async () => {
    const now = Date.now();
    await queues.scheduleFlush('soon', 1, 1, now + 150, now);
    await queues.scheduleFlush('later', 1, 1, now + 3 * 3_600_000, now);
    expect((await queues.jobCounts()).flush).toMatchObject({ delayed: 2, waiting: 0 });
    await waitFor(async () => (await queues.jobCounts()).flush.waiting === 1, 5_000, 'the soon flush promoted');
    expect((await queues.jobCounts()).flush).toMatchObject({ delayed: 1, waiting: 1 });
  });

  it('a flush already taken by a worker is left alone (the promote finds nothing to do)', async () => {
    const ran: string[] = [];
    worker = new Worker(QUEUE_NAMES.flush, async (job) => void ran.push(String(job.data.groupKey)), { connection: workerRedis, prefix });
    const now = Date.now();
    await queues.scheduleFlush('g', 1, 1, now + 100, now);
    await waitFor(() => ran.length === 1, 5_000, 'the flush ran');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(ran).toEqual(['g']);
    expect((await queues.jobCounts()).flush).toMatchObject({ delayed: 0, waiting: 0, failed: 0 });
  });
});

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BestEffortOperation } from '../../src/metrics.ts';
import type { Notification } from '../../src/model/alert-group.ts';
import { createLogger } from '../../src/log.ts';
import { createDataLossWatch, type DataLossWatchDeps } from '../../src/track/data-loss.ts';
import { epochKey } from '../../src/track/keys.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';

// The data loss notice goes out on the queue connection, which reconnects on its own schedule
// (ioredis retryStrategy, up to 2 s a step): after a restart the client connection, whose 'ready'
// runs the epoch check, can be back first. The enqueue then fails at once (no offline queue) while
// the loss is already taken (announcement key, new epoch): the notice must be queued at a later
// check, once, not dropped (a full-suite run under load saw the console notice never come).
let redis: Redis;
const prefixes: string[] = [];

beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(redisUrl(), p);
  redis.disconnect();
});

const policy = {
  receivers: [
    { name: 'team-slack', slack: { channel: 'C1', token_env: 'T' } },
    { name: 'ops-console', console: {} },
  ],
  classify: { route: { receiver: 'team-slack' } },
} as unknown as ReturnType<DataLossWatchDeps['policy']>;

describe('the Redis data loss notice', () => {
  it('is queued at a later check when the queue connection is not back yet, and once', async () => {
    const prefix = testPrefix('dataloss-watch');
    prefixes.push(prefix);
    let queueDown = false;
    const queued: Notification[] = [];
    const recorded: Notification[] = [];
    const failures: BestEffortOperation[] = [];
    let checks = 0;
    let losses = 0;
    const watch = createDataLossWatch({
      env: {
        MESHDRIFT_KEY_PREFIX: prefix,
        MESHDRIFT_CLUSTER: 'test-cluster',
        MESHDRIFT_REDIS_DATA_LOSS_WINDOW: 3_600_000,
        MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL: 1_000,
      },
      redis,
      log: createLogger('silent'),
      now: Date.now,
      metrics: {
        redisDataLoss: () => void losses++,
        setRedisDataLossRecent: () => void checks++,
      },
      policy: () => policy,
      sources: { kube: () => undefined, argoPolling: undefined, rederive: async () => undefined },
      queues: {
        async enqueueDeliveries(n) {
          // What ioredis answers on a connection still reconnecting, without an offline queue.
          if (queueDown) throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
          queued.push(n);
        },
      },
      history: { record: async (n) => void recorded.push(n) },
      bestEffort: { failed: (operation) => void failures.push(operation) },
    });
    await watch.check(); // the first start: epoch written, no loss
    watch.start();
    try {
      queueDown = true;
      await redis.del(epochKey(prefix)); // what a Redis restarted empty looks like
      await waitFor(() => losses === 1, 15_000, 'the loss found');
      const found = checks;
      await waitFor(() => checks >= found + 1, 15_000, 'a check after the loss');
      expect(queued).toEqual([]);

      queueDown = false; // the queue connection is back
      await waitFor(() => queued.length >= 1, 15_000, 'the notice queued at a later check');
      // The refusals were counted (never silent).
      expect(failures.length).toBeGreaterThanOrEqual(1);
      expect(failures.every((f) => f === 'data_loss_notice_enqueue')).toBe(true);
      const [notice] = queued;
      expect(notice?.firing[0]?.resource.name).toBe('meshdrift-state');
      expect(notice?.firing[0]?.receivers).toEqual(['ops-console', 'team-slack']);
      // Once: two more checks neither queue nor record it again, and the loss is not found again.
      const after = checks;
      await waitFor(() => checks >= after + 2, 15_000, 'two more checks');
      expect(queued).toHaveLength(1);
      expect(recorded).toEqual([notice]);
      expect(losses).toBe(1);
    } finally {
      watch.stop();
    }
  }, 60_000);
});

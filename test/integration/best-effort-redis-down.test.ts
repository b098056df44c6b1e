import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { createQueues, type Queues } from '../../src/queue/queues.ts';
import { jobIdOf } from '../../src/queue/job-ids.ts';
import { connected, createRedisConnections, type RedisConnections } from '../../src/redis.ts';
import { remediationKeys } from '../../src/remediate/keys.ts';
import { createRemediationState } from '../../src/remediate/remediation-state.ts';
import { capturedBestEffort } from '../support/best-effort.ts';
import { testPrefix, waitFor } from '../support/redis.ts';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';

// Best-effort steps whose Redis goes away under them: each still never fails its caller, and each
// failure is counted and logged (at most once a minute per step). A redis-server of the test's own,
// reached through meshdrift's own fail-fast clients (no offline queue), so it can be stopped.
let own: OwnRedis;
let conns: RedisConnections;
let queues: Queues | undefined;
let seen: ReturnType<typeof capturedBestEffort>;
const prefix = testPrefix('best-effort-down');

beforeAll(async () => {
  own = await startOwnRedis();
  // The connections' own error lines (which name the server) go elsewhere.
  conns = createRedisConnections(own.url, createLogger('silent'));
  await connected(conns.client);
  await connected(conns.queue);
}, 30_000);

afterAll(async () => {
  await queues?.close().catch(() => undefined);
  for (const c of [conns?.client, conns?.queue, conns?.worker]) c?.disconnect();
  await own?.stop();
});

beforeEach(async () => {
  seen = capturedBestEffort();
  if (own && conns.client.status !== 'ready') {
    await own.start();
    await waitFor(() => conns.client.status === 'ready' && conns.queue.status === 'ready', 15_000, 'the clients to reconnect');
  }
});

const redisGone = async (): Promise<void> => {
  await own.stop();
  await waitFor(() => conns.client.status !== 'ready' && conns.queue.status !== 'ready', 10_000, 'the clients to see Redis gone');
};

describe('remediation lock release (remediation-state.ts)', () => {
  it('resolves when Redis is gone, counted and logged once a minute; the lock had its TTL', async () => {
    const keys = remediationKeys(prefix);
    const state = createRemediationState(conns.client, keys, seen.bestEffort);
    const release = await state.lock('argocd/shop', 60_000);
    const other = await state.lock('argocd/cart', 60_000);
    expect(release).not.toBeNull();
    expect(await conns.client.pttl(keys.lock('argocd/shop'))).toBeGreaterThan(0);

    await redisGone();
    await expect(release?.()).resolves.toBeUndefined();
    await expect(other?.()).resolves.toBeUndefined();
    expect(await seen.failures('remediation_lock_release')).toBe(2);
    expect(seen.warnings('remediation_lock_release')).toEqual([
      expect.objectContaining({ level: 40, failed: 1, error: expect.any(String), msg: expect.stringContaining('expires by itself') }),
    ]);
    expect(JSON.stringify(seen.lines)).not.toContain(String(own.port));
  }, 30_000);
});

describe("a due flush's promotion (queues.ts)", () => {
  it('a promotion that finds its job already moved is no failure', async () => {
    queues = createQueues(conns.queue, prefix, undefined, { bestEffort: seen.bestEffort });
    const now = Date.now();
    await queues.scheduleFlush('g-moved', 1, 1, now + 400, now);
    // Promoted by hand first: the timer's promote then finds it not delayed (BullMQ code -3).
    await (await queues.flush.getJob(jobIdOf('flush', 'g-moved', 1, 1)))?.promote();
    await queues.scheduleFlush('g-moved', 1, 2, now + 400, now);
    // Removed first: the timer's promote finds no job (-1).
    await (await queues.flush.getJob(jobIdOf('flush', 'g-moved', 1, 2)))?.remove();
    // A third flush, promoted by its timer: once it is waiting, the two earlier timers have fired too.
    await queues.scheduleFlush('g-moved', 1, 3, now + 500, now);
    await waitFor(async () => (await queues?.flush.getJobState(jobIdOf('flush', 'g-moved', 1, 3))) === 'waiting', 10_000, 'the third flush promoted');
    expect(await seen.failures('flush_promote')).toBe(0);
    expect(seen.lines).toEqual([]);
    await queues.close();
    queues = undefined;
  }, 30_000);

  it('a promotion that fails for Redis is counted and logged, never thrown', async () => {
    queues = createQueues(conns.queue, prefix, undefined, { bestEffort: seen.bestEffort });
    const now = Date.now();
    await queues.scheduleFlush('g-down', 1, 1, now + 1_000, now);
    await queues.scheduleFlush('g-down', 1, 2, now + 1_000, now);
    await redisGone();
    await waitFor(async () => (await seen.failures('flush_promote')) === 2, 15_000, 'both failed promotions counted');
    expect(seen.warnings('flush_promote')).toEqual([expect.objectContaining({ level: 40, failed: 1, error: expect.any(String) })]);
    expect(JSON.stringify(seen.lines)).not.toContain(String(own.port));
  }, 30_000);
});

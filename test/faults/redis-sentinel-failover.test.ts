import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FailoverHarness, runFailoverStream, startFailoverHarness } from '../support/failover-stream.ts';
import { testPrefix } from '../support/redis.ts';
import { haveRedisBinaries, SENTINEL_NAME, type SentinelSet, startSentinelSet } from '../support/redis-topology.ts';

// Issue #20: a Sentinel-managed Redis (a primary, a replica, 3 sentinels, real servers on loopback
// ports) loses its primary to kill -9 in the middle of a stream of drift webhooks from retrying
// senders; the sentinels promote the replica and meshdrift follows. Replication is asynchronous, so
// acknowledged writes may be lost: the Argo CD API poll (an observed source) re-derives them. The
// promise: losses 0, at most one duplicate per lost dedup write. Printed: outage, duplicates, losses.
const present = haveRedisBinaries();
let set: SentinelSet | undefined;
let h: FailoverHarness | undefined;

beforeAll(async () => {
  if (!present) return;
  set = await startSentinelSet();
  h = await startFailoverHarness({ prefix: testPrefix('sentinel'), redisEnv: { REDIS_SENTINELS: set.sentinels, REDIS_SENTINEL_NAME: SENTINEL_NAME } });
}, 120_000);

afterAll(async () => {
  await h?.stop();
  await set?.stop();
}, 60_000);

describe.runIf(present || process.env.CI === 'true')('Redis Sentinel failover mid-stream', () => {
  it('follows the promoted replica: no drift lost, duplicates within the promise, a bounded outage', async () => {
    if (!set || !h) throw new Error('redis-server and redis-sentinel are needed (.ci/install-packages installs them)');
    const sentinelSet = set;
    const oldPrimary = sentinelSet.primaryPort();
    let promoted = 0;
    const { svc } = h;
    const report = await runFailoverStream({
      ...h,
      apps: 24,
      senders: 4,
      faultAfter: 8,
      fault: async () => {
        promoted = await sentinelSet.killPrimary();
      },
      deliverWithinMs: 150_000,
    });
    console.log(`sentinel failover: ${JSON.stringify(report)} (primary ${oldPrimary} killed, replica ${promoted} promoted)`);
    expect(promoted).not.toBe(oldPrimary);
    expect(report.acked).toBe(report.apps);
    expect(report.retries).toBeGreaterThan(0); // the senders did meet the outage
    expect(report.outageMs).toBeGreaterThan(0);
    expect(report.losses).toBe(0);
    // At-least-once: a lost dedup write may tell an app's drift a second time, never a third.
    expect(report.maxPerApp).toBeLessThanOrEqual(2);
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
  }, 300_000);
});

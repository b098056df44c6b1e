import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakeArgoCd, type FakeArgoCd } from '../fakes/argocd.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { onlyStreamApps, runFailoverStream } from '../support/failover-stream.ts';
import { testPrefix } from '../support/redis.ts';
import { haveRedisBinaries, SENTINEL_NAME, type SentinelSet, startSentinelSet } from '../support/redis-topology.ts';
import { startService } from '../support/service.ts';

// Issue #20: a Sentinel-managed Redis (a primary, a replica, 3 sentinels, real servers on loopback
// ports) loses its primary to kill -9 in the middle of a stream of drift webhooks from retrying
// senders; the sentinels promote the replica and meshdrift follows. Replication is asynchronous, so
// acknowledged writes may be lost: the Argo CD API poll (an observed source) re-derives them. The
// promise: losses 0, at most one duplicate per lost dedup write. Printed: outage, duplicates, losses.
const API_TOKEN = 'argocd-api-token-DO-NOT-LOG';
const present = haveRedisBinaries();
let set: SentinelSet | undefined;
let slack: FakeSlack | undefined;
let argo: FakeArgoCd | undefined;
let svc: (App & { url: string }) | undefined;

beforeAll(async () => {
  if (!present) return;
  set = await startSentinelSet();
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  argo = await startFakeArgoCd({ token: API_TOKEN });
  onlyStreamApps(argo);
  svc = await startService({
    redisUrl: '',
    prefix: testPrefix('sentinel'),
    slackUrl: slack.url,
    env: {
      REDIS_SENTINELS: set.sentinels,
      REDIS_SENTINEL_NAME: SENTINEL_NAME,
      ARGOCD_URL: argo.url,
      ARGOCD_TOKEN: API_TOKEN,
      ARGOCD_POLL_INTERVAL: '2s',
      ARGOCD_PROJECTS: 'mesh-prod',
      MESHDRIFT_GROUP_WAIT: '200ms',
    },
  });
}, 120_000);

afterAll(async () => {
  await svc?.stop().catch(() => undefined);
  await argo?.close();
  await slack?.close();
  await set?.stop();
}, 60_000);

describe.runIf(present || process.env.CI === 'true')('Redis Sentinel failover mid-stream', () => {
  it('follows the promoted replica: no drift lost, duplicates within the promise, a bounded outage', async () => {
    if (!set || !svc || !slack || !argo) throw new Error('redis-server and redis-sentinel are needed (.ci/install-packages installs them)');
    const sentinelSet = set;
    const oldPrimary = sentinelSet.primaryPort();
    let promoted = 0;
    const report = await runFailoverStream({
      svc,
      slack,
      argo,
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

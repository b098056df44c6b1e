import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createCatalog } from '../../src/classify/catalog.ts';
import { defaultPolicy } from '../../src/classify/classify.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createQueues, type Queues } from '../../src/queue/queues.ts';
import { FlushEarlyError, processFlush } from '../../src/queue/worker.ts';
import { DEAD_LETTER_TTL_SECONDS, NOTIFICATION_TTL_SECONDS, notificationKey } from '../../src/queue/notification-store.ts';
import { applicationSchema, applicationToSignal } from '../../src/sources/argocd/application.ts';
import { createIngest, createRedisOwnerGroupIndex } from '../../src/track/ingest.ts';
import { createRedisTrackStore } from '../../src/track/redis-store.ts';
import { isThreadReply, startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshApp, meshAppBody } from '../support/argocd.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService } from '../support/service.ts';
import { waitSettled } from '../support/settle.ts';

// Channel messages only: thread replies are chat.postMessage calls too.
const posts = (slack: FakeSlack) => slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c));

describe('delivery through the queue', () => {
  let slack: FakeSlack;
  let svc: (App & { url: string }) | undefined;
  let prefix: string;

  beforeEach(async () => {
    prefix = testPrefix('deliver');
    slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
    svc = await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url });
  });

  afterEach(async () => {
    await svc?.stop();
    await slack.close();
    await deleteKeys(redisUrl(), prefix);
  });

  // Nothing left to do (no delivery waiting, running or retrying): then "no duplicate" is final.
  const settled = async (): Promise<void> => {
    if (svc) await waitSettled(svc);
  };

  // Workers count a delivery after the receiver answered: poll instead of racing them.
  const metric = async (line: RegExp) => {
    await waitFor(async () => line.test(await (await fetch(`${svc?.url}/metrics`)).text()), 5000, `metric ${line.source}`).catch(() => undefined);
    return line.test(await (await fetch(`${svc?.url}/metrics`)).text());
  };

  it('a 429 storm across several incidents delays delivery but loses and duplicates nothing', async () => {
    slack.failNext(6, { status: 429, retryAfterSeconds: 1 });
    const apps = ['alpha', 'beta', 'gamma'].map((name) => {
      const body = meshAppBody() as { app: { metadata: { name: string } } };
      body.app.metadata.name = name;
      return body;
    });
    await Promise.all(apps.map((body) => postArgocd(svc?.url ?? '', body)));
    await waitFor(() => slack.messages.size === 3, 30_000, 'three messages after the storm');
    await settled();
    expect(slack.messages.size).toBe(3);
    // Each incident's message exists exactly once (a retried post after a 429 never duplicates).
    const texts = [...slack.messages.values()].map((m) => JSON.stringify(m.blocks));
    for (const name of ['alpha', 'beta', 'gamma']) expect(texts.filter((t) => t.includes(name)).length).toBe(1);
  }, 40_000);

  it('waits out a 429 Retry-After, then delivers once', async () => {
    slack.failNext(1, { status: 429, retryAfterSeconds: 1 });
    const started = Date.now();
    await postArgocd(svc?.url ?? '', meshAppBody());
    await waitFor(() => slack.messages.size === 1, 15_000, 'the message after the 429');
    const [limited, delivered] = [posts(slack)[0], posts(slack)[1]];
    expect(posts(slack)).toHaveLength(2);
    expect((delivered?.at ?? 0) - (limited?.at ?? 0)).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(await metric(/meshdrift_notifications_total\{receiver="slack",type="slack",outcome="rate_limited"\} 1/)).toBe(true);
    expect(await metric(/meshdrift_notifications_total\{receiver="slack",type="slack",outcome="success"\} 1/)).toBe(true);
    expect(await metric(/meshdrift_delivery_duration_seconds_count\{receiver="slack",type="slack"\} [1-9]/)).toBe(true);
  });

  it('retries 5xx with backoff and delivers once', async () => {
    slack.failNext(2, { status: 500 });
    await postArgocd(svc?.url ?? '', meshAppBody());
    await waitFor(() => slack.messages.size === 1, 15_000, 'the message after two 500s');
    await settled();
    expect(posts(slack)).toHaveLength(3);
    expect(slack.messages.size).toBe(1);
    expect(await metric(/meshdrift_notifications_total\{receiver="slack",type="slack",outcome="retry"\} 2/)).toBe(true);
  });

  it('keeps a permanent failure as a dead letter, without retrying it', async () => {
    slack.failNext(1, { slackError: 'channel_not_found' });
    await postArgocd(svc?.url ?? '', meshAppBody());
    await waitFor(async () => (await svc?.queues.deliver.getFailedCount()) === 1, 15_000, 'the dead letter');
    await settled();
    expect(posts(slack)).toHaveLength(1);
    expect(slack.messages.size).toBe(0);
    const [failed] = (await svc?.queues.deliver.getFailed()) ?? [];
    expect(failed?.failedReason).toContain('channel_not_found');
    expect(failed?.failedReason).not.toContain('SECRET');
    expect(await metric(/meshdrift_notifications_total\{receiver="slack",type="slack",outcome="dead_letter"\} 1/)).toBe(true);
    expect(await metric(/meshdrift_dead_letters_total\{queue="deliver",reason="failed"\} 1/)).toBe(true);
    // The job refers to its notification, which is kept as long as the dead letter (for a replay).
    const data = failed?.data;
    expect(data && 'ref' in data).toBe(true);
    if (!data || !('ref' in data) || !svc) return;
    const key = notificationKey(prefix, data.ref.groupKey, data.ref.seq);
    await waitFor(async () => ((await svc?.redis.ttl(key)) ?? 0) > NOTIFICATION_TTL_SECONDS, 5_000, 'the notification kept for the dead letter');
    expect(await svc.redis.ttl(key)).toBeLessThanOrEqual(DEAD_LETTER_TTL_SECONDS);
  });
});

describe('crash recovery of a flush', () => {
  let redis: Redis;
  let queues: Queues;
  let prefix: string;

  beforeEach(() => {
    prefix = testPrefix('recover');
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    queues = createQueues(redis, prefix);
  });

  afterEach(async () => {
    await queues.close();
    redis.disconnect();
    await deleteKeys(redisUrl(), prefix);
  });

  it('a flush job run again after its commit re-adds the same deliveries, not new ones', async () => {
    const store = createRedisTrackStore({ redis, keyPrefix: prefix });
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    // The flush jobs run past their group_wait (run earlier, a flush decides nothing: see below).
    const deps = { store, queues, metrics, log: createLogger('silent'), now: () => Date.now() + 3_600_000 };
    // Two receivers, so two routes and two alert groups for the same findings.
    const ingest = createIngest({
      policy: () => defaultPolicy(createCatalog(), ['console', 'slack']),
      store,
      flushes: { recorded: () => undefined },
      owners: createRedisOwnerGroupIndex(redis, prefix),
      metrics,
      now: Date.now,
    });
    const signal = applicationToSignal(applicationSchema.parse(meshApp()), { cluster: 'c', source: 'argocd-webhook', now: 0 });
    const { groups } = await ingest(signal);
    expect(groups).toHaveLength(2);
    for (const groupKey of groups) {
      const state = await store.get(groupKey);
      const seq = state?.pendingFlush?.seq ?? 0;
      const epoch = state?.createdAt ?? 0;
      expect(seq).toBe(1);
      expect(await processFlush({ groupKey, epoch, seq }, deps)).toBe('decided: first');
      // As if the worker died after the commit and BullMQ ran the job again.
      expect(await processFlush({ groupKey, epoch, seq }, deps)).toBe('already-handled: first');
    }
    expect(await queues.deliver.getJobCountByTypes('waiting', 'delayed', 'active', 'completed', 'failed')).toBe(2);
    const [groupKey = '', other = ''] = groups;
    const state = await store.get(groupKey);
    const seq = state?.pendingFlush?.seq ?? 0;
    const epoch = state?.createdAt ?? 0;
    expect(seq).toBeGreaterThan(1); // the repeat is scheduled
    expect((await store.get(other))?.labels.receiver).not.toBe((await store.get(groupKey))?.labels.receiver);
    // A superseded flush does nothing.
    expect(await processFlush({ groupKey, epoch, seq: seq + 5 }, deps)).toBe('stale');
    // So does a flush of an earlier incarnation of the group.
    expect(await processFlush({ groupKey, epoch: epoch - 1, seq }, deps)).toBe('stale');
  });

  it('a flush run before its due time (promoted by a replica whose clock is ahead) decides nothing', async () => {
    const store = createRedisTrackStore({ redis, keyPrefix: prefix });
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    const ingest = createIngest({
      policy: () => defaultPolicy(createCatalog(), ['console']),
      store,
      flushes: { recorded: () => undefined },
      owners: createRedisOwnerGroupIndex(redis, prefix),
      metrics,
      now: Date.now,
    });
    const { groups } = await ingest(applicationToSignal(applicationSchema.parse(meshApp()), { cluster: 'c', source: 'argocd-webhook', now: 0 }));
    const [groupKey = ''] = groups;
    const before = await store.get(groupKey);
    const pending = before?.pendingFlush;
    if (!before || !pending) throw new Error('no flush pending');
    const deps = { store, queues, metrics, log: createLogger('silent'), now: Date.now };
    // group_wait (30 s by default) is far: the job goes back to BullMQ, nothing is decided.
    const early = await processFlush({ groupKey, epoch: before.createdAt, seq: pending.seq }, deps).then(
      () => null,
      (err: unknown) => err,
    );
    expect(early).toBeInstanceOf(FlushEarlyError);
    expect((early as FlushEarlyError).remainingMs).toBeGreaterThan(0);
    expect(await store.get(groupKey)).toEqual(before);
    expect(await queues.deliver.getJobCountByTypes('waiting', 'delayed', 'active', 'completed', 'failed')).toBe(0);
    // Due soon: the worker waits for it, then decides.
    const shift = pending.dueAt - Date.now() - 50;
    const soon = { ...deps, now: () => Date.now() + shift };
    expect(await processFlush({ groupKey, epoch: before.createdAt, seq: pending.seq }, soon)).toBe('decided: first');
  });
});

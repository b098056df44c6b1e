import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createCatalog } from '../../src/classify/catalog.ts';
import { defaultPolicy } from '../../src/classify/classify.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { Signal } from '../../src/model/signal.ts';
import { createQueues } from '../../src/queue/queues.ts';
import { createIngest, createRedisOwnerGroupIndex } from '../../src/track/ingest.ts';
import { createRedisTrackStore } from '../../src/track/redis-store.ts';
import { testPrefix, waitFor } from '../support/redis.ts';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { startService } from '../support/service.ts';

// Its own redis-server: the test stops it.
let own: OwnRedis;
let svc: (App & { url: string }) | undefined;
const prefix = testPrefix('gauges');
const logLines: string[] = [];

const drift: Signal = {
  source: 'argocd-webhook',
  cluster: 'prod',
  owner: { kind: 'Application', namespace: 'argocd', name: 'shop' },
  project: 'default',
  destination: {},
  observedAt: 1,
  completeness: 'snapshot',
  resources: [
    { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'mesh', name: 'vs-1', state: 'Modified' },
    { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'mesh', name: 'vs-2', state: 'Modified' },
    { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'mesh', name: 'authz', state: 'Modified' },
  ],
};

beforeAll(async () => {
  own = await startOwnRedis();
  // What another replica left in Redis before this one starts: a tracked drift, and its flush job
  // waiting (delayed) for a 10 minute group_wait (added as a replica's flush mover adds it once it
  // is due within its lookahead: track/flush-intents.ts).
  const redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
  const queues = createQueues(redis, prefix);
  try {
    const store = createRedisTrackStore({ redis, keyPrefix: prefix });
    const ingest = createIngest({
      policy: () => defaultPolicy(createCatalog(), ['console'], { groupWaitMs: 600_000 }),
      store,
      flushes: { recorded: () => undefined },
      owners: createRedisOwnerGroupIndex(redis, prefix),
      metrics: createMetrics(new Registry(), { defaultMetrics: false }),
      now: Date.now,
    });
    const tracked = await ingest(drift);
    expect(tracked.outcome).toBe('tracked');
    const state = await store.get(tracked.groups[0] ?? '');
    const pending = state?.pendingFlush;
    if (!state || !pending) throw new Error('no flush pending');
    await queues.scheduleFlush(state.groupKey, state.createdAt, pending.seq, pending.dueAt, Date.now());
  } finally {
    await queues.close();
    redis.disconnect();
  }
});

afterAll(async () => {
  // Redis running again, and the service back on it, so that it stops cleanly.
  await own.start();
  const url = svc?.url;
  if (url)
    await waitFor(async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200, 15_000, '/readyz after Redis returns');
  await svc?.stop();
  await own.stop();
}, 60_000);

const metricsText = async (url: string) => (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();

describe('gauges of shared state (Redis, BullMQ)', () => {
  it('show the active findings and queue depths every replica shares, and keep their last values while Redis is down', async () => {
    const log = createLogger('debug', { write: (line: string) => void logLines.push(line) });
    svc = await startService({ redisUrl: own.url, prefix, log });
    const url = svc.url;

    const expected = [
      'meshdrift_active_findings{severity="high",mesh="istio",category="traffic"} 2',
      'meshdrift_active_findings{severity="critical",mesh="istio",category="security"} 1',
      'meshdrift_queue_jobs{queue="flush",state="delayed"} 1',
      'meshdrift_queue_jobs{queue="flush",state="waiting"} 0',
      'meshdrift_queue_jobs{queue="deliver",state="failed"} 0',
    ];
    let text = '';
    await waitFor(
      async () => {
        text = await metricsText(url);
        return expected.every((line) => text.includes(line));
      },
      10_000,
      `the gauges after start (last /metrics:\n${text})`,
    );
    // No replica had recounted under this prefix yet, so this one did, once, at start.
    expect(logLines.some((l) => l.includes('active findings recounted'))).toBe(true);

    // Redis goes away: the next refresh (every 15 s) fails, is logged at debug, and the gauges keep
    // their last values (an unhandled rejection would fail this test run).
    await own.stop();
    await waitFor(
      () =>
        logLines.some((l) => l.includes('"level":20') && l.includes('queue job counts refresh failed')) &&
        logLines.some((l) => l.includes('active findings refresh failed')),
      25_000,
      'the failed refreshes in the debug log',
    );
    text = await metricsText(url);
    for (const line of expected) expect(text).toContain(line);
  }, 60_000);
});

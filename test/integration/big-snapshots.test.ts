import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createQueues, QUEUE_NAMES } from '../../src/queue/queues.ts';
import { createWorkers, STALLED_REASON } from '../../src/queue/worker.ts';
import { createDeadLetters } from '../../src/queue/dead-letters.ts';
import { createRedisTrackStore } from '../../src/track/redis-store.ts';
import { bigSnapshotBody } from '../support/big-snapshot.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startReplica, type Replica } from '../support/replica.ts';
import { startWebhookSink, type WebhookSink } from '../support/webhook-sink.ts';

/**
 * Issue #12 item 4: large snapshots. Eight Argo CD snapshots of 10,000 drifted resources each,
 * posted at once to `meshdrift serve` running with the image's heap flags (Dockerfile NODE_OPTIONS),
 * must not crash it, and every finding must reach the receiver or the dead letters. Jobs carry
 * references, not groups. And a flush that stalls for good is a dead letter, not silence.
 */

const APPS = 8;
const FINDINGS = 10_000;
const TOKEN = 'big-argocd-token';
const ROOT = new URL('../../', import.meta.url).pathname;
/** The image's Node flags, as the Dockerfile sets them. */
const IMAGE_NODE_OPTIONS = /^ENV NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1] ?? '';

async function jobDataSizes(redis: Redis, prefix: string, queue: string): Promise<number[]> {
  const sizes: number[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:${queue}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      if ((await redis.type(key)) !== 'hash') continue;
      const size = await redis.hstrlen(key, 'data');
      if (size > 0) sizes.push(size);
    }
  } while (cursor !== '0');
  return sizes;
}

describe('eight 10,000-finding snapshots at once, under the image heap flags', () => {
  const prefix = testPrefix('big');
  let redis: Redis;
  let sink: WebhookSink;
  let replica: Replica;
  let dir: string;

  beforeAll(async () => {
    expect(IMAGE_NODE_OPTIONS).toMatch(/--max-old-space-size=\d+/);
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    sink = await startWebhookSink();
    dir = mkdtempSync(join(tmpdir(), 'meshdrift-big-'));
    writeFileSync(join(dir, 'policy.yaml'), 'receivers:\n  - { name: hook, webhook: { url_env: HOOK_URL } }\nroute:\n  receiver: hook\n  group_wait: 1s\n');
    replica = await startReplica(
      'big',
      {
        REDIS_URL: redisUrl(),
        MESHDRIFT_KEY_PREFIX: prefix,
        MESHDRIFT_POLICY: join(dir, 'policy.yaml'),
        HOOK_URL: sink.url,
        MESHDRIFT_ARGOCD_TOKEN: TOKEN,
        NODE_OPTIONS: IMAGE_NODE_OPTIONS,
      },
      60_000,
    );
  }, 90_000);

  afterAll(async () => {
    await replica?.stop();
    await sink?.close();
    redis?.disconnect();
    rmSync(dir, { recursive: true, force: true });
    await deleteKeys(redisUrl(), prefix);
  });

  it('accepts all, stays up, and tells every finding (or dead-letters it); jobs stay small', async () => {
    const post = (body: string) =>
      fetch(`${replica.url}/webhooks/argocd`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body,
        signal: AbortSignal.timeout(120_000),
      }).then((r) => r.status);
    const bodies = Array.from({ length: APPS }, (_, i) => JSON.stringify(bigSnapshotBody(`big-app-${i}`, FINDINGS)));
    expect(bodies.every((b) => b.length < 1024 * 1024)).toBe(true);
    // A small app too: its jobs are the yardstick the big ones must not outgrow.
    const statuses = await Promise.all([...bodies.map(post), post(JSON.stringify(bigSnapshotBody('small-app', 2)))]);
    expect(statuses).toEqual(Array.from({ length: APPS + 1 }, () => 202));

    const want = APPS * FINDINGS + 2;
    const deadFindings = async (): Promise<number> => {
      const res = await fetch(`${replica.url}/api/v1/deadletters?limit=100`);
      const body = (await res.json()) as { deadLetters: Array<{ queue: string; notification: { firing: number } | null }> };
      // A flush dead letter never decided its notification: its findings are not counted as handled.
      return body.deadLetters.reduce((sum, d) => sum + (d.notification?.firing ?? 0), 0);
    };
    let dead = 0;
    await waitFor(
      async () => {
        if (replica.child.exitCode !== null || replica.child.signalCode !== null)
          throw new Error(`meshdrift died (${replica.child.exitCode ?? replica.child.signalCode}):\n${replica.log().slice(-3000)}`);
        dead = await deadFindings();
        return sink.firing() + dead >= want;
      },
      150_000,
      'every finding told or dead-lettered',
    );
    expect(sink.firing() + dead).toBe(want);
    expect(replica.child.exitCode).toBeNull();
    expect(replica.log()).not.toMatch(/heap out of memory/);

    // Job payloads are references: a 10,000-finding group's delivery job is the size of a 2-finding one's.
    const deliver = await jobDataSizes(redis, prefix, QUEUE_NAMES.deliver);
    const flush = await jobDataSizes(redis, prefix, QUEUE_NAMES.flush);
    expect(deliver.length).toBe(APPS + 1);
    const smallest = Math.min(...deliver);
    expect(Math.max(...deliver)).toBeLessThan(2048);
    expect(Math.max(...deliver) - smallest).toBeLessThan(64);
    expect(Math.max(...flush)).toBeLessThan(256);
    // The history keeps a bounded entry, not the whole notification.
    const history = await redis.lrange(`${prefix}:history`, 0, -1);
    expect(history.length).toBeGreaterThanOrEqual(APPS);
    expect(Math.max(...history.map((h) => h.length))).toBeLessThan(200_000);
  }, 240_000);
});

describe('a flush job that stalls for good', () => {
  const prefix = testPrefix('stalled-flush');
  let redis: Redis;
  let workerRedis: Redis;
  let hungRedis: Redis;

  beforeAll(() => {
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    workerRedis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    hungRedis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    redis.disconnect();
    workerRedis.disconnect();
    hungRedis.disconnect();
    await deleteKeys(redisUrl(), prefix);
  });

  it("becomes a dead letter with BullMQ's reason, and is counted", async () => {
    const queues = createQueues(redis, prefix);
    const now = Date.now();
    await queues.scheduleFlush('0123456789abcdef0123456789abcdef', now, 1, now, now);
    // A node that froze mid-flush: it took the job and never renews its lock.
    let took = false;
    const hung = new Worker(
      QUEUE_NAMES.flush,
      () => {
        took = true;
        return new Promise<never>(() => undefined);
      },
      { connection: hungRedis, prefix, lockDuration: 300, skipLockRenewal: true, skipStalledCheck: true },
    );
    await waitFor(() => took, 10_000, 'the hung worker to take the flush');

    const registry = new Registry();
    const metrics = createMetrics(registry, { defaultMetrics: false });
    const workers = createWorkers({
      connection: workerRedis,
      prefix,
      store: createRedisTrackStore({ redis, keyPrefix: prefix }),
      queues,
      handlers: new Map(),
      metrics,
      log: createLogger('silent'),
      now: Date.now,
      // One stall allowed none: the real default tolerates three (FLUSH_STALL), which takes minutes.
      flushStall: { lockDurationMs: 300, stalledIntervalMs: 200, maxStalledCount: 0 },
    });
    void workers.flush.run();
    try {
      const deadLetters = createDeadLetters(queues.deliver, queues.flush);
      await waitFor(async () => (await deadLetters.list(10)).length === 1, 20_000, 'the stalled flush to be a dead letter');
      const [letter] = await deadLetters.list(10);
      expect(letter).toMatchObject({ queue: 'flush', groupKey: '0123456789abcdef0123456789abcdef', seq: 1, receiver: null, reason: STALLED_REASON });
      await waitFor(
        async () => (await registry.getSingleMetricAsString('meshdrift_dead_letters_total')).includes('queue="flush",reason="stalled"} 1'),
        5_000,
        'the dead letter metric',
      );
    } finally {
      await hung.close(true);
      await workers.close();
      await queues.close();
    }
  }, 60_000);
});

import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createCatalog } from '../../src/classify/catalog.ts';
import { defaultPolicy } from '../../src/classify/classify.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { jobIdOf } from '../../src/queue/job-ids.ts';
import { createQueues, type Queues } from '../../src/queue/queues.ts';
import { processFlush } from '../../src/queue/worker.ts';
import { applicationSchema, applicationToSignal } from '../../src/sources/argocd/application.ts';
import { createFlushIntentMover, FLUSH_LEASE_MS, FLUSH_LOOKAHEAD_MS, type FlushScheduler } from '../../src/track/flush-intents.ts';
import { createIngest, createRedisOwnerGroupIndex, type Ingest } from '../../src/track/ingest.ts';
import { flushDueKey } from '../../src/track/keys.ts';
import { createRedisTrackStore, type TrackStore } from '../../src/track/redis-store.ts';
import { meshApp, SYNCED_AT } from '../support/argocd.ts';
import { capturedBestEffort } from '../support/best-effort.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startService } from '../support/service.ts';

/**
 * Issue #15: a commit that leaves a group owing a flush records the flush intent in the same Lua
 * script (track/redis-scripts.ts); no flush job is added on the signal's path. A mover on each
 * replica claims due intents and adds their jobs (track/flush-intents.ts).
 */

let prefix: string;
let redis: Redis;
let queues: Queues;
let store: TrackStore;
let app: App | undefined;

beforeEach(() => {
  prefix = testPrefix('flush-intents');
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  queues = createQueues(redis, prefix);
  store = createRedisTrackStore({ redis, keyPrefix: prefix });
});

afterEach(async () => {
  await app?.stop();
  app = undefined;
  await queues.close();
  redis.disconnect();
  await deleteKeys(redisUrl(), prefix);
});

/** An ingest as a replica runs it, whose mover never runs (the replica is killed right after its answer). */
function ingestWithoutMover(groupWaitMs: number): Ingest {
  return createIngest({
    policy: () => defaultPolicy(createCatalog(), ['console'], { groupWaitMs }),
    store,
    flushes: { recorded: () => undefined },
    owners: createRedisOwnerGroupIndex(redis, prefix),
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    now: Date.now,
  });
}

/** The mesh app's snapshot with its first `outOfSync` drifted resources (of 4) still OutOfSync. */
function drift(outOfSync = 4) {
  const app = meshApp() as unknown as { status: { resources: Array<{ status: string }> } };
  let seen = 0;
  app.status.resources = app.status.resources.map((r) => (r.status === 'OutOfSync' && seen++ >= outOfSync ? { ...r, status: 'Synced' } : r));
  return applicationToSignal(applicationSchema.parse(app), { cluster: 'c', source: 'argocd-webhook', now: 0 });
}

async function onlyGroup(ingest: Ingest, outOfSync?: number): Promise<string> {
  const { groups, outcome } = await ingest(drift(outOfSync));
  expect(outcome).toBe('tracked');
  expect(groups).toHaveLength(1);
  return groups[0] ?? '';
}

const flushJobCount = () => queues.flush.getJobCountByTypes('waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized');
const intentScore = async (groupKey: string) => {
  const s = await redis.zscore(flushDueKey(prefix), groupKey);
  return s === null ? null : Number(s);
};

describe('flush intents', () => {
  it('are committed with the group, not added to the queue; a mover adds the job when it is due within its lookahead, once', async () => {
    const groupKey = await onlyGroup(ingestWithoutMover(3_600_000));
    const state = await store.get(groupKey);
    const pending = state?.pendingFlush;
    if (!state || !pending) throw new Error('no flush pending');
    expect(await intentScore(groupKey)).toBe(pending.dueAt);
    expect(await flushJobCount()).toBe(0);

    // Not due within the lookahead yet: nothing moves.
    let now = pending.dueAt - FLUSH_LOOKAHEAD_MS - 1_000;
    const mover = createFlushIntentMover({ redis, keyPrefix: prefix, queues, now: () => now });
    expect(await mover.moveDue()).toBe(0);
    expect(await intentScore(groupKey)).toBe(pending.dueAt);

    now = pending.dueAt - 1_000;
    expect(await mover.moveDue()).toBe(1);
    const job = await queues.flush.getJob(jobIdOf('flush', groupKey, state.createdAt, pending.seq));
    expect(job?.data).toEqual({ groupKey, epoch: state.createdAt, seq: pending.seq });
    expect(await job?.isDelayed()).toBe(true);
    // Leased: hidden from every mover while its flush is in the queue.
    expect(await intentScore(groupKey)).toBe(now + FLUSH_LEASE_MS);
    expect(await mover.moveDue()).toBe(0);
    expect(await flushJobCount()).toBe(1);
  });

  it('the flush that runs records the next one (the repeat) or, when the group is gone, none', async () => {
    const ingest = ingestWithoutMover(0);
    const groupKey = await onlyGroup(ingest);
    const state = await store.get(groupKey);
    const pending = state?.pendingFlush;
    if (!state || !pending) throw new Error('no flush pending');
    const recorded: number[] = [];
    const deps = { store, queues, metrics: createMetrics(new Registry(), { defaultMetrics: false }), log: createLogger('silent'), now: Date.now };
    expect(
      await processFlush({ groupKey, epoch: state.createdAt, seq: pending.seq }, { ...deps, flushes: { recorded: (dueAt) => void recorded.push(dueAt) } }),
    ).toBe('decided: first');
    const next = (await store.get(groupKey))?.pendingFlush;
    if (!next) throw new Error('no repeat scheduled');
    expect(next.seq).toBeGreaterThan(pending.seq);
    expect(await intentScore(groupKey)).toBe(next.dueAt);
    expect(recorded).toEqual([next.dueAt]);
    // The worker added no job for it: the mover will.
    expect(await flushJobCount()).toBe(0);

    // Resolved: the snapshot without drift, its flush announces the resolve and the group goes.
    await ingest(applicationToSignal(applicationSchema.parse(meshApp('Synced', SYNCED_AT)), { cluster: 'c', source: 'argocd-webhook', now: 0 }));
    const resolving = (await store.get(groupKey))?.pendingFlush;
    if (!resolving) throw new Error('no flush for the resolve');
    expect(resolving.seq).toBeGreaterThan(next.seq);
    expect(await intentScore(groupKey)).toBe(resolving.dueAt);
    const later = { ...deps, now: () => Date.now() + 3_600_000 };
    expect(await processFlush({ groupKey, epoch: state.createdAt, seq: resolving.seq }, { ...later, flushes: { recorded: () => undefined } })).toBe(
      'decided: resolved',
    );
    // Kept (for its notification seq) owing nothing: its intent is gone.
    expect((await store.get(groupKey))?.pendingFlush).toBeNull();
    expect(await intentScore(groupKey)).toBeNull();
  });

  it('a group resolved before anyone was told is deleted by its flush, and its intent with it', async () => {
    const ingest = ingestWithoutMover(0);
    const groupKey = await onlyGroup(ingest);
    await ingest(applicationToSignal(applicationSchema.parse(meshApp('Synced', SYNCED_AT)), { cluster: 'c', source: 'argocd-webhook', now: 0 }));
    const state = await store.get(groupKey);
    const pending = state?.pendingFlush;
    if (!state || !pending) throw new Error('no flush pending');
    const deps = { store, queues, metrics: createMetrics(new Registry(), { defaultMetrics: false }), log: createLogger('silent'), now: Date.now };
    expect(await processFlush({ groupKey, epoch: state.createdAt, seq: pending.seq }, { ...deps, flushes: { recorded: () => undefined } })).toBe(
      'decided: none',
    );
    expect(await store.get(groupKey)).toBeNull();
    expect(await intentScore(groupKey)).toBeNull();
  });

  it('a mover that dies between its claim and its add delays the flush by the lease only: another claims it after', async () => {
    const groupKey = await onlyGroup(ingestWithoutMover(0));
    const state = await store.get(groupKey);
    const pending = state?.pendingFlush;
    if (!state || !pending) throw new Error('no flush pending');
    let now = Date.now();
    // The dying mover: its claim goes through, its add never does.
    const dead: FlushScheduler = { scheduleFlush: () => new Promise<void>(() => undefined) };
    const dying = createFlushIntentMover({ redis, keyPrefix: prefix, queues: dead, now: () => now });
    void dying.moveDue();
    await waitFor(async () => (await intentScore(groupKey)) === now + FLUSH_LEASE_MS, 10_000, 'the claim');
    const survivor = createFlushIntentMover({ redis, keyPrefix: prefix, queues, now: () => now });
    expect(await survivor.moveDue()).toBe(0);
    now += FLUSH_LEASE_MS + 1;
    expect(await survivor.moveDue()).toBe(1);
    expect(await queues.flush.getJob(jobIdOf('flush', groupKey, state.createdAt, pending.seq))).toBeDefined();
  });

  it('a failed add gives the claimed intents back to their due time, for the next pass', async () => {
    const groupKey = await onlyGroup(ingestWithoutMover(0));
    const pending = (await store.get(groupKey))?.pendingFlush;
    if (!pending) throw new Error('no flush pending');
    const failing: FlushScheduler = { scheduleFlush: async () => Promise.reject(new Error('Connection is closed.')) };
    const mover = createFlushIntentMover({ redis, keyPrefix: prefix, queues: failing, now: Date.now });
    await expect(mover.moveDue()).rejects.toThrow('Connection is closed.');
    expect(await intentScore(groupKey)).toBe(pending.dueAt);
  });

  it('a give-back that fails too is counted and logged (best effort: the intents wait for their lease)', async () => {
    const groupKey = await onlyGroup(ingestWithoutMover(0));
    const moverRedis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    const seen = capturedBestEffort();
    // The add fails, and the mover's connection is gone by the time it gives the intents back.
    const failing: FlushScheduler = {
      scheduleFlush: async () => {
        moverRedis.disconnect();
        throw new Error('queue down');
      },
    };
    const mover = createFlushIntentMover({ redis: moverRedis, keyPrefix: prefix, queues: failing, now: Date.now, bestEffort: seen.bestEffort });
    await expect(mover.moveDue()).rejects.toThrow('queue down');
    expect(await seen.failures('flush_intent_release')).toBe(1);
    expect(seen.warnings('flush_intent_release')).toEqual([
      expect.objectContaining({ level: 40, failed: 1, error: expect.stringContaining('Connection is closed') }),
    ]);
    // Still claimed: leased past its due time, until the lease ends.
    expect(await intentScore(groupKey)).toBeGreaterThan(Date.now() + FLUSH_LEASE_MS / 2);
  });

  it('an intent of a group that owes nothing any more (or is gone) is dropped by the claim', async () => {
    await redis.zadd(flushDueKey(prefix), 1, 'no-such-group');
    const mover = createFlushIntentMover({ redis, keyPrefix: prefix, queues, now: Date.now });
    expect(await mover.moveDue()).toBe(0);
    expect(await redis.zcard(flushDueKey(prefix))).toBe(0);
  });

  it('a group whose flush intent is committed but never moved (its replica killed after the 202) is flushed by the next replica that starts', async () => {
    const groupKey = await onlyGroup(ingestWithoutMover(0));
    expect(await intentScore(groupKey)).not.toBeNull();
    expect(await flushJobCount()).toBe(0);

    app = await startService({ redisUrl: redisUrl(), prefix });
    await waitFor(async () => (await app?.store.get(groupKey))?.lastNotification?.reason === 'first', 20_000, 'the flush after the restart');
    const after = await app.store.get(groupKey);
    // The next flush (the repeat) is recorded in turn.
    expect(await intentScore(groupKey)).toBe(after?.pendingFlush?.dueAt);
  });
});

describe('rolling upgrade: state and jobs of the version before flush intents', () => {
  // The version before wrote the same group fields with a CAS script that kept no intent, and added
  // the flush job itself: here, the same commit with the intent taken out, and the job added.
  async function writtenByPreviousVersion(groupWaitMs: number, outOfSync?: number) {
    const groupKey = await onlyGroup(ingestWithoutMover(groupWaitMs), outOfSync);
    await redis.zrem(flushDueKey(prefix), groupKey);
    const state = await store.get(groupKey);
    const pending = state?.pendingFlush;
    if (!state || !pending) throw new Error('no flush pending');
    await queues.scheduleFlush(groupKey, state.createdAt, pending.seq, pending.dueAt, Date.now());
    return { groupKey, state, pending };
  }

  it('its queued flush job runs on the new version, and the flush records the next intent', async () => {
    const { groupKey } = await writtenByPreviousVersion(0);
    app = await startService({ redisUrl: redisUrl(), prefix });
    await waitFor(async () => (await app?.store.get(groupKey))?.lastNotification?.reason === 'first', 20_000, 'the old job flushed');
    const next = (await app.store.get(groupKey))?.pendingFlush;
    expect(next).not.toBeNull();
    expect(await intentScore(groupKey)).toBe(next?.dueAt);
  });

  it('a signal that keeps its pending flush records the intent it lacks, without moving its due time', async () => {
    const { groupKey, pending } = await writtenByPreviousVersion(3_600_000, 2);
    expect(await intentScore(groupKey)).toBeNull();
    // Two more resources drift: a change, but the flush already pending comes first and is kept.
    const { groups, outcome } = await ingestWithoutMover(3_600_000)(drift(4));
    expect(outcome).toBe('tracked');
    expect(groups).toEqual([groupKey]);
    expect((await store.get(groupKey))?.pendingFlush).toEqual(pending);
    expect(await intentScore(groupKey)).toBe(pending.dueAt);
  });
});

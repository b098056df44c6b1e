import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.ts';
import { ownerPath } from '../../src/model/owner.ts';
import type { SignalInput } from '../../src/track/decide.ts';
import type { Timing } from '../../src/track/group-state.ts';
import { groupRedisKey, ownerGroupsKey } from '../../src/track/keys.ts';
import { META_FIELD } from '../../src/track/group-layout.ts';
import { createRedisTrackStore, GroupFindingsLimitError, type RedisTrackStoreOptions, type TrackStore } from '../../src/track/redis-store.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

/**
 * Issue #15: concurrent signals for one alert group on one replica are folded into one commit per
 * batch (track/redis-store.ts, track/keyed-batches.ts), so they never conflict with each other; a
 * signal the decision refuses fails alone; two replicas writing one group still go through the
 * compare-and-set.
 */

const GROUP = 'batch-group';
const timing: Timing = { groupWaitMs: 3_600_000, groupIntervalMs: 300_000, repeatIntervalMs: 4 * 3_600_000, pendingForMs: 0 };
const labels = {
  cluster: 'prod',
  tool: 'argocd' as const,
  owner: { kind: 'Application', namespace: 'argocd', name: 'a' },
  project: 'p',
  route: 'route',
  receiver: 'console',
  groupBy: { cluster: 'prod' },
};
const owner = (app: string) => ({ kind: 'Application', namespace: 'argocd', name: app });

function finding(app: string, name: string): Finding {
  return {
    fingerprint: `fp-${app}-${name}`,
    groupKey: GROUP,
    cluster: 'prod',
    tool: 'argocd',
    owner: owner(app),
    project: 'p',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'ns', name },
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    receivers: ['console'],
    reasons: [],
    observedAt: 0,
  };
}

function input(app: string, names: string[], completeness: 'snapshot' | 'partial' = 'snapshot', withLabels = true): SignalInput {
  return {
    groupKey: GROUP,
    ...(withLabels ? { labels, timing } : {}),
    findings: names.map((n) => finding(app, n)),
    completeness,
    scope: { cluster: 'prod', tool: 'argocd', owner: owner(app) },
    observedAt: 1_000,
  };
}

let prefix: string;
const connections: Redis[] = [];
let batches: Array<{ signals: number; conflicts: number }>;

function replica(opts: Partial<RedisTrackStoreOptions> = {}): TrackStore {
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  connections.push(redis);
  return createRedisTrackStore({ redis, keyPrefix: prefix, onBatch: (b) => batches.push(b), ...opts });
}

beforeEach(() => {
  prefix = testPrefix('batch');
  batches = [];
});

afterEach(async () => {
  for (const r of connections.splice(0)) r.disconnect();
  await deleteKeys(redisUrl(), prefix);
});

describe('signals for one group on one replica', () => {
  it('are committed in one batch, without a conflict, each answered with the committed state', async () => {
    const store = replica();
    const apps = Array.from({ length: 40 }, (_, i) => `app-${i}`);
    const results = await Promise.all(apps.map((app, i) => store.apply(input(app, [`vs-${i}`], i % 2 === 0 ? 'snapshot' : 'partial'), 2_000)));

    expect(batches).toEqual([{ signals: 40, conflicts: 0 }]);
    for (const r of results) {
      expect(r.changed).toBe(true);
      expect(r.opened).toHaveLength(1);
      // The flush every signal schedules is the one committed.
      expect(r.next?.pendingFlush).toEqual(results[0]?.next?.pendingFlush);
    }
    const state = await store.get(GROUP);
    expect(Object.keys(state?.findings ?? {}).sort()).toEqual(apps.map((app, i) => `fp-${app}-vs-${i}`).sort());
    // Every owner's index names the group, and every snapshot's record is kept.
    const redis = connections[0] as Redis;
    for (const app of apps)
      expect(await redis.sismember(ownerGroupsKey(prefix, ownerPath({ cluster: 'prod', tool: 'argocd', owner: owner(app) })), GROUP)).toBe(1);
    expect(Object.keys(state?.snapshotRecords ?? {})).toHaveLength(20);

    // A second wave into the stored group: a batch again, none conflicting; a snapshot resolves
    // what its owner no longer reports, the others add theirs.
    batches = [];
    const second = await Promise.all([
      store.apply(input('app-0', [], 'snapshot'), 3_000),
      store.apply(input('app-1', ['vs-1', 'vs-extra'], 'partial'), 3_000),
      store.apply(input('app-2', ['vs-2'], 'snapshot'), 3_000),
    ]);
    expect(batches).toEqual([{ signals: 3, conflicts: 0 }]);
    expect(second.map((r) => [r.resolved, r.opened.length, r.changed])).toEqual([
      [1, 0, true],
      [0, 1, true],
      [0, 0, false],
    ]);
    const after = await store.get(GROUP);
    expect(after?.findings['fp-app-0-vs-0']?.status).toBe('resolved');
    expect(after?.findings['fp-app-1-vs-extra']?.status).toBe('firing');
    expect(Object.keys(after?.findings ?? {})).toHaveLength(41);
  });

  it('a signal refused in a batch fails alone: the others are committed', async () => {
    const store = replica({ maxGroupFindings: 5 });
    await store.apply(input('seed', ['a', 'b', 'c']), 2_000);
    batches = [];
    const settled = await Promise.allSettled([
      store.apply(input('ok-1', ['x']), 3_000),
      // Would grow the group to 7 findings: past the bound.
      store.apply(input('too-big', ['x', 'y', 'z']), 3_000),
      store.apply(input('ok-2', ['x']), 3_000),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(GroupFindingsLimitError);
    expect(batches).toEqual([{ signals: 3, conflicts: 0 }]);
    const state = await store.get(GROUP);
    expect(Object.keys(state?.findings ?? {}).sort()).toEqual(['fp-ok-1-x', 'fp-ok-2-x', 'fp-seed-a', 'fp-seed-b', 'fp-seed-c']);
    expect(state?.snapshotRecords?.[ownerPath({ cluster: 'prod', tool: 'argocd', owner: owner('too-big') })]).toBeUndefined();
  });

  it('a signal that cannot open the group (no labels) fails alone; the next one in the batch opens it', async () => {
    const store = replica();
    const settled = await Promise.allSettled([store.apply(input('unlabelled', ['x'], 'partial', false), 2_000), store.apply(input('labelled', ['y']), 2_000)]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'fulfilled']);
    expect(String((settled[0] as PromiseRejectedResult).reason)).toMatch(/needs labels and timing/);
    expect(Object.keys((await store.get(GROUP))?.findings ?? {})).toEqual(['fp-labelled-y']);
  });
});

describe('a group believed absent (its owner has not named it yet)', () => {
  it('is committed without a read when it is; read and merged, not counted as a conflict, when it exists after all', async () => {
    const store = replica();
    const redis = connections[0] as Redis;
    const first = await store.apply(input('seed', ['a']), 2_000, { absent: true });
    expect(first.opened).toHaveLength(1);
    await store.apply(input('other', ['b'], 'partial'), 2_500, { absent: true });
    const settled = await Promise.all([
      store.apply(input('newcomer', ['c'], 'partial'), 3_000, { absent: true }),
      store.apply(input('newcomer-2', ['d']), 3_000, { absent: true }),
    ]);
    expect(settled.map((r) => r.opened.length)).toEqual([1, 1]);
    expect(batches.every((b) => b.conflicts === 0)).toBe(true);
    const state = await store.get(GROUP);
    expect(Object.keys(state?.findings ?? {}).sort()).toEqual(['fp-newcomer-2-d', 'fp-newcomer-c', 'fp-other-b', 'fp-seed-a']);
    // Decided on what was read: the meta counts every finding, the first snapshot's record stays.
    const meta = JSON.parse((await redis.hget(groupRedisKey(prefix, GROUP), META_FIELD)) ?? '{}') as { size?: number; firing?: number };
    expect(meta).toMatchObject({ size: 4, firing: 4 });
    expect(Object.keys(state?.snapshotRecords ?? {})).toHaveLength(2);
  });
});

describe('two replicas writing one group', () => {
  it('still go through the compare-and-set: every signal of both is committed', async () => {
    const a = replica();
    const b = replica();
    const apps = Array.from({ length: 30 }, (_, i) => `app-${i}`);
    // Interleaved over several turns of the event loop, so the replicas' batches overlap.
    const results = await Promise.all(
      apps.map(async (app, i) => {
        await new Promise((r) => setTimeout(r, i % 5));
        return (i % 2 === 0 ? a : b).apply(input(app, [`vs-${i}`], 'partial'), 2_000);
      }),
    );
    expect(results.every((r) => r.opened.length === 1)).toBe(true);
    expect(batches.reduce((n, x) => n + x.signals, 0)).toBe(30);
    const state = await a.get(GROUP);
    expect(Object.keys(state?.findings ?? {})).toHaveLength(30);
  });
});

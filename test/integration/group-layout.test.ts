import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.ts';
import type { DriftState } from '../../src/model/signal.ts';
import { createRedisTrackStore, readActiveFindings, reconcileActiveFindings, storedGroupBytes, type TrackStore } from '../../src/track/redis-store.ts';
import { applySignal, flush, type ApplyResult, type SignalInput } from '../../src/track/decide.ts';
import { findingField, LEGACY_MARKER, META_FIELD, ownerField } from '../../src/track/group-layout.ts';
import { groupStateSchema, type GroupState, type Timing } from '../../src/track/group-state.ts';
import { activeGroupsKey, groupRedisKey } from '../../src/track/keys.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

/**
 * The per-finding layout of a group (track/group-layout.ts, issue #15): a signal reads and writes
 * only what it names, decisions equal those taken on the whole state, and a group stored whole by
 * the previous version is read and migrated (a rolling upgrade).
 */

const GROUP = 'g1';
const timing: Timing = { groupWaitMs: 10_000, groupIntervalMs: 300_000, repeatIntervalMs: 4 * 3_600_000, pendingForMs: 0 };
const labels = {
  cluster: 'prod',
  tool: 'argocd' as const,
  owner: { kind: 'Application', namespace: 'argocd', name: 'a' },
  project: 'p',
  route: 'route',
  receiver: 'console',
  groupBy: { cluster: 'prod' },
};

function finding(app: string, name: string, state: DriftState = 'Modified', severity: Finding['severity'] = 'high'): Finding {
  return {
    fingerprint: `fp-${app}-${name}`,
    groupKey: GROUP,
    cluster: 'prod',
    tool: 'argocd',
    owner: { kind: 'Application', namespace: 'argocd', name: app },
    project: 'p',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'ns', name },
    state,
    category: 'traffic',
    mesh: 'istio',
    severity,
    receivers: ['console'],
    reasons: [],
    observedAt: 0,
  };
}

function input(app: string, findings: Finding[], completeness: 'snapshot' | 'partial', observedAt: number): SignalInput {
  return {
    groupKey: GROUP,
    labels,
    timing,
    findings,
    completeness,
    scope: { cluster: 'prod', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: app } },
    observedAt,
  };
}

let prefix: string;
let redis: Redis;
let store: TrackStore;

beforeEach(() => {
  prefix = testPrefix('layout');
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  store = createRedisTrackStore({ redis, keyPrefix: prefix });
});

afterEach(async () => {
  redis.disconnect();
  await deleteKeys(redisUrl(), prefix);
});

const key = (): string => groupRedisKey(prefix, GROUP);

/** What the previous version stored: the whole state as one JSON value (`s`) beside its version. */
async function storeLegacy(state: GroupState): Promise<void> {
  await redis.hset(key(), 'v', '7', 's', JSON.stringify(state));
  await redis.expire(key(), 3600);
}

describe('per-finding group layout', () => {
  it('decides as the whole-state decision does, over snapshots and partial signals of several owners and flushes', async () => {
    let whole: GroupState | null = null;
    let now = 1_000;
    const steps: Array<SignalInput | 'flush'> = [
      input('a', [finding('a', 'x'), finding('a', 'y')], 'snapshot', 1),
      input('b', [finding('b', 'x')], 'partial', 2),
      'flush',
      input('a', [finding('a', 'x', 'Modified', 'critical')], 'snapshot', 3), // y resolves, x raised
      input('b', [finding('b', 'z', 'Missing')], 'partial', 4),
      input('a', [finding('a', 'x', 'Modified', 'critical')], 'snapshot', 2), // stale: older than 3
      'flush',
      input('b', [], 'snapshot', 5), // b's findings all resolve
      'flush',
      input('a', [], 'snapshot', 6),
      'flush',
    ];
    for (const step of steps) {
      now += 20_000;
      if (step === 'flush') {
        expect(whole?.pendingFlush).not.toBeNull();
        const seq = whole?.pendingFlush?.seq ?? 0;
        const outcome = await store.flush(GROUP, whole?.createdAt ?? 0, seq, () => ({ now: whole?.pendingFlush?.dueAt ?? now }));
        const expected = flush(whole as GroupState, seq, { now: whole?.pendingFlush?.dueAt ?? now });
        expect(outcome.kind).toBe('decided');
        if (outcome.kind === 'decided') expect(outcome.notification).toEqual(expected.notification);
        whole = expected.next;
      } else {
        const got = await store.apply(step, now);
        const expected: ApplyResult<GroupState> = applySignal(whole, step, now);
        expect({ changed: got.changed, stale: got.stale, opened: got.opened, resolved: got.resolved, pending: got.next?.pendingFlush }).toEqual({
          changed: expected.changed,
          stale: expected.stale,
          opened: expected.opened,
          resolved: expected.resolved,
          pending: expected.next?.pendingFlush,
        });
        if (expected.dirty) whole = expected.next;
      }
      expect(await store.get(GROUP)).toEqual(whole);
    }
  });

  it('a signal into a group of 2,000 findings reads and writes only what it names', async () => {
    const big = Array.from({ length: 2_000 }, (_, i) => finding('a', `r${i}`));
    await store.apply(input('a', big, 'snapshot', 1), 1_000);
    expect(await redis.hlen(key())).toBeGreaterThan(2_000);

    const sent: Array<{ command: string; bytes: number }> = [];
    const original = redis.sendCommand.bind(redis);
    redis.sendCommand = ((cmd: Parameters<Redis['sendCommand']>[0]) => {
      const args = (cmd as unknown as { args: Array<string | Buffer | number> }).args;
      sent.push({ command: (cmd as unknown as { name: string }).name, bytes: args.reduce<number>((n, a) => n + String(a).length, 0) });
      return original(cmd);
    }) as Redis['sendCommand'];
    // Another app's snapshot and a partial signal of the big app's, each with one finding.
    await store.apply(input('b', [finding('b', 'x')], 'snapshot', 2), 2_000);
    await store.apply(input('a', [finding('a', 'r5', 'Missing')], 'partial', 3), 3_000);
    redis.sendCommand = original;

    expect(sent.map((s) => s.command)).not.toContain('hgetall');
    // The whole group is ~2,000 x 700 bytes; what went out is a few findings' worth.
    const total = sent.reduce((n, s) => n + s.bytes, 0);
    expect(total).toBeLessThan(10_000);
    const state = await store.get(GROUP);
    expect(Object.keys(state?.findings ?? {})).toHaveLength(2_001);
    expect(state?.findings['fp-a-r5']?.state).toBe('Missing');
    expect(state?.findings['fp-a-r6']?.status).toBe('firing');
  });

  it('a group stored whole by the previous version is read, then migrated by its next commit (rolling upgrade)', async () => {
    // The previous version's state: two findings of app a, one already notified.
    const first = applySignal(null, input('a', [finding('a', 'x'), finding('a', 'y')], 'snapshot', 1), 1_000).next as GroupState;
    const told = flush(first, 1, { now: 11_000 }).next as GroupState;
    expect(told.lastNotification?.firing).toHaveLength(2);
    await storeLegacy(told);

    expect(await store.get(GROUP)).toEqual(told);
    // A snapshot of app a that resolves y: decided on the whole legacy state, written in the new layout.
    const result = await store.apply(input('a', [finding('a', 'x')], 'snapshot', 2), 20_000);
    expect(result).toMatchObject({ changed: true, resolved: 1, opened: [] });
    const hash = await redis.hgetall(key());
    expect(hash.s).toBe(LEGACY_MARKER);
    expect(Object.keys(hash)).toEqual(
      expect.arrayContaining([META_FIELD, 'n', findingField('fp-a-x'), findingField('fp-a-y'), ownerField('prod/argocd/Application/argocd/a')]),
    );
    const expected = applySignal(told, input('a', [finding('a', 'x')], 'snapshot', 2), 20_000).next;
    expect(await store.get(GROUP)).toEqual(expected);
    // The active-findings counts follow the migrated group (y no longer firing).
    const counts = await readActiveFindings(redis, prefix);
    expect(counts.reduce((n, c) => n + c.count, 0)).toBeLessThanOrEqual(1);

    // The next flush announces y resolved, from the migrated layout.
    const pending = expected?.pendingFlush;
    if (!pending || !expected) throw new Error('no flush scheduled');
    const outcome = await store.flush(GROUP, expected.createdAt, pending.seq, () => ({ now: pending.dueAt }));
    expect(outcome.kind === 'decided' && outcome.notification?.resolved.map((f) => f.fingerprint)).toEqual(['fp-a-y']);
    expect(Object.keys((await store.get(GROUP))?.findings ?? {})).toEqual(['fp-a-x']);
    expect(await redis.hexists(key(), findingField('fp-a-y'))).toBe(0);
    // ... and out of its owner's entry, which keeps the owner's snapshot record.
    const entry = JSON.parse((await redis.hget(key(), ownerField('prod/argocd/Application/argocd/a'))) ?? '{}') as { fps: string[]; r?: unknown };
    expect(entry.fps).toEqual(['fp-a-x']);
    expect(entry.r).toEqual({ at: 2, observed: false });
  });

  it('a flush of a group stored whole by the previous version migrates it', async () => {
    const first = applySignal(null, input('a', [finding('a', 'x')], 'snapshot', 1), 1_000).next as GroupState;
    await storeLegacy(first);
    const outcome = await store.flush(GROUP, first.createdAt, 1, () => ({ now: 11_000 }));
    expect(outcome.kind === 'decided' && outcome.notification?.reason).toBe('first');
    expect(await redis.hget(key(), 's')).toBe(LEGACY_MARKER);
    expect(await store.get(GROUP)).toEqual(flush(first, 1, { now: 11_000 }).next);
    // A partial signal now reads the migrated layout.
    const more = await store.apply(input('a', [finding('a', 'w')], 'partial', 2), 30_000);
    expect(more.opened.map((f) => f.fingerprint)).toEqual(['fp-a-w']);
  });

  it('a replica of the previous version refuses a migrated group loudly (its schema check fails) instead of reading it as absent', async () => {
    await store.apply(input('a', [finding('a', 'x')], 'snapshot', 1), 1_000);
    const s = await redis.hget(key(), 's');
    expect(s).not.toBeNull();
    expect(groupStateSchema.safeParse(JSON.parse(s ?? 'null')).success).toBe(false);
  });

  it('the active-findings rebuild and the stored size read both layouts', async () => {
    // g1 in the new layout (2 firing), g2 stored whole by the previous version (1 firing, another finding).
    await store.apply(input('a', [finding('a', 'x'), finding('a', 'y')], 'snapshot', 1), 1_000);
    const legacy = applySignal(null, { ...input('b', [finding('b', 'z', 'Missing', 'critical')], 'snapshot', 1), groupKey: 'g2' }, 1_000).next as GroupState;
    await redis.hset(groupRedisKey(prefix, 'g2'), 'v', '3', 's', JSON.stringify(legacy));
    await redis.expire(groupRedisKey(prefix, 'g2'), 3600);
    await redis.zadd(activeGroupsKey(prefix), 1_000, 'g2');
    expect(await reconcileActiveFindings(redis, prefix, 60)).toBe(2);
    const counts = Object.fromEntries((await readActiveFindings(redis, prefix)).map((c) => [c.severity, c.count]));
    expect(counts).toEqual({ high: 2, critical: 1 });

    // The findings budget weighs a group by its stored size, read without the group.
    expect(await storedGroupBytes(redis, prefix, 'g2')).toBe(await redis.hstrlen(groupRedisKey(prefix, 'g2'), 's'));
    expect(await storedGroupBytes(redis, prefix, GROUP)).toBeGreaterThanOrEqual(2 * 1400);
    expect(await storedGroupBytes(redis, prefix, 'absent')).toBe(0);
  });
});

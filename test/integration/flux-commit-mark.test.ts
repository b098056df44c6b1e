import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import type { Finding } from '../../src/model/finding.ts';
import { createRedisFluxRevisionStore, type FluxRevisionStore } from '../../src/sources/flux/revision-store.ts';
import { fluxEventId } from '../../src/sources/flux/process-event.ts';
import type { FluxEvent } from '../../src/sources/flux/event.ts';
import type { SignalInput } from '../../src/track/decide.ts';
import type { Timing } from '../../src/track/group-state.ts';
import { createRedisTrackStore, type TrackStore } from '../../src/track/redis-store.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';
import { postFlux, startService, stopService } from '../support/service.ts';

/**
 * Issue #15: a Flux event's revision memory and processed mark are written by the group commit
 * that tracks its signal (track/redis-scripts.ts CAS_SCRIPT, the CommitMark of track/redis-store.ts),
 * in the forms sources/flux/revision-store.ts writes itself: a replica of the previous version, which
 * writes them with its own script after the commit, and this one read each other's.
 */

const owner = { kind: 'HelmRelease', namespace: 'mesh', name: 'gateway' };
const timing: Timing = { groupWaitMs: 3_600_000, groupIntervalMs: 300_000, repeatIntervalMs: 4 * 3_600_000, pendingForMs: 0 };
const labels = { cluster: 'east', tool: 'flux' as const, owner, project: '', route: 'route', receiver: 'console', groupBy: { cluster: 'east' } };

function finding(name: string): Finding {
  return {
    fingerprint: `fp-${name}`,
    groupKey: 'mark-group',
    cluster: 'east',
    tool: 'flux',
    owner,
    project: '',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'mesh', name },
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    receivers: ['console'],
    reasons: [],
    observedAt: 0,
  };
}

const input = (names: string[]): SignalInput => ({
  groupKey: 'mark-group',
  labels,
  timing,
  findings: names.map(finding),
  completeness: 'partial',
  scope: { cluster: 'east', tool: 'flux', owner },
  observedAt: 1_000,
});

let redis: Redis;
let prefix: string;
beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
});
afterAll(() => redis.disconnect());

describe('the commit mark (track store + Flux revision store)', () => {
  let store: TrackStore;
  let revisions: FluxRevisionStore & { mark: NonNullable<FluxRevisionStore['mark']> };
  beforeEach(async (ctx) => {
    prefix = testPrefix('fluxmark');
    ctx.onTestFinished(() => deleteKeys(redisUrl(), prefix));
    store = createRedisTrackStore({ redis, keyPrefix: prefix });
    const r = createRedisFluxRevisionStore(redis, prefix, { ttlSeconds: 3600 });
    const mark = r.mark;
    if (mark === undefined) throw new Error('the Redis revision store makes marks');
    revisions = { ...r, mark };
  });

  it('a commit that writes the group writes the mark: the revision memory and the processed event, with their TTLs', async () => {
    const result = await store.apply(input(['a']), 5_000, { absent: true, mark: revisions.mark('east', owner, { revision: 'r2', at: 2_000 }, 'ev-1') });
    expect(result.changed).toBe(true);
    expect(result.marked).toBe(true);
    expect(await revisions.lookup('east', owner, 'ev-1')).toEqual({ previous: { revision: 'r2', at: 2_000, from: 'event' }, seen: true });
    expect(await revisions.lookup('east', owner, 'ev-2')).toEqual({ previous: { revision: 'r2', at: 2_000, from: 'event' }, seen: false });
    const m = revisions.mark('east', owner, undefined, 'ev-1');
    expect(await redis.ttl(m.latestKey)).toBeGreaterThan(3500);
    expect(await redis.ttl(m.seenKey)).toBeGreaterThan(24 * 3600 - 100);
  });

  it('an older reconcile time does not rewind the memory (as the standalone commit); a mark without a revision only marks the event', async () => {
    await revisions.commit('east', owner, { revision: 'r3', at: 3_000 }, 'ev-0');
    expect((await store.apply(input(['a']), 5_000, { absent: true, mark: revisions.mark('east', owner, { revision: 'r1', at: 1_000 }, 'ev-1') })).marked).toBe(
      true,
    );
    expect(await revisions.lookup('east', owner, 'ev-1')).toEqual({ previous: { revision: 'r3', at: 3_000, from: 'event' }, seen: true });
    expect((await store.apply(input(['a', 'b']), 6_000, { mark: revisions.mark('east', owner, undefined, 'ev-2') })).marked).toBe(true);
    expect(await revisions.lookup('east', owner, 'ev-2')).toEqual({ previous: { revision: 'r3', at: 3_000, from: 'event' }, seen: true });
  });

  it('a legacy bare revision (time 0) is replaced, as the standalone commit replaces it', async () => {
    const m = revisions.mark('east', owner, { revision: 'r5', at: 5_000 }, 'ev-5');
    await redis.set(m.latestKey, 'r-legacy', 'EX', 3600);
    expect((await revisions.lookup('east', owner, 'ev-5')).previous).toEqual({ revision: 'r-legacy', at: 0, from: 'event' });
    expect((await store.apply(input(['a']), 5_000, { absent: true, mark: m })).marked).toBe(true);
    expect((await revisions.lookup('east', owner, 'ev-5')).previous).toEqual({ revision: 'r5', at: 5_000, from: 'event' });
  });

  it('a batch that writes nothing (the group already holds the finding) makes no mark: the caller commits it itself', async () => {
    await store.apply(input(['a']), 5_000, { absent: true });
    const again = await store.apply(input(['a']), 6_000, { mark: revisions.mark('east', owner, { revision: 'r2', at: 2_000 }, 'ev-1') });
    expect(again.changed).toBe(false);
    expect(again.marked).toBeUndefined();
    expect(await revisions.lookup('east', owner, 'ev-1')).toEqual({ previous: undefined, seen: false });
  });

  it('a signal refused by the decision (a new group without labels) makes no mark; the others of its batch make theirs', async () => {
    const { labels: _l, ...unlabelled } = input(['x']);
    const [refused, ok] = await Promise.allSettled([
      store.apply(unlabelled, 5_000, { absent: true, mark: revisions.mark('east', owner, { revision: 'rx', at: 9_000 }, 'ev-x') }),
      store.apply(input(['a']), 5_000, { absent: true, mark: revisions.mark('east', owner, { revision: 'r1', at: 1_000 }, 'ev-1') }),
    ]);
    expect(refused.status).toBe('rejected');
    expect(ok.status === 'fulfilled' && ok.value.marked).toBe(true);
    expect(await revisions.lookup('east', owner, 'ev-x')).toEqual({ previous: { revision: 'r1', at: 1_000, from: 'event' }, seen: false });
  });
});

describe('a Flux webhook through the service', () => {
  let svc: (App & { url: string }) | undefined;
  beforeEach(async () => {
    prefix = testPrefix('fluxmarksvc');
    svc = await startService({ redisUrl: redisUrl(), prefix, env: { MESHDRIFT_CLUSTER: 'east' } });
  });
  afterEach(async () => stopService(svc, redisUrl(), prefix));

  const drift = (name: string): FluxEvent => ({
    involvedObject: { kind: 'HelmRelease', namespace: 'mesh', name, apiVersion: 'helm.toolkit.fluxcd.io/v2' },
    severity: 'info',
    timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    message: 'Helm release drift detected:\nVirtualService/mesh/reviews changed (1 change)',
    reason: 'DriftDetected',
    metadata: { revision: '1.2.3' },
  });

  it('a drift event is tracked and its processed mark and revision written with it: the same event again is a duplicate', async () => {
    const event = drift('gateway');
    const first = await postFlux(svc?.url ?? '', event);
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({ outcome: 'tracked' });
    expect(await redis.exists(`${prefix}:flux:event:${fluxEventId(event)}`)).toBe(1);
    const revisions = createRedisFluxRevisionStore(redis, prefix);
    expect((await revisions.lookup('east', { kind: 'HelmRelease', namespace: 'mesh', name: 'gateway' }, fluxEventId(event))).seen).toBe(true);
    const again = await postFlux(svc?.url ?? '', event);
    expect(await again.json()).toMatchObject({ outcome: 'duplicate' });
  });

  it('many owners at once: every event answered tracked, every one marked', async () => {
    const events = Array.from({ length: 40 }, (_, i) => drift(`app-${i}`));
    const answers = await Promise.all(events.map(async (e) => (await postFlux(svc?.url ?? '', e)).json()));
    expect(answers.every((a) => (a as { outcome: string }).outcome === 'tracked')).toBe(true);
    const marks = await Promise.all(events.map((e) => redis.exists(`${prefix}:flux:event:${fluxEventId(e)}`)));
    expect(marks.every((m) => m === 1)).toBe(true);
  });
});

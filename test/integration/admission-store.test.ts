import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AdmissionRecord,
  admissionConfirmedKey,
  admissionObjectKey,
  admissionStreamKey,
  attributionOf,
  confirmWrites,
  createAdmissionStore,
  bodyDigest,
  persistedIn,
} from '../../src/track/admission-store.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

const T0 = Date.parse('2026-05-01T12:00:00.000Z');
const HOUR = 3_600_000;

const after = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name: 'reviews', namespace: 'shop', uid: 'u-1', resourceVersion: '11' },
  spec: { http: [{ route: [{ destination: { host: 'reviews' }, weight: 50 }] }] },
};

function rec(over: Partial<AdmissionRecord> = {}): AdmissionRecord {
  return {
    requestUid: 'req-1',
    cluster: 'prod',
    uid: 'u-1',
    group: 'networking.istio.io',
    kind: 'VirtualService',
    namespace: 'shop',
    name: 'reviews',
    operation: 'UPDATE',
    user: { username: 'alice@corp', groups: ['dev'] },
    gitops: false,
    owner: { kind: 'Application', namespace: 'argocd', name: 'shop-mesh' },
    via: 'kubectl-edit',
    at: T0,
    fromResourceVersion: '10',
    afterDigest: bodyDigest({ spec: after.spec }),
    changes: { source: 'admission', changes: [{ path: 'spec.http[0].route[0].weight', before: '90', after: '50' }] },
    ...over,
  };
}

describe('admission store', () => {
  let prefix: string;
  let redis: Redis;
  let now = T0;

  beforeEach(() => {
    prefix = testPrefix('admission-store');
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    now = T0;
  });
  afterEach(async () => {
    redis.disconnect();
    await deleteKeys(redisUrl(), prefix);
  });

  const store = (over: { perObject?: number; maxRecords?: number } = {}) =>
    createAdmissionStore({ redis, keyPrefix: prefix, ttlMs: HOUR, perObject: over.perObject ?? 3, maxRecords: over.maxRecords ?? 1000, now: () => now });

  it('stores records and reads them back by (cluster, uid), newest first, capped per object, with TTLs on every key', async () => {
    const s = store();
    for (let i = 0; i < 5; i++) await s.record(rec({ requestUid: `req-${i}`, at: T0 + i }));
    await s.record(rec({ cluster: 'other', requestUid: 'elsewhere' }));
    const got = await s.recent('prod', 'u-1');
    expect(got.map((r) => r.requestUid)).toEqual(['req-4', 'req-3', 'req-2']);
    expect((await s.recent('other', 'u-1')).map((r) => r.requestUid)).toEqual(['elsewhere']);
    expect(await s.recent('prod', 'nope')).toEqual([]);
    for (const key of [admissionStreamKey(prefix), admissionObjectKey(prefix, 'prod', 'u-1')]) {
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(HOUR);
    }
  });

  it('keeps the stream capped whatever number of objects is posted', async () => {
    const s = store({ maxRecords: 10 });
    for (let i = 0; i < 400; i++) await s.record(rec({ uid: `u-${i}` }));
    // MAXLEN ~ trims whole macro nodes: approximately, never far above the cap.
    expect(await redis.xlen(admissionStreamKey(prefix))).toBeLessThan(200);
    expect(await s.recent('prod', 'u-0')).toEqual([]);
    expect(await s.recent('prod', 'u-399')).toHaveLength(1);
  });

  it('leaves out records older than the TTL and records that do not parse', async () => {
    const s = store();
    await s.record(rec({ requestUid: 'old' }));
    now = T0 + 2 * HOUR;
    expect(await s.recent('prod', 'u-1')).toEqual([]);
    now = T0;
    await redis.xadd(admissionStreamKey(prefix), '*', 'r', '{"not":"a record"}').then((id) => redis.lpush(admissionObjectKey(prefix, 'prod', 'u-1'), id ?? ''));
    expect((await s.recent('prod', 'u-1')).map((r) => r.requestUid)).toEqual(['old']);
  });

  it('marks a record confirmed, with a TTL', async () => {
    const s = store();
    const id = await s.record(rec());
    await s.confirm('prod', 'u-1', id, T0 + 5);
    expect((await s.recent('prod', 'u-1'))[0]?.confirmedAt).toBe(T0 + 5);
    expect(await redis.pttl(admissionConfirmedKey(prefix, 'prod', 'u-1'))).toBeGreaterThan(0);
    await expect(s.confirm('prod', 'u-1', 'not-an-id', T0)).rejects.toThrow();
  });

  it('refuses a record past its bounds before writing it', async () => {
    await expect(store().record(rec({ name: 'x'.repeat(300) }))).rejects.toThrow();
    expect(await redis.exists(admissionStreamKey(prefix))).toBe(0);
  });
});

describe('persistedIn and attributionOf', () => {
  /** The redacted body the mesh watch keeps of an object (sources/mesh/slim.ts): no apiVersion, kind, metadata or status. */
  const bodyOfLive = (o: { spec: unknown }) => ({ spec: o.spec });

  it('confirms an update by the digest of the live body at a new resourceVersion, whatever the key order', () => {
    const r = rec({ afterDigest: bodyDigest(bodyOfLive(after)) });
    expect(persistedIn(r, { resourceVersion: '12', body: bodyOfLive(after) })).toBe(true);
    const reordered = { spec: { http: [{ route: [{ weight: 50, destination: { host: 'reviews' } }] }] } };
    expect(persistedIn(r, { resourceVersion: '12', body: reordered })).toBe(true);
    expect(persistedIn(r, { resourceVersion: '10', body: bodyOfLive(after) })).toBe(false);
    const other = { spec: { http: [{ route: [{ destination: { host: 'reviews' }, weight: 90 }] }] } };
    expect(persistedIn(r, { resourceVersion: '13', body: other })).toBe(false);
    expect(persistedIn(r, { resourceVersion: '13' })).toBe(false);
    expect(persistedIn(r, undefined)).toBe(false);
  });

  it('confirms a delete when the object is gone', () => {
    const r = rec({ operation: 'DELETE' });
    expect(persistedIn(r, undefined)).toBe(true);
    expect(persistedIn(r, { resourceVersion: '12', body: bodyOfLive(after) })).toBe(false);
  });

  it('names the person, the tool they used and the paths', () => {
    expect(attributionOf(rec())).toEqual({
      kind: 'person',
      who: 'alice@corp',
      via: 'kubectl-edit',
      operation: 'UPDATE',
      at: T0,
      source: 'admission',
      paths: ['spec.http[0].route[0].weight'],
    });
    expect(attributionOf(rec({ user: {} })).who).toBe('a person (name withheld)');
  });
});

describe('confirmWrites (the mesh watch side of the join)', () => {
  let prefix: string;
  let redis: Redis;
  beforeEach(() => {
    prefix = testPrefix('admission-confirm');
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  });
  afterEach(async () => {
    redis.disconnect();
    await deleteKeys(redisUrl(), prefix);
  });

  it('confirms the records a watch event shows persisted, once; a write that did not persist stays told', async () => {
    const store = createAdmissionStore({ redis, keyPrefix: prefix, ttlMs: HOUR, perObject: 10, maxRecords: 1000, now: () => T0 + 10 });
    await store.record(
      rec({
        requestUid: 'gitops',
        gitops: true,
        user: { username: 'system:serviceaccount:argocd:argocd-application-controller' },
        afterDigest: bodyDigest({ spec: { git: true } }),
        at: T0 - 5,
      }),
    );
    await store.record(rec({ requestUid: 'lost', afterDigest: bodyDigest({ spec: { lost: true } }), at: T0 - 1 }));
    await store.record(rec());
    const confirmed: string[] = [];
    const live = { resourceVersion: '12', body: { spec: after.spec } };
    const first = await confirmWrites(store, { cluster: 'prod', uid: 'u-1' }, live, T0 + 20, (r) => confirmed.push(r.requestUid));
    expect(confirmed).toEqual(['req-1']);
    expect(first.map((r) => [r.requestUid, r.confirmedAt])).toEqual([
      ['req-1', T0 + 20],
      ['lost', undefined],
      ['gitops', undefined],
    ]);
    await confirmWrites(store, { cluster: 'prod', uid: 'u-1' }, live, T0 + 30, (r) => confirmed.push(r.requestUid));
    expect(confirmed).toEqual(['req-1']);
    const states = Object.fromEntries((await store.recent('prod', 'u-1')).map((r) => [r.requestUid, r.confirmedAt]));
    expect(states).toEqual({ 'req-1': T0 + 20, lost: undefined, gitops: undefined });
  });
});

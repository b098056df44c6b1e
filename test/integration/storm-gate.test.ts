import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRedisStormStore, STORM_TTL_SECONDS, type GateVerdict, type StormStore } from '../../src/deliver/storm.ts';
import { stormHeadline } from '../../src/deliver/storm-summary.ts';
import { stormKeys } from '../../src/track/keys.ts';
import { makeNotification, makeTrackedFinding, paymentsGroupLabels } from '../support/notifications.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

// The storm decision is one Lua script (deliver/storm.ts): replicas deciding at once agree.

describe('the drift storm gate in Redis', () => {
  let prefix: string;
  let conns: Redis[];
  let clock: number;
  let stores: [StormStore, StormStore];
  const settings = { threshold: 10, windowMs: 60_000 };
  const CLUSTER = 'cluster:prod-eu';

  beforeEach(() => {
    prefix = testPrefix('storm-gate');
    conns = [new Redis(redisUrl()), new Redis(redisUrl())];
    clock = 1_000_000;
    stores = [createRedisStormStore(conns[0] as Redis, prefix, () => clock), createRedisStormStore(conns[1] as Redis, prefix, () => clock)];
  });

  afterEach(async () => {
    await Promise.all(conns.map((c) => c.quit()));
    await deleteKeys(redisUrl(), prefix);
  });

  const first = (i: number) => makeNotification({ groupKey: `g${i}` });
  const resolved = (i: number) => makeNotification({ groupKey: `g${i}`, seq: 2, reason: 'resolved', status: 'resolved', firing: [] });
  /** The first notification of app `i` on `cluster` at `revision`. */
  const app = (i: number, cluster: string, revision: string) =>
    makeNotification({
      groupKey: `a${i}`,
      labels: { ...paymentsGroupLabels(cluster), owner: { kind: 'Application', namespace: 'argocd', name: `app-${i}` } },
      firing: [makeTrackedFinding(`f${i}`, { cluster, revision })],
    });

  it('opens once across replicas, takes what is not yet told, leaves what was told alone, and ends once', async () => {
    // Nine groups under the threshold: told individually; three of them are sent already.
    for (let i = 0; i < 9; i++) expect((await stores[0].gate('slack', first(i), settings)).kind).toBe('individual');
    for (const i of [0, 1, 2]) await stores[1].told('slack', `g${i}`);

    // 91 more at once, through two replicas: exactly one opens the storm, all are members.
    const verdicts: GateVerdict[] = await Promise.all(Array.from({ length: 91 }, (_, k) => stores[k % 2 === 0 ? 0 : 1].gate('slack', first(9 + k), settings)));
    expect(verdicts.every((v) => v.kind === 'member' && v.cause === CLUSTER)).toBe(true);
    expect(verdicts.filter((v) => v.kind === 'member' && v.fresh)).toHaveLength(1);
    const record = await stores[0].read('slack', CLUSTER);
    // The six let through but not yet sent joined too; the three already told did not.
    expect(record?.members.size).toBe(97);
    expect(record?.cause).toEqual({ kind: 'cluster', cluster: 'prod-eu' });
    for (const i of [0, 1, 2]) expect(record?.members.has(`g${i}`)).toBe(false);
    expect(record?.sample.length).toBe(20);
    // Every key has a TTL.
    for (const cause of ['', CLUSTER]) {
      for (const key of Object.values(stormKeys(prefix, 'slack', cause))) {
        const ttl = await conns[0]?.ttl(key);
        expect(ttl === -2 || (ttl !== undefined && ttl > 0 && ttl <= STORM_TTL_SECONDS)).toBe(true);
      }
    }
    // A retry of the opening delivery is told it opened (its first summary gets queued), not fresh.
    const opener = verdicts.findIndex((v) => v.kind === 'member' && v.fresh);
    const again = await stores[1].gate('slack', first(9 + opener), settings);
    expect(again).toMatchObject({ kind: 'member', opened: true, fresh: false });

    // A member's resolve is taken by the storm (and is no change for a summary); a group told alone resolves alone.
    expect((await stores[0].gate('slack', resolved(0), settings)).kind).toBe('individual');
    const version = (await stores[0].read('slack', CLUSTER))?.version;
    await Promise.all(Array.from({ length: 97 }, (_, k) => stores[k % 2 === 0 ? 0 : 1].gate('slack', resolved(k + 3), settings)));
    const after = await stores[0].read('slack', CLUSTER);
    expect(after?.members.size).toBe(0);
    expect(after?.version).toBe(version);
    const id = record?.id ?? '';
    // Not over until a window passed without a new member; then over once, for both replicas.
    expect(await stores[0].end('slack', CLUSTER, id, clock + 1, settings.windowMs)).toBe(0);
    clock += 60_001;
    const ends = await Promise.all([
      stores[0].end('slack', CLUSTER, id, clock, settings.windowMs),
      stores[1].end('slack', CLUSTER, id, clock, settings.windowMs),
    ]);
    expect(ends).toEqual([1, 1]);
    expect(await stores[0].end('slack', CLUSTER, 'another', clock, settings.windowMs)).toBe(-1);
    // After it: a new group is told on its own again.
    expect((await stores[0].gate('slack', first(500), settings)).kind).toBe('individual');
  });

  it('takes no group once the burst is a window old, while its members still fire', async () => {
    for (let i = 0; i < 10; i++) await stores[0].gate('slack', first(i), settings);
    expect((await stores[0].read('slack', CLUSTER))?.members.size).toBe(10);
    clock += 60_001;
    expect((await stores[1].gate('slack', first(100), settings)).kind).toBe('individual');
    expect((await stores[0].read('slack', CLUSTER))?.members.has('g100')).toBe(false);
    // A member's later notification is still the storm's.
    expect((await stores[1].gate('slack', makeNotification({ groupKey: 'g3', seq: 2, reason: 'repeat' }), settings)).kind).toBe('member');
  });

  it('keys a storm by its cause: one revision, else one cluster, else too many at once', async () => {
    // Ten apps at one revision over ten clusters: the revision's storm.
    for (let i = 0; i < 10; i++) await stores[i % 2 === 0 ? 0 : 1].gate('slack', app(i, `c${i}`, 'r1'), settings);
    const byRevision = await stores[0].read('slack', 'revision:r1');
    expect(byRevision?.members.size).toBe(10);
    expect(stormHeadline(byRevision as NonNullable<typeof byRevision>, false)).toBe(
      '10 resources in 10 apps drifted in 10 clusters after revision r1, 10 critical',
    );

    // Two windows on: ten apps of one cluster, each at its own revision: the cluster's storm.
    clock += 120_001;
    for (let i = 10; i < 20; i++) await stores[0].gate('slack', app(i, 'x', `q${i}`), settings);
    const byCluster = await stores[0].read('slack', 'cluster:x');
    expect(byCluster?.members.size).toBe(10);
    expect(stormHeadline(byCluster as NonNullable<typeof byCluster>, false)).toBe('10 resources in 10 apps drifted in cluster x, 10 critical');

    // Two windows on: ten apps with nothing in common: too many at once.
    clock += 120_001;
    const verdicts = [];
    for (let i = 20; i < 30; i++) verdicts.push(await stores[1].gate('slack', app(i, `k${i}`, `s${i}`), settings));
    expect(verdicts.at(-1)).toMatchObject({ kind: 'member', cause: '', fresh: true });
    const burst = await stores[0].read('slack', '');
    expect(burst?.members.size).toBe(10);
    expect(stormHeadline(burst as NonNullable<typeof burst>, false)).toBe(
      '10 resources in 10 apps drifted at once in 10 clusters (no one revision or cluster), 10 critical',
    );

    // Three storms, distinct ids; each found by id with its members in pages.
    const listed = await stores[0].list();
    expect(listed.map((s) => s.cause.kind)).toEqual(['burst', 'cluster', 'revision']);
    expect(new Set(listed.map((s) => s.id)).size).toBe(3);
    const found = await stores[1].byId(byRevision?.id ?? '');
    expect(found?.record.cause).toEqual({ kind: 'revision', revision: 'r1' });
    let cursor = '0';
    const seen = new Set<string>();
    do {
      const page = await stores[0].members(found?.stateKey ?? '', cursor, 3);
      for (const [k] of page.members) seen.add(k);
      cursor = page.next ?? '0';
    } while (cursor !== '0');
    expect(seen.size).toBe(10);
    expect(await stores[0].byId('no-such-storm')).toBeNull();

    // A member of one storm stays in it when its later notification names another revision.
    const moved = app(3, 'c3', 'r2');
    expect(await stores[0].gate('slack', { ...moved, seq: 2, reason: 'new-findings' }, settings)).toMatchObject({ kind: 'member', cause: 'revision:r1' });
  });
});

import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRedisStormStore, STORM_TTL_SECONDS, type GateVerdict, type StormStore } from '../../src/deliver/storm.ts';
import { stormKeys } from '../../src/track/keys.ts';
import { makeNotification } from '../support/notifications.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

// The storm decision is one Lua script (deliver/storm.ts): replicas deciding at once agree.

describe('the drift storm gate in Redis', () => {
  let prefix: string;
  let conns: Redis[];
  let clock: number;
  let stores: [StormStore, StormStore];

  beforeEach(() => {
    prefix = testPrefix('storm-gate');
    conns = [new Redis(redisUrl()), new Redis(redisUrl())];
    clock = 1_000_000;
    const settings = { threshold: 10, windowMs: 60_000 };
    stores = [createRedisStormStore(conns[0] as Redis, prefix, settings, () => clock), createRedisStormStore(conns[1] as Redis, prefix, settings, () => clock)];
  });

  afterEach(async () => {
    await Promise.all(conns.map((c) => c.quit()));
    await deleteKeys(redisUrl(), prefix);
  });

  const first = (i: number) => makeNotification({ groupKey: `g${i}` });
  const resolved = (i: number) => makeNotification({ groupKey: `g${i}`, seq: 2, reason: 'resolved', status: 'resolved', firing: [] });

  it('opens once across replicas, takes what is not yet told, leaves what was told alone, and ends once', async () => {
    // Nine groups under the threshold: told individually; three of them are sent already.
    for (let i = 0; i < 9; i++) expect((await stores[0].gate('slack', first(i))).kind).toBe('individual');
    for (const i of [0, 1, 2]) await stores[1].told('slack', `g${i}`);

    // 91 more at once, through two replicas: exactly one opens the storm, all are members.
    const verdicts: GateVerdict[] = await Promise.all(Array.from({ length: 91 }, (_, k) => stores[k % 2 === 0 ? 0 : 1].gate('slack', first(9 + k))));
    expect(verdicts.every((v) => v.kind === 'member')).toBe(true);
    expect(verdicts.filter((v) => v.kind === 'member' && v.fresh)).toHaveLength(1);
    const record = await stores[0].read('slack');
    // The six let through but not yet sent joined too; the three already told did not.
    expect(record?.members.size).toBe(97);
    for (const i of [0, 1, 2]) expect(record?.members.has(`g${i}`)).toBe(false);
    expect(record?.sample.length).toBe(20);
    // Every key has a TTL.
    for (const key of Object.values(stormKeys(prefix, 'slack'))) {
      const ttl = await conns[0]?.ttl(key);
      expect(ttl === -2 || (ttl !== undefined && ttl > 0 && ttl <= STORM_TTL_SECONDS)).toBe(true);
    }
    // A retry of the opening delivery is told it opened (its first summary gets queued), not fresh.
    const opener = verdicts.findIndex((v) => v.kind === 'member' && v.fresh);
    const again = await stores[1].gate('slack', first(9 + opener));
    expect(again).toMatchObject({ kind: 'member', opened: true, fresh: false });

    // A member's resolve is taken by the storm; a group told alone resolves alone.
    expect((await stores[0].gate('slack', resolved(0))).kind).toBe('individual');
    await Promise.all(Array.from({ length: 97 }, (_, k) => stores[k % 2 === 0 ? 0 : 1].gate('slack', resolved(k + 3))));
    expect((await stores[0].read('slack'))?.members.size).toBe(0);
    const id = record?.id ?? '';
    // Not over until a window passed without a new member; then over once, for both replicas.
    expect(await stores[0].end('slack', id, clock + 1)).toBe(0);
    clock += 60_001;
    const ends = await Promise.all([stores[0].end('slack', id, clock), stores[1].end('slack', id, clock)]);
    expect(ends).toEqual([1, 1]);
    expect(await stores[0].end('slack', 'another', clock)).toBe(-1);
    // After it: a new group is told on its own again.
    expect((await stores[0].gate('slack', first(500))).kind).toBe('individual');
  });

  it('takes no group once the burst is a window old, while its members still fire', async () => {
    for (let i = 0; i < 10; i++) await stores[0].gate('slack', first(i));
    expect((await stores[0].read('slack'))?.members.size).toBe(10);
    clock += 60_001;
    expect((await stores[1].gate('slack', first(100))).kind).toBe('individual');
    expect((await stores[0].read('slack'))?.members.has('g100')).toBe(false);
    // A member's later notification is still the storm's.
    expect((await stores[1].gate('slack', makeNotification({ groupKey: 'g3', seq: 2, reason: 'repeat' }))).kind).toBe('member');
  });
});

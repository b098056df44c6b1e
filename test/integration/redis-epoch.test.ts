import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { createRedisEpoch, type DataLoss, type RedisEpoch } from '../../src/track/redis-epoch.ts';
import { epochKey } from '../../src/track/keys.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

// Issue #12 item 9: the epoch key tells a Redis that lost meshdrift's state from a first start,
// and exactly one of several replicas announces a loss.
let redis: Redis;
const prefixes: string[] = [];
const log = createLogger('silent');

beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
});
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deleteKeys(redisUrl(), p);
});
afterAll(() => redis.disconnect());

function replica(prefix: string, losses: DataLoss[], now = () => 1_000): RedisEpoch {
  return createRedisEpoch({ redis, prefix, log, now, onLoss: (loss) => void losses.push(loss) });
}

describe('the Redis epoch', () => {
  it('a first start is no loss; the key is written once, with a TTL, and kept by every check', async () => {
    const prefix = testPrefix('epoch');
    prefixes.push(prefix);
    const losses: DataLoss[] = [];
    const a = replica(prefix, losses);
    await a.check();
    const id = a.current();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await redis.pttl(epochKey(prefix))).toBeGreaterThan(0);
    const b = replica(prefix, losses);
    await b.check();
    await a.check();
    expect(b.current()).toBe(id);
    expect(losses).toEqual([]);
    expect(a.lostAt()).toBeUndefined();
  });

  it('a missing epoch after one was seen is a loss, found by every replica and announced by one', async () => {
    const prefix = testPrefix('epoch');
    prefixes.push(prefix);
    const lossesA: DataLoss[] = [];
    const lossesB: DataLoss[] = [];
    const a = replica(prefix, lossesA, () => 5_000);
    const b = replica(prefix, lossesB, () => 5_000);
    await a.check();
    await b.check();
    const before = a.current();
    await redis.del(epochKey(prefix)); // what an empty Redis looks like
    await Promise.all([a.check(), b.check()]);
    expect(lossesA).toHaveLength(1);
    expect(lossesB).toHaveLength(1);
    expect(lossesA[0]?.previous).toBe(before);
    expect(a.current()).toBe(b.current());
    expect(a.current()).not.toBe(before);
    expect([lossesA[0]?.announce, lossesB[0]?.announce].filter(Boolean)).toHaveLength(1);
    expect(a.lostAt()).toBe(5_000);
    // Checked again: nothing new.
    await Promise.all([a.check(), b.check()]);
    expect(lossesA).toHaveLength(1);
    expect(lossesB).toHaveLength(1);
    // A replica started after the loss knows when it was (for the Slack lookup), without a loss of its own.
    const lossesC: DataLoss[] = [];
    const c = replica(prefix, lossesC);
    await c.check();
    expect(lossesC).toEqual([]);
    expect(c.lostAt()).toBe(5_000);
  });

  it("an epoch replaced behind a replica's back (wiped and refilled between two checks) is a loss", async () => {
    const prefix = testPrefix('epoch');
    prefixes.push(prefix);
    const losses: DataLoss[] = [];
    const a = replica(prefix, losses);
    await a.check();
    await redis.del(epochKey(prefix));
    // A fresh replica starts on the empty Redis first: to it, a first start.
    const fresh: DataLoss[] = [];
    const b = replica(prefix, fresh);
    await b.check();
    await a.check();
    expect(fresh).toEqual([]);
    expect(losses).toHaveLength(1);
    // Nobody else announced it: this replica does.
    expect(losses[0]?.announce).toBe(true);
  });
});

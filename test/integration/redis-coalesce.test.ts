import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coalesceWrites, connected, createRedisConnections, type RedisConnections } from '../../src/redis.ts';
import { createLogger } from '../../src/log.ts';
import { waitFor } from '../support/redis.ts';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';

/**
 * Issue #15: what meshdrift's own connection is asked within one turn of the event loop (concurrent
 * webhooks' lookups and commits) reaches Redis in one write, each command still answered with its
 * own reply, in order; after a reconnect too. Counted by the server itself (INFO stats
 * total_reads_processed of a redis-server of this test's own: nobody else talks to it).
 */

const BATCH = 50;

describe('coalesceWrites', () => {
  it('sends what is written in one turn as one writev, and the next turn separately', async () => {
    const calls: number[] = [];
    const sink = new Writable({
      write: (_chunk, _enc, cb) => {
        calls.push(1);
        cb();
      },
      writev: (chunks, cb) => {
        calls.push(chunks.length);
        cb();
      },
    });
    coalesceWrites(sink);
    sink.write('a');
    sink.write('b');
    sink.write('c');
    expect(calls).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([3]);
    sink.write('d');
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([3, 1]);
  });
});

describe("meshdrift's client connection", () => {
  let own: OwnRedis;
  let conns: RedisConnections;
  let admin: Redis;
  const reads = async (): Promise<number> => Number(/total_reads_processed:(\d+)/.exec(await admin.info('stats'))?.[1] ?? Number.NaN);

  beforeAll(async () => {
    own = await startOwnRedis();
    admin = new Redis(own.url, { maxRetriesPerRequest: 1 });
    conns = createRedisConnections(own.url, createLogger('silent'));
    await connected(conns.client);
    await conns.client.mset(Object.fromEntries(Array.from({ length: BATCH }, (_, i) => [`k${i}`, `v${i}`])));
  });

  afterAll(async () => {
    for (const c of Object.values(conns)) c.disconnect();
    admin.disconnect();
    await own.stop();
  });

  // The admin's own INFO is one read each; the commands of one turn are one more.
  const readsOfOneTurn = async (): Promise<{ reads: number; values: Array<string | null> }> => {
    const before = await reads();
    const values = await Promise.all(Array.from({ length: BATCH }, (_, i) => conns.client.get(`k${i}`)));
    return { reads: (await reads()) - before - 1, values };
  };

  it('sends the commands of one turn in one write, each answered with its own reply', async () => {
    const { reads: n, values } = await readsOfOneTurn();
    expect(n).toBe(1);
    expect(values).toEqual(Array.from({ length: BATCH }, (_, i) => `v${i}`));
    // One command per turn: one write each.
    const before = await reads();
    for (let i = 0; i < 5; i++) await conns.client.get(`k${i}`);
    expect((await reads()) - before - 1).toBe(5);
  });

  it('does so again on the socket of a reconnect', async () => {
    const id = await conns.client.client('ID');
    await admin.client('KILL', 'ID', String(id));
    await waitFor(async () => {
      try {
        return (await conns.client.client('ID')) !== id;
      } catch {
        return false;
      }
    });
    // A late reply of the reconnect's own setup may share the count once: the fewest of five turns.
    const turns = [];
    for (let i = 0; i < 5; i++) turns.push(await readsOfOneTurn());
    const counts = turns.map((t) => t.reads);
    expect(Math.min(...counts), `reads per turn: ${counts.join(', ')}`).toBe(1);
    const values = turns[4]?.values ?? [];
    expect(values[BATCH - 1]).toBe(`v${BATCH - 1}`);
  });
});

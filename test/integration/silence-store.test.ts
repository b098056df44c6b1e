import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ContentionError, redisUnavailable } from '../../src/net/unavailable.ts';
import { createLogger } from '../../src/log.ts';
import { parseSilenceInput, type NewSilence } from '../../src/route/silence.ts';
import { createRedisSilenceStore, type SilenceStore } from '../../src/track/silence-store.ts';
import { silenceKeys, silencesKey } from '../../src/track/keys.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';

const T0 = Date.parse('2026-05-01T12:00:00.000Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const at = (ms: number) => new Date(ms).toISOString();

function input(body: Record<string, unknown>, now = T0): NewSilence {
  const r = parseSilenceInput({ matchers: ['namespace="payments"'], createdBy: 'alice', comment: 'mesh upgrade', ...body }, now);
  if (!r.ok) throw new Error(r.error);
  return r.silence;
}

describe('Redis silence store', () => {
  let prefix: string;
  let redis: Redis;
  let store: SilenceStore;
  let logged: string[];

  beforeEach(() => {
    prefix = testPrefix('silences');
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    logged = [];
    store = createRedisSilenceStore(redis, prefix, { retainExpiredMs: HOUR, log: createLogger('warn', { write: (line: string) => void logged.push(line) }) });
  });

  afterEach(async () => {
    redis.disconnect();
    await deleteKeys(redisUrl(), prefix);
  });

  it('creates silences with ids and creation time, and reads them back', async () => {
    const s = await store.create(input({ duration: '2h' }), T0);
    expect(s).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      matchers: [{ name: 'namespace', op: '=', value: 'payments' }],
      startsAt: at(T0),
      endsAt: at(T0 + 2 * HOUR),
      createdBy: 'alice',
      comment: 'mesh upgrade',
      createdAt: at(T0),
    });
    expect(await store.get(s.id)).toEqual(s);
    expect(await store.get('no-such-id')).toBeNull();
    expect(JSON.parse((await redis.hget(silencesKey(prefix), s.id)) ?? 'null')).toEqual(s);
  });

  it('lists active, pending and recently expired silences newest first; active() leaves out the expired', async () => {
    const expired = await store.create(input({ duration: '10m' }, T0), T0);
    const active = await store.create(input({ duration: '4h' }, T0 + MIN), T0 + MIN);
    const pending = await store.create(input({ startsAt: at(T0 + 3 * HOUR), duration: '1h' }, T0 + 2 * MIN), T0 + 2 * MIN);
    const now = T0 + 30 * MIN;
    expect((await store.list(now)).map((s) => s.id)).toEqual([pending.id, active.id, expired.id]);
    expect((await store.active(now)).map((s) => s.id)).toEqual([active.id, pending.id]);
  });

  it('expires: an active silence ends now, a pending one never starts, an expired one is unchanged', async () => {
    const active = await store.create(input({ duration: '4h' }), T0);
    const pending = await store.create(input({ startsAt: at(T0 + 2 * HOUR), duration: '1h' }), T0);
    const now = T0 + 10 * MIN;

    const ended = await store.expire(active.id, now);
    expect(ended).toEqual({ ...active, endsAt: at(now) });
    expect(await store.get(active.id)).toEqual(ended);

    expect(await store.expire(pending.id, now)).toEqual({ ...pending, startsAt: at(now), endsAt: at(now) });
    expect(await store.active(now)).toEqual([]);

    // Expiring again later must not move endsAt (that would stretch its retention).
    expect(await store.expire(active.id, now + HOUR / 2)).toEqual(ended);
    expect(await store.expire('unknown', now)).toBeNull();
    expect((await store.list(now)).map((s) => s.id).sort()).toEqual([active.id, pending.id].sort());
  });

  it('moves ended silences to the expired side and deletes them past the retention, lazily, on create and list', async () => {
    const old = await store.create(input({ duration: '10m' }), T0);
    const recent = await store.create(input({ duration: '50m' }), T0);
    const live = await store.create(input({ duration: '1d' }), T0);
    const keys = silenceKeys(prefix);

    // old ended at T0+10m, recent at T0+50m; retention is one hour.
    expect((await store.list(T0 + 70 * MIN - 1)).map((s) => s.id).sort()).toEqual([old.id, recent.id, live.id].sort());
    expect(await redis.hexists(keys.expired, old.id)).toBe(1);
    expect(await redis.hexists(keys.active, old.id)).toBe(0);

    expect((await store.list(T0 + 70 * MIN)).map((s) => s.id).sort()).toEqual([recent.id, live.id].sort());
    expect(await redis.hexists(keys.expired, old.id)).toBe(0);

    expect((await store.active(T0 + 110 * MIN)).map((s) => s.id)).toEqual([live.id]);
    await store.list(T0 + 110 * MIN);
    expect(await redis.hkeys(keys.active)).toEqual([live.id]);
    expect(await redis.hlen(keys.expired)).toBe(0);
    expect(await store.get(recent.id)).toBeNull();
  });

  it('moves at most MESHDRIFT_MAINTENANCE_BATCH ended silences per sweep (Redis is never blocked for long), and none of them counts as active meanwhile', async () => {
    const small = createRedisSilenceStore(redis, prefix, { retainExpiredMs: HOUR, maxSilences: 6, sweepBatch: 2 });
    const keys = silenceKeys(prefix);
    for (let i = 0; i < 5; i++) await small.create(input({ duration: '10m' }), T0);
    const later = T0 + 20 * MIN;
    expect(await small.active(later)).toEqual([]);
    expect((await small.list(later)).length).toBe(5);
    expect(await redis.hlen(keys.active)).toBe(3);
    // A create sweeps two more, and counts only what has not ended against the bound.
    const fresh = await small.create(input({ duration: '1h' }, later), later);
    expect(await redis.hlen(keys.active)).toBe(2);
    expect((await small.active(later)).map((x) => x.id)).toEqual([fresh.id]);
    await small.list(later);
    expect(await redis.hlen(keys.active)).toBe(1);
    expect(await redis.hlen(keys.expired)).toBe(5);
  });

  it('gives up an expire that lost to concurrent changes 5 times with a ContentionError (the API answers 503, not 500)', async () => {
    const s = await store.create(input({ duration: '2h' }), T0);
    const read = redis.hget.bind(redis);
    // Every read returns the silence as some other writer would have left it: the compare-and-set never matches.
    const spy = vi.spyOn(redis, 'hget').mockImplementation((async (key: string, field: string) => {
      const v = await read(key, field);
      return v === null ? v : `${v} `;
    }) as never);
    try {
      await expect(store.expire(s.id, T0 + MIN)).rejects.toBeInstanceOf(ContentionError);
    } finally {
      spy.mockRestore();
    }
    expect(redisUnavailable({ status: 'ready' }, new ContentionError('x'))).toBe('contention');
    expect((await store.get(s.id))?.endsAt).toBe(at(T0 + 2 * HOUR));
  });

  it('skips unreadable entries without throwing, reports them once, and keeps them', async () => {
    const good = await store.create(input({ duration: '1h' }), T0);
    const key = silencesKey(prefix);
    await redis.hset(key, 'not-json', '{oops');
    await redis.hset(key, 'wrong-shape', JSON.stringify({ id: 'wrong-shape', matchers: [] }));
    await redis.hset(key, 'other-id', JSON.stringify({ ...good, id: 'mismatch' }));
    await redis.hset(key, 'bad-regex', JSON.stringify({ ...good, id: 'bad-regex', matchers: [{ name: 'n', op: '=~', value: '(' }] }));

    expect((await store.list(T0)).map((s) => s.id)).toEqual([good.id]);
    expect((await store.active(T0)).map((s) => s.id)).toEqual([good.id]);
    expect(await store.get('not-json')).toBeNull();
    expect(await store.expire('wrong-shape', T0)).toBeNull();

    const warnings = logged.map((l) => JSON.parse(l) as { msg: string; count: number; ids: string[] });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: 'skipping silences stored in an unreadable format', count: 4 });
    expect(warnings[0]?.ids.sort()).toEqual(['bad-regex', 'not-json', 'other-id', 'wrong-shape']);
    expect(await redis.hlen(key)).toBe(5);
  });

  it('silences survive a restart: a new store on a new connection sees them', async () => {
    const s = await store.create(input({ duration: '1h' }), T0);
    redis.disconnect();
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    const restarted = createRedisSilenceStore(redis, prefix);
    expect(await restarted.active(T0 + MIN)).toEqual([s]);
  });

  it('active() is one round trip (one command), whether the silences changed or not', async () => {
    for (let i = 0; i < 20; i++) await store.create(input({ duration: `${i + 1}h` }), T0);
    // Loads the script once (EVAL); from then on EVALSHA.
    await createRedisSilenceStore(redis, prefix).active(T0);
    const info = String(await redis.client('INFO'));
    const addr = /addr=(\S+)/.exec(info)?.[1];
    expect(addr).toBeDefined();

    const monitor = await new Redis(redisUrl()).monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === addr) seen.push(args);
    });
    try {
      // MONITOR starts asynchronously: wait until it sees this connection.
      await waitFor(
        async () => {
          await redis.echo('monitor-ready');
          return seen.some((a) => a[0]?.toLowerCase() === 'echo');
        },
        5000,
        'MONITOR to start',
      );
      seen.length = 0;

      expect(await store.active(T0 + MIN)).toHaveLength(20);
      expect(await store.active(T0 + 2 * MIN)).toHaveLength(20);
      await redis.echo('end-marker');
      await waitFor(() => seen.some((a) => a[1] === 'end-marker'), 5000, 'the end marker');
      // An earlier readiness ECHO can still be reported after the reset above (seen once on a loaded machine).
      const commands = seen.filter((a) => a[1] !== 'end-marker' && a[1] !== 'monitor-ready').map((a) => a[0]?.toLowerCase());
      expect(commands).toEqual(['evalsha', 'evalsha']);
    } finally {
      monitor.disconnect();
    }
  });
});

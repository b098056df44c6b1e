import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiRouter } from '../../src/http/api.ts';
import { createLogger } from '../../src/log.ts';
import { parseSilenceInput, type NewSilence, type SilenceLimitName } from '../../src/route/silence.ts';
import { createRedisSilenceStore, DEFAULT_MAX_SILENCES, SilenceLimitError, type SilenceStore } from '../../src/track/silence-store.ts';
import { silenceKeys } from '../../src/track/keys.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

/**
 * Issue #12 item 3: silences are bounded in count, size and duration, the flush never reads
 * expired ones, and it compiles the active ones once per change, not once per flush.
 */

const T0 = Date.parse('2026-05-01T12:00:00.000Z');
const MIN = 60_000;
const HOUR = 60 * MIN;

function input(body: Record<string, unknown> = {}, now = T0): NewSilence {
  const r = parseSilenceInput({ matchers: ['namespace="payments"'], createdBy: 'alice', comment: 'mesh upgrade', duration: '2h', ...body }, now);
  if (!r.ok) throw new Error(r.error);
  return r.silence;
}

/** Runs `n` calls of `f`, `batch` at a time (ioredis pipelines what is in flight). */
async function inBatches<T>(n: number, batch: number, f: (i: number) => Promise<T>): Promise<PromiseSettledResult<T>[]> {
  const out: PromiseSettledResult<T>[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.allSettled(Array.from({ length: Math.min(batch, n - i) }, (_, j) => f(i + j)))));
  return out;
}

describe('silence limits', () => {
  let prefix: string;
  let redis: Redis;

  beforeEach(() => {
    prefix = testPrefix('silence-limits');
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  });

  afterEach(async () => {
    redis.disconnect();
    await deleteKeys(redisUrl(), prefix);
  });

  it('20,000 creates against a limit of 50: 50 stored, the rest refused with the limit named, nothing grows', async () => {
    let hits = 0;
    const store = createRedisSilenceStore(redis, prefix, { maxSilences: 50, onLimit: () => void hits++ });
    const results = await inBatches(20_000, 1000, () => store.create(input(), T0));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.length - refused.length).toBe(50);
    expect(refused).toHaveLength(19_950);
    for (const r of refused.slice(0, 5)) {
      expect(r.status === 'rejected' && r.reason).toBeInstanceOf(SilenceLimitError);
      expect(r.status === 'rejected' && String(r.reason)).toMatch(/at most 50 silences .*MESHDRIFT_SILENCES_MAX/);
    }
    expect(hits).toBe(19_950);
    const keys = silenceKeys(prefix);
    expect(await redis.hlen(keys.active)).toBe(50);
    expect(await redis.zcard(keys.ends)).toBe(50);
    // Still serving: the flush reads them, and expiring one makes room for one more.
    expect(await store.compiled(T0 + MIN)).toHaveLength(50);
    const [first] = await store.active(T0 + MIN);
    if (!first) throw new Error('no silence');
    await store.expire(first.id, T0 + MIN);
    await expect(store.create(input({}, T0 + MIN), T0 + MIN)).resolves.toMatchObject({ comment: 'mesh upgrade' });
    await expect(store.create(input({}, T0 + MIN), T0 + MIN)).rejects.toBeInstanceOf(SilenceLimitError);
  });

  it(`the default limit (${DEFAULT_MAX_SILENCES}) holds: that many are stored, one more is refused; ended ones stop counting`, async () => {
    const store = createRedisSilenceStore(redis, prefix);
    const results = await inBatches(DEFAULT_MAX_SILENCES, 250, (i) => store.create(input({ duration: i === 0 ? '10m' : '2h' }), T0));
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    await expect(store.create(input(), T0)).rejects.toBeInstanceOf(SilenceLimitError);
    // The first one ended at T0+10m: it no longer counts.
    await expect(store.create(input({}, T0 + 11 * MIN), T0 + 11 * MIN)).resolves.toBeDefined();
    await expect(store.create(input({}, T0 + 11 * MIN), T0 + 11 * MIN)).rejects.toBeInstanceOf(SilenceLimitError);
  });

  it('expired silences are kept at most as many as the limit, oldest first out', async () => {
    const store = createRedisSilenceStore(redis, prefix, { maxSilences: 3, retainExpiredMs: 24 * HOUR });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const s = await store.create(input({}, T0 + i * MIN), T0 + i * MIN);
      await store.expire(s.id, T0 + i * MIN + 1);
      ids.push(s.id);
    }
    const listed = await store.list(T0 + HOUR);
    expect(listed.map((s) => s.id)).toEqual(ids.slice(3).reverse());
    expect(await redis.hlen(silenceKeys(prefix).expired)).toBe(3);
  });

  describe('the flush', () => {
    let store: SilenceStore;
    let logged: string[];

    beforeEach(() => {
      logged = [];
      store = createRedisSilenceStore(redis, prefix, { log: createLogger('warn', { write: (line: string) => void logged.push(line) }) });
    });

    it('compiles the silences once per change: the same array until one is created or expired, on any replica', async () => {
      const a = await store.create(input(), T0);
      const first = await store.compiled(T0 + MIN);
      expect(first.map((s) => s.id)).toEqual([a.id]);
      expect(await store.compiled(T0 + 2 * MIN)).toBe(first);

      // Another replica creates one: this replica sees it on its next read.
      const other = createRedisSilenceStore(redis, prefix);
      const b = await other.create(input(), T0 + 2 * MIN);
      const second = await store.compiled(T0 + 3 * MIN);
      expect(second).not.toBe(first);
      expect(second.map((s) => s.id)).toEqual([a.id, b.id]);
      expect(await store.compiled(T0 + 4 * MIN)).toBe(second);

      await other.expire(a.id, T0 + 5 * MIN);
      expect((await store.compiled(T0 + 6 * MIN)).map((s) => s.id)).toEqual([b.id]);
    });

    it('a Redis that lost its data cannot fool the cache: versions never repeat', async () => {
      const old = await store.create(input(), T0);
      expect((await store.compiled(T0 + MIN)).map((s) => s.id)).toEqual([old.id]);
      // Redis restarted empty; another replica creates one silence again.
      const keys = silenceKeys(prefix);
      await redis.del(keys.active, keys.ends, keys.expired, keys.expiredEnds, keys.version, keys.indexed);
      const fresh = await createRedisSilenceStore(redis, prefix).create(input(), T0 + MIN);
      expect((await store.compiled(T0 + 2 * MIN)).map((s) => s.id)).toEqual([fresh.id]);
    });

    it('never reads expired silences: neither those moved aside nor those ended but not yet moved', async () => {
      const live = await store.create(input({ duration: '1d' }), T0);
      const ended = await store.create(input({ duration: '10m' }), T0);
      const expired = await store.create(input(), T0);
      await store.expire(expired.id, T0 + MIN);
      const keys = silenceKeys(prefix);
      expect(await redis.hexists(keys.active, ended.id)).toBe(1); // ended at T0+10m, not moved aside yet
      // Made unreadable where they lie: anything that read them would report them (the store warns
      // once per unreadable entry), so silence in the log means nobody read them.
      await redis.hset(keys.active, ended.id, '{oops');
      await redis.hset(keys.expired, expired.id, '{oops');

      const compiled = await store.compiled(T0 + 20 * MIN);
      expect(compiled.map((s) => s.id)).toEqual([live.id]);
      expect((await store.active(T0 + 20 * MIN)).map((s) => s.id)).toEqual([live.id]);
      expect(logged).toEqual([]);
      // The listing does read them (and says so): the check above could have failed.
      await store.list(T0 + 20 * MIN);
      expect(logged.join('\n')).toMatch(/skipping silences stored in an unreadable format/);
    });

    it('indexes silences written before the ends index once, then reads only those not ended', async () => {
      // The layout before issue #12: one hash of every silence, no index.
      const keys = silenceKeys(prefix);
      const old = { ...input({ duration: '10m' }), id: 'old', createdAt: new Date(T0).toISOString() };
      const current = { ...input({ duration: '1d' }), id: 'current', createdAt: new Date(T0).toISOString() };
      await redis.hset(keys.active, 'old', JSON.stringify(old), 'current', JSON.stringify(current));
      expect((await store.compiled(T0 + 20 * MIN)).map((s) => s.id)).toEqual(['current']);
      expect(await redis.zscore(keys.ends, 'old')).not.toBeNull();
      expect((await store.list(T0 + 20 * MIN)).map((s) => s.id).sort()).toEqual(['current', 'old']);
      expect(await redis.hexists(keys.expired, 'old')).toBe(1);
    });
  });

  describe('the API', () => {
    let server: Server;
    let base: string;
    let hits: SilenceLimitName[];
    let storeHits: number;

    beforeEach(async () => {
      hits = [];
      storeHits = 0;
      const app = express();
      app.use(
        '/api/v1',
        createApiRouter({
          token: undefined,
          silences: createRedisSilenceStore(redis, prefix, { maxSilences: 2, onLimit: () => void storeHits++ }),
          silenceLimits: { maxMatchers: 2, maxValueLength: 16, maxCommentLength: 20, maxCreatedByLength: 8, maxDurationMs: 2 * 86_400_000 },
          onLimit: (limit) => void hits.push(limit),
          groups: { active: async () => [] },
          history: { recent: async () => [] },
          deadLetters: { list: async () => [], retry: async () => 'not-found' },
          now: () => T0,
        }),
      );
      server = app.listen(0, '127.0.0.1');
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
    });

    afterEach(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    const post = async (body: Record<string, unknown>) => {
      const res = await fetch(`${base}/silences`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ matchers: ['namespace="payments"'], createdBy: 'alice', comment: 'upgrade', duration: '1h', ...body }),
      });
      return { status: res.status, body: (await res.json()) as { error?: string; id?: string } };
    };

    it.each([
      [{ matchers: ['a="1"', 'b="2"', 'c="3"'] }, /matchers: at most 2 matchers \(MESHDRIFT_SILENCE_MAX_MATCHERS\)/, 'silence_size'],
      [{ matchers: [`namespace="${'x'.repeat(17)}"`] }, /matchers\.0: .*at most 16 characters \(MESHDRIFT_SILENCE_MAX_VALUE_LENGTH\)/, 'silence_size'],
      [{ comment: 'c'.repeat(21) }, /comment: at most 20 characters \(MESHDRIFT_SILENCE_MAX_COMMENT_LENGTH\)/, 'silence_size'],
      [{ createdBy: 'someone-long' }, /createdBy: at most 8 characters \(MESHDRIFT_SILENCE_MAX_CREATED_BY_LENGTH\)/, 'silence_size'],
      [{ duration: '3d' }, /duration: a silence lasts at most 2d \(MESHDRIFT_SILENCE_MAX_DURATION\)/, 'silence_duration'],
      [{ endsAt: new Date(T0 + 49 * HOUR).toISOString(), duration: undefined }, /endsAt: a silence lasts at most 2d/, 'silence_duration'],
    ])('400 past a size or duration limit, naming it: %o', async (body, message, limit) => {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(message);
      expect(hits).toEqual([limit]);
    });

    it('409 past the count limit, naming it; within the limits 201', async () => {
      expect((await post({})).status).toBe(201);
      expect((await post({ duration: '2d' })).status).toBe(201);
      const refused = await post({});
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatch(/at most 2 silences .*\(MESHDRIFT_SILENCES_MAX\)/);
      expect(storeHits).toBe(1);
      expect(hits).toEqual([]);
    });
  });
});

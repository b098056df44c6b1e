import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { compileSilences, silenceSchema, silenceState, type CompiledSilence, type NewSilence, type Silence } from '../route/silence.ts';
import { silenceKeys } from './keys.ts';
import { ContentionError } from '../net/unavailable.ts';

/**
 * Where silences live, shared by every replica and kept across restarts (issue #4), bounded
 * (issue #12):
 * - `${prefix}:silences`: pending and active silences, id → JSON, with `${prefix}:silences:ends`
 *   (id → endsAt ms) beside it. At most `maxSilences` of them: a create past it is refused.
 * - `${prefix}:silences:expired` (+ `:expired:ends`): expired silences, kept `retainExpiredMs` for
 *   the API's listing, at most `maxSilences` of them (the oldest go first). The flush never reads them.
 * - `${prefix}:silences:version`: a new random id at every create and expire (random, not a count:
 *   a Redis that lost its data and counted again could repeat a version a replica has cached). The
 *   flush asks for the silences with the version it has compiled; only when it changed are they
 *   read (those not yet ended, by the ends index) and compiled again: one small round trip per
 *   flush otherwise.
 * Moving what has ended to the expired side happens on create, expire and list.
 */
export interface SilenceStore {
  /**
   * Stores a new silence (already parsed by parseSilenceInput) with a fresh id. Rejects with a
   * {@link SilenceLimitError} when `maxSilences` are already pending or active.
   */
  create(input: NewSilence, now: number): Promise<Silence>;
  /** The silence with this id, or null (unknown, cleaned up, or unreadable). */
  get(id: string): Promise<Silence | null>;
  /** Active, pending and recently expired silences, newest (by createdAt) first. */
  list(now: number): Promise<Silence[]>;
  /** Pending and active silences, oldest first: one round trip, read from Redis only when they changed. */
  active(now: number): Promise<Silence[]>;
  /** The same, compiled for matching; the same array while nothing changed (compiled once per change). */
  compiled(now: number): Promise<readonly CompiledSilence[]>;
  /**
   * Ends a silence at `now` (a pending one never starts). An already expired silence is returned
   * unchanged; an unknown id gives null.
   */
  expire(id: string, now: number): Promise<Silence | null>;
}

export interface SilenceStoreOptions {
  /** How long an expired silence stays listed before it is deleted (lazily). Default 24h. */
  retainExpiredMs?: number;
  /** Most pending and active silences (MESHDRIFT_SILENCES_MAX); also the most expired ones kept. Default 1000. */
  maxSilences?: number;
  /** Called when a create is refused for the count limit (for the metric). */
  onLimit?: () => void;
  /** Where unreadable entries are reported (once per entry and store instance). */
  log?: Logger;
  /** Most silences one sweep moves or deletes (MESHDRIFT_MAINTENANCE_BATCH); default 1000. */
  sweepBatch?: number;
}

/** A create refused because `max` silences are already pending or active. */
export class SilenceLimitError extends Error {
  override readonly name = 'SilenceLimitError';
  readonly max: number;
  constructor(max: number) {
    super(`at most ${max} silences may be pending or active at once (MESHDRIFT_SILENCES_MAX): expire some first`);
    this.max = max;
  }
}

const DEFAULT_RETAIN_EXPIRED_MS = 24 * 3600 * 1000;
export const DEFAULT_MAX_SILENCES = 1000;

// Moves what has ended (endsAt <= now) to the expired side, deletes expired ones past retention and
// past the cap (oldest end first), at most `limit` of each per call (MESHDRIFT_MAINTENANCE_BATCH:
// Redis is never blocked for long; the rest goes at the next call, and nothing reads an ended
// silence as active meanwhile). KEYS: active, ends, expired, expiredEnds. ARGV: now, retain, max.
const SWEEP = `
local function sweep(now, retain, max, limit)
  local ended = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #ended, 2 do
    local id = ended[i]
    local json = redis.call('HGET', KEYS[1], id)
    if json then
      redis.call('HSET', KEYS[3], id, json)
      redis.call('ZADD', KEYS[4], ended[i + 1], id)
      redis.call('HDEL', KEYS[1], id)
    end
    redis.call('ZREM', KEYS[2], id)
  end
  local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - retain, 'LIMIT', 0, limit)
  local over = redis.call('ZCARD', KEYS[4]) - #old - max
  if over > 0 then old = redis.call('ZRANGE', KEYS[4], 0, math.min(#old + over, limit) - 1) end
  for _, id in ipairs(old) do
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
  end
end
`;

// KEYS: active, ends, expired, expiredEnds, version, indexed marker. ARGV: now, retain, max, id,
// json, endsAt, new version, sweep limit. Returns 1, or 0 when `max` silences are pending or active
// (not yet ended: those the sweep has not moved yet do not count). The first silence of a new
// installation marks the ends index complete (nothing older to index).
const CREATE_SCRIPT = `${SWEEP}
sweep(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[8]))
if redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[1], '+inf') >= tonumber(ARGV[3]) then return 0 end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SET', KEYS[6], '1') end
redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[4])
redis.call('SET', KEYS[5], ARGV[7])
return 1
`;

// Ends one silence: replaces it on the expired side, if it is still what the caller read.
// KEYS: active, ends, expired, expiredEnds, version. ARGV: now, retain, max, id, old json, new json,
// new endsAt, new version, sweep limit.
const EXPIRE_SCRIPT = `${SWEEP}
if redis.call('HGET', KEYS[1], ARGV[4]) ~= ARGV[5] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[4])
redis.call('SET', KEYS[5], ARGV[8])
sweep(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[9]))
return 1
`;

// KEYS: active, ends, expired, expiredEnds. ARGV: now, retain, max, limit.
const SWEEP_SCRIPT = `${SWEEP}
sweep(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return 1
`;

// The silences not yet ended at `now`, unless the caller's version is current. KEYS: active, ends,
// version, indexed marker. ARGV: now, the version the caller has. Returns {version} or
// {version, id, json, ...}; {'migrate'} while silences written before the ends index existed
// (one hash of everything) are not indexed yet.
const READ_SCRIPT = `
if redis.call('EXISTS', KEYS[4]) == 0 and redis.call('HLEN', KEYS[1]) > 0 then return {'migrate'} end
local v = redis.call('GET', KEYS[3]) or '0'
if v == ARGV[2] then return {v} end
local out = {v}
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
for _, id in ipairs(ids) do
  local json = redis.call('HGET', KEYS[1], id)
  if json then
    out[#out + 1] = id
    out[#out + 1] = json
  end
end
return out
`;

type SilenceRedis = Redis & {
  meshdriftSilenceCreate(...args: Array<string | number>): Promise<number>;
  meshdriftSilenceExpire(...args: Array<string | number>): Promise<number>;
  meshdriftSilenceSweep(...args: Array<string | number>): Promise<number>;
  meshdriftSilenceRead(...args: Array<string | number>): Promise<string[]>;
};

function defineScripts(redis: Redis): SilenceRedis {
  if (!('meshdriftSilenceCreate' in redis)) {
    redis.defineCommand('meshdriftSilenceCreate', { numberOfKeys: 6, lua: CREATE_SCRIPT });
    redis.defineCommand('meshdriftSilenceExpire', { numberOfKeys: 5, lua: EXPIRE_SCRIPT });
    redis.defineCommand('meshdriftSilenceSweep', { numberOfKeys: 4, lua: SWEEP_SCRIPT });
    redis.defineCommand('meshdriftSilenceRead', { numberOfKeys: 4, lua: READ_SCRIPT });
  }
  return redis as SilenceRedis;
}

export function createRedisSilenceStore(redis: Redis, keyPrefix: string, opts: SilenceStoreOptions = {}): SilenceStore {
  const keys = silenceKeys(keyPrefix);
  const retain = opts.retainExpiredMs ?? DEFAULT_RETAIN_EXPIRED_MS;
  const max = opts.maxSilences ?? DEFAULT_MAX_SILENCES;
  const batch = opts.sweepBatch ?? 1000;
  const reported = new Set<string>();
  const r = defineScripts(redis);
  // What this replica compiled last, and the version it was read at.
  let cache: { version: string; silences: Silence[]; compiled: CompiledSilence[] } | null = null;

  function reportCorrupt(ids: readonly string[]): void {
    const fresh = ids.filter((id) => !reported.has(id));
    if (fresh.length === 0) return;
    for (const id of fresh) reported.add(id);
    opts.log?.warn({ key: keys.active, count: ids.length, ids: fresh.slice(0, 20) }, 'skipping silences stored in an unreadable format');
  }

  function parseAll(entries: Iterable<[string, string]>): Silence[] {
    const kept: Silence[] = [];
    const corrupt: string[] = [];
    for (const [id, json] of entries) {
      const s = parseSilence(id, json);
      if (s === null) corrupt.push(id);
      else kept.push(s);
    }
    if (corrupt.length > 0) reportCorrupt(corrupt);
    return kept;
  }

  async function current(now: number): Promise<{ silences: Silence[]; compiled: CompiledSilence[] }> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const reply = await r.meshdriftSilenceRead(keys.active, keys.ends, keys.version, keys.indexed, now, cache?.version ?? '');
      const version = reply[0] ?? '0';
      if (version === 'migrate') {
        await migrateEndsIndex(redis, keys);
        continue;
      }
      if (cache !== null && version === cache.version) return cache;
      const silences = parseAll(replyPairs(reply)).sort(byCreated);
      cache = { version, silences, compiled: compileSilences(silences) };
      return cache;
    }
    return cache ?? { silences: [], compiled: [] };
  }

  const sweep = (now: number) => r.meshdriftSilenceSweep(keys.active, keys.ends, keys.expired, keys.expiredEnds, now, retain, max, batch);

  return {
    async create(input, now) {
      const silence = silenceSchema.parse({ ...input, id: randomUUID(), createdAt: new Date(now).toISOString() });
      const ok = await r.meshdriftSilenceCreate(
        keys.active,
        keys.ends,
        keys.expired,
        keys.expiredEnds,
        keys.version,
        keys.indexed,
        now,
        retain,
        max,
        silence.id,
        JSON.stringify(silence),
        Date.parse(silence.endsAt),
        randomUUID(),
        batch,
      );
      if (ok !== 1) {
        opts.onLimit?.();
        opts.log?.warn({ max }, 'silence refused: the limit of pending and active silences is reached (MESHDRIFT_SILENCES_MAX)');
        throw new SilenceLimitError(max);
      }
      return silence;
    },

    async get(id) {
      const replies = (await redis.pipeline().hget(keys.active, id).hget(keys.expired, id).exec()) ?? [];
      for (const [err] of replies) if (err) throw err;
      const json = [replies[0]?.[1], replies[1]?.[1]].find((v): v is string => typeof v === 'string');
      if (json === undefined) return null;
      const s = parseSilence(id, json);
      if (s === null) reportCorrupt([id]);
      return s;
    },

    async list(now) {
      await sweep(now);
      const entries = await readAllEntries(redis, keys);
      // Past retention but not yet deleted (the sweep deletes at most 1000 per call): not listed.
      return parseAll(entries)
        .filter((s) => Date.parse(s.endsAt) + retain > now)
        .sort((a, b) => byCreated(b, a));
    },

    async active(now) {
      return (await current(now)).silences.filter((s) => silenceState(s, now) !== 'expired');
    },

    async compiled(now) {
      return (await current(now)).compiled;
    },

    expire: (id, now) => expireSilence(redis, r, keys, { retain, max, batch }, reportCorrupt, id, now),
  };
}

/** Moves an active or pending silence to the expired side, retrying while another replica changes it. */
async function expireSilence(
  redis: Redis,
  r: SilenceRedis,
  keys: ReturnType<typeof silenceKeys>,
  limits: { retain: number; max: number; batch: number },
  reportCorrupt: (ids: readonly string[]) => void,
  id: string,
  now: number,
): Promise<Silence | null> {
  const { retain, max, batch } = limits;
  for (let attempt = 0; attempt < 5; attempt++) {
    const json = await redis.hget(keys.active, id);
    if (json === null) {
      // Already on the expired side (or unknown): unchanged.
      const expired = await redis.hget(keys.expired, id);
      if (expired === null) return null;
      const s = parseSilence(id, expired);
      if (s === null) reportCorrupt([id]);
      return s;
    }
    const current = parseSilence(id, json);
    if (current === null) {
      reportCorrupt([id]);
      return null;
    }
    const next = ended(current, now);
    const ok = await r.meshdriftSilenceExpire(
      keys.active,
      keys.ends,
      keys.expired,
      keys.expiredEnds,
      keys.version,
      now,
      retain,
      max,
      id,
      json,
      JSON.stringify(next),
      Date.parse(next.endsAt),
      randomUUID(),
      batch,
    );
    if (ok === 1) return next;
    // Changed meanwhile (another replica expired it): read again.
  }
  // Retryable: the API answers 503 with Retry-After (net/unavailable.ts).
  throw new ContentionError(`silence ${id}: gave up after concurrent changes`);
}

// Validated when read back: a value written by another version or by hand is skipped, never
// trusted and never thrown (one bad entry must not stop every notification).
function parseSilence(id: string, json: string): Silence | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  const parsed = silenceSchema.safeParse(value);
  return parsed.success && parsed.data.id === id ? parsed.data : null;
}

// Silences written before the ends index (one hash of everything): indexed once, by endsAt.
async function migrateEndsIndex(redis: Redis, keys: ReturnType<typeof silenceKeys>): Promise<void> {
  const raw = await redis.hgetall(keys.active);
  const tx = redis.multi();
  for (const [id, json] of Object.entries(raw)) {
    const s = parseSilence(id, json);
    if (s !== null) tx.zadd(keys.ends, 'NX', Date.parse(s.endsAt), id);
  }
  // Unreadable entries are kept where they are (and reported by list), never indexed.
  tx.set(keys.indexed, '1');
  tx.set(keys.version, randomUUID());
  await tx.exec();
}

/** Every stored silence, active and expired, as (id, json). */
async function readAllEntries(redis: Redis, keys: ReturnType<typeof silenceKeys>): Promise<Array<[string, string]>> {
  const replies = (await redis.pipeline().hgetall(keys.active).hgetall(keys.expired).exec()) ?? [];
  const entries: Array<[string, string]> = [];
  for (const [err, raw] of replies) {
    if (err) throw err;
    if (raw && typeof raw === 'object') for (const [id, json] of Object.entries(raw)) if (typeof json === 'string') entries.push([id, json]);
  }
  return entries;
}

/** The (id, json) pairs of the read script's reply, after its version. */
function replyPairs(reply: readonly string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 1; i + 1 < reply.length; i += 2) pairs.push([reply[i] ?? '', reply[i + 1] ?? '']);
  return pairs;
}

function byCreated(a: Silence, b: Silence): number {
  return a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);
}

/**
 * A silence ended at `now`. A pending silence ends before it starts: both ends at now, as
 * Alertmanager does. One that ended already (not yet moved) keeps its end, which its retention
 * counts from.
 */
function ended(current: Silence, now: number): Silence {
  const state = silenceState(current, now);
  const at = new Date(now).toISOString();
  return state === 'expired' ? current : state === 'pending' ? { ...current, startsAt: at, endsAt: at } : { ...current, endsAt: at };
}

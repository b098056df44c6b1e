import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { silenceSchema, silenceState, type NewSilence, type Silence } from '../route/silence.ts';

/**
 * Where silences live: one Redis hash, id → JSON, so they survive restarts and every replica sees
 * the same ones, and the lifecycle reads all of them in one round trip (issue #4).
 */
export interface SilenceStore {
  /** Stores a new silence (already parsed by parseSilenceInput) with a fresh id. */
  create(input: NewSilence, now: number): Promise<Silence>;
  /** The silence with this id, or null (unknown, cleaned up, or unreadable). */
  get(id: string): Promise<Silence | null>;
  /** Active, pending and recently expired silences, newest (by createdAt) first. */
  list(now: number): Promise<Silence[]>;
  /** Pending and active silences, oldest first, for the lifecycle: one round trip. */
  active(now: number): Promise<Silence[]>;
  /**
   * Ends a silence at `now` (a pending one never starts). An already expired silence is returned
   * unchanged; an unknown id gives null.
   */
  expire(id: string, now: number): Promise<Silence | null>;
}

export interface SilenceStoreOptions {
  /** How long an expired silence stays listed before it is deleted (lazily). Default 24h. */
  retainExpiredMs?: number;
  /** Where unreadable entries are reported (once per entry and store instance). */
  log?: Logger;
}

export function silencesKey(keyPrefix: string): string {
  return `${keyPrefix}:silences`;
}

const DEFAULT_RETAIN_EXPIRED_MS = 24 * 3600 * 1000;

export function createRedisSilenceStore(redis: Redis, keyPrefix: string, opts: SilenceStoreOptions = {}): SilenceStore {
  const key = silencesKey(keyPrefix);
  const retain = opts.retainExpiredMs ?? DEFAULT_RETAIN_EXPIRED_MS;
  const reported = new Set<string>();

  // Validated when read back: a value written by another version or by hand is skipped, never
  // trusted and never thrown (one bad entry must not stop every notification).
  function parse(id: string, json: string): Silence | null {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      return null;
    }
    const parsed = silenceSchema.safeParse(value);
    return parsed.success && parsed.data.id === id ? parsed.data : null;
  }

  function reportCorrupt(ids: readonly string[]): void {
    const fresh = ids.filter((id) => !reported.has(id));
    if (fresh.length === 0) return;
    for (const id of fresh) reported.add(id);
    opts.log?.warn({ key, count: ids.length, ids: fresh.slice(0, 20) }, 'skipping silences stored in an unreadable format');
  }

  // Every readable silence not yet past retention; deletes those past it.
  async function readAll(now: number): Promise<Silence[]> {
    const raw = await redis.hgetall(key);
    const kept: Silence[] = [];
    const stale: string[] = [];
    const corrupt: string[] = [];
    for (const [id, json] of Object.entries(raw)) {
      const s = parse(id, json);
      if (s === null) corrupt.push(id);
      else if (Date.parse(s.endsAt) + retain <= now) stale.push(id);
      else kept.push(s);
    }
    // Safe without a transaction: nothing ever rewrites an expired silence, so what is stale now
    // stays stale.
    if (stale.length > 0) await redis.hdel(key, ...stale);
    if (corrupt.length > 0) reportCorrupt(corrupt);
    return kept;
  }

  const byCreated = (a: Silence, b: Silence): number => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);

  return {
    async create(input, now) {
      const silence = silenceSchema.parse({ ...input, id: randomUUID(), createdAt: new Date(now).toISOString() });
      await redis.hset(key, silence.id, JSON.stringify(silence));
      return silence;
    },

    async get(id) {
      const json = await redis.hget(key, id);
      if (json === null) return null;
      const s = parse(id, json);
      if (s === null) reportCorrupt([id]);
      return s;
    },

    async list(now) {
      return (await readAll(now)).sort((a, b) => byCreated(b, a));
    },

    async active(now) {
      return (await readAll(now)).filter((s) => silenceState(s, now) !== 'expired').sort(byCreated);
    },

    async expire(id, now) {
      const json = await redis.hget(key, id);
      if (json === null) return null;
      const current = parse(id, json);
      if (current === null) {
        reportCorrupt([id]);
        return null;
      }
      const state = silenceState(current, now);
      if (state === 'expired') return current;
      const at = new Date(now).toISOString();
      // A pending silence ends before it starts: both ends at now, as Alertmanager does.
      const next: Silence = state === 'pending' ? { ...current, startsAt: at, endsAt: at } : { ...current, endsAt: at };
      await redis.hset(key, id, JSON.stringify(next));
      return next;
    },
  };
}

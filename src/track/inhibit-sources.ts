import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { InhibitionSource } from '../route/inhibit.ts';
import { inhibitSourcesKey } from './keys.ts';

/**
 * Firing findings that match some inhibit rule's source matchers, shared by every replica: the
 * flush of any group checks its findings against them. Kept small on purpose: only sources.
 */
export interface InhibitSourceStore {
  update(add: ReadonlyArray<InhibitionSource>, remove: readonly string[]): Promise<void>;
  list(): Promise<InhibitionSource[]>;
}

const labelsSchema = z.record(z.string(), z.string());

export interface InhibitSourceStoreOptions {
  /** Most sources kept (MESHDRIFT_MAX_ALERT_GROUPS); past it new ones are not added. */
  max?: number;
  /** The key expires this long after its last update (MESHDRIFT_FIRING_GROUP_TTL); default 30 days. */
  ttlSeconds?: number;
  /** Called with how many sources were left out for the limit. */
  onLimit?: (dropped: number) => void;
}

export function createRedisInhibitSourceStore(redis: Redis, keyPrefix: string, opts: InhibitSourceStoreOptions = {}): InhibitSourceStore {
  const key = inhibitSourcesKey(keyPrefix);
  const max = opts.max ?? 10_000;
  const ttl = opts.ttlSeconds ?? 30 * 86_400;
  return {
    async update(add, remove) {
      if (add.length === 0 && remove.length === 0) return;
      let adding = add;
      if (add.length > 0) {
        // Bounded (issue #12): a source past the limit is left out, so what it would inhibit is
        // still notified (the safe side). Approximate across replicas, never unbounded.
        const room = Math.max(0, max - ((await redis.hlen(key)) - remove.length));
        if (room < add.length) {
          adding = add.slice(0, room);
          opts.onLimit?.(add.length - room);
        }
      }
      const tx = redis.multi();
      if (remove.length > 0) tx.hdel(key, ...remove);
      if (adding.length > 0) tx.hset(key, Object.fromEntries(adding.map((s) => [s.id, JSON.stringify(s.labels)])));
      tx.expire(key, ttl);
      const result = await tx.exec();
      const failed = result?.find(([err]) => err !== null);
      if (result === null || failed) throw new Error(`inhibition source update failed: ${failed?.[0]?.message ?? 'aborted'}`);
    },
    async list() {
      const all = await redis.hgetall(key);
      const sources: InhibitionSource[] = [];
      for (const [id, json] of Object.entries(all)) {
        let raw: unknown;
        try {
          raw = JSON.parse(json);
        } catch {
          continue; // a corrupt entry inhibits nothing; the next resolve or open rewrites it
        }
        const parsed = labelsSchema.safeParse(raw);
        if (parsed.success) sources.push({ id, labels: parsed.data });
      }
      return sources;
    },
  };
}

import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { InhibitionSource } from '../route/inhibit.ts';

/**
 * Firing findings that match some inhibit rule's source matchers, shared by every replica: the
 * flush of any group checks its findings against them. Kept small on purpose: only sources.
 */
export interface InhibitSourceStore {
  update(add: ReadonlyArray<InhibitionSource>, remove: readonly string[]): Promise<void>;
  list(): Promise<InhibitionSource[]>;
}

const labelsSchema = z.record(z.string(), z.string());

export function createRedisInhibitSourceStore(redis: Redis, keyPrefix: string): InhibitSourceStore {
  const key = `${keyPrefix}:inhibit:sources`;
  return {
    async update(add, remove) {
      if (add.length === 0 && remove.length === 0) return;
      const tx = redis.multi();
      if (remove.length > 0) tx.hdel(key, ...remove);
      if (add.length > 0) tx.hset(key, Object.fromEntries(add.map((s) => [s.id, JSON.stringify(s.labels)])));
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

import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { OwnerRef } from '../../model/signal.ts';

/**
 * Each Flux object's last applied revision, as meshdrift last heard it. Flux events do not say
 * whether a change set is a rollout or reverted drift; only "same revision as before" does.
 */
export interface FluxRevisionStore {
  /** The remembered revision of `owner`, and whether the event `eventId` was processed already. */
  lookup(cluster: string, owner: OwnerRef, eventId: string): Promise<{ previous: string | undefined; seen: boolean }>;
  /** Remembers `revision` (if any) and marks the event processed. Called only after tracking succeeded. */
  commit(cluster: string, owner: OwnerRef, revision: string | undefined, eventId: string): Promise<void>;
}

const EVENT_TTL_SECONDS = 24 * 3600;

function ownerKey(prefix: string, cluster: string, owner: OwnerRef): string {
  const id = createHash('sha256').update([cluster, owner.kind, owner.namespace, owner.name].join('\u0000')).digest('hex').slice(0, 32);
  return `${prefix}:flux:revision:${id}`;
}

export function createRedisFluxRevisionStore(redis: Redis, keyPrefix: string): FluxRevisionStore {
  return {
    async lookup(cluster, owner, eventId) {
      const [previous, seen] = await redis.mget(ownerKey(keyPrefix, cluster, owner), `${keyPrefix}:flux:event:${eventId}`);
      return { previous: previous ?? undefined, seen: seen !== null };
    },
    async commit(cluster, owner, revision, eventId) {
      const tx = redis.multi();
      if (revision !== undefined) tx.set(ownerKey(keyPrefix, cluster, owner), revision);
      tx.set(`${keyPrefix}:flux:event:${eventId}`, '1', 'EX', EVENT_TTL_SECONDS);
      const result = await tx.exec();
      const failed = result?.find(([err]) => err !== null);
      if (result === null || failed) throw new Error(`flux revision commit failed: ${failed?.[0]?.message ?? 'transaction aborted'}`);
    },
  };
}

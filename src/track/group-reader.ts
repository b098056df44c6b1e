import type { Redis } from 'ioredis';
import type { GroupState } from './group-state.ts';
import { assembleGroup } from './group-layout.ts';
import { activeGroupsKey, groupRedisKey } from './keys.ts';

/** Read-only view of the active alert groups for the API (issue #4). Nothing here decides or writes group state. */

/** Alert groups with at least one firing finding. */
export interface GroupReader {
  /** Up to `limit` active groups, most recently started first; unreadable ones are skipped. */
  active(limit: number): Promise<GroupState[]>;
}

export function createRedisGroupReader(redis: Redis, keyPrefix: string): GroupReader {
  return {
    async active(limit) {
      if (limit <= 0) return [];
      const keys = await redis.zrevrange(activeGroupsKey(keyPrefix), 0, limit - 1);
      if (keys.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const groupKey of keys) pipeline.hgetall(groupRedisKey(keyPrefix, groupKey));
      const replies = (await pipeline.exec()) ?? [];
      const groups: GroupState[] = [];
      replies.forEach(([err, hash], i) => {
        // A group resolved and deleted between the two reads, or written by another version.
        if (err !== null || typeof hash !== 'object' || hash === null) return;
        try {
          const state = assembleGroup(keys[i] ?? '', hash as Record<string, string>);
          if (state !== null) groups.push(state);
        } catch {
          // unreadable (another version's, or damaged): skipped, as documented above
        }
      });
      return groups;
    },
  };
}

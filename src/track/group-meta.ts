import type { Redis } from 'ioredis';
import type { GroupLabels } from '../model/alert-group.ts';
import type { LastTold } from './decide.ts';
import { LEGACY_FIELD, META_FIELD, parseLegacyGroup, type GroupMeta } from './group-layout.ts';
import { groupRedisKey } from './keys.ts';

/** What a caller that needs no findings reads of a group: its labels and its last notification. */
export interface GroupMetaView {
  labels: GroupLabels;
  /** When the last notification went out and whether it said firing or resolved; null before the first. */
  last: LastTold | null;
}

/** Reads a group's meta record only (one HMGET), never its findings. */
export interface GroupMetaReader {
  /** The group's labels and last notification; null when there is no such group. */
  meta(groupKey: string): Promise<GroupMetaView | null>;
}

/**
 * A reader of groups' meta records (track/group-layout.ts, field `m`), for the paths that need a
 * group's labels or its last notification but none of its findings (a Slack click, a PagerDuty
 * acknowledge): their cost does not grow with the group. A group still in the layout before issue
 * #15 (field `s`) is read whole, as the tracker reads it.
 */
export function createRedisGroupMetaReader(redis: Redis, keyPrefix: string): GroupMetaReader {
  return {
    async meta(groupKey) {
      const [meta, legacy] = await redis.hmget(groupRedisKey(keyPrefix, groupKey), META_FIELD, LEGACY_FIELD);
      if (meta !== null && meta !== undefined) {
        // Written by meshdrift itself (group-layout.ts metaOf): not validated again.
        const m = JSON.parse(meta) as GroupMeta;
        return { labels: m.labels, last: m.last };
      }
      if (legacy === null || legacy === undefined) return null;
      const state = parseLegacyGroup(groupKey, legacy);
      const last = state.lastNotification;
      return { labels: state.labels, last: last === null ? null : { status: last.status, at: last.at } };
    },
  };
}

import type { Redis } from 'ioredis';
import { z } from 'zod';
import { notificationSchema, type Notification } from '../model/alert-group.ts';

/**
 * Decided notifications, frozen: what a flush decided is what every receiver is sent, even if the
 * group changes meanwhile. Stored once per notification (one Redis string with a TTL), and the
 * delivery and remediation jobs carry only a reference to it (group key + seq) and a small
 * summary, so a 10,000-finding notification is one copy in Redis, not one per receiver and retry,
 * and a job's data stays a few hundred bytes whatever the group holds.
 */
export interface NotificationStore {
  /** Stores `n` (idempotent: a retried flush stores the same decision again). */
  save(n: Notification): Promise<void>;
  /** The stored notification, or null once it expired or was never stored. */
  load(groupKey: string, seq: number): Promise<Notification | null>;
  /** Keeps it as long as a dead letter that refers to it (so a replay still finds it). */
  keepForDeadLetter(groupKey: string, seq: number): Promise<void>;
  /**
   * The newest stored notification of `n`'s group decided after it (seq n.seq + 1, + 2, … while
   * stored, at most {@link NEWER_LOOKAHEAD}), or `n` itself when there is none.
   */
  newest(n: Notification): Promise<Notification>;
}

/** How many later notifications of a group {@link NotificationStore.newest} looks at. */
export const NEWER_LOOKAHEAD = 20;

/**
 * How long a stored notification lives: longer than every delivery it feeds can take (10 attempts
 * with exponential backoff from 1 s last about 17 minutes; a receiver's Retry-After defers without
 * spending attempts), and as long as BullMQ keeps completed jobs. A delivery that fails for good
 * extends it to the dead letters' retention.
 */
export const NOTIFICATION_TTL_SECONDS = 24 * 3600;
export const DEAD_LETTER_TTL_SECONDS = 14 * 24 * 3600;

/** What a job says about its notification without loading it: for logs and the dead letters. */
export const notificationSummarySchema = z.object({
  status: notificationSchema.shape.status,
  reason: notificationSchema.shape.reason,
  severity: notificationSchema.shape.severity,
  labels: notificationSchema.shape.labels,
  firing: z.number().int().nonnegative(),
  resolved: z.number().int().nonnegative(),
  at: z.number(),
});
export type NotificationSummary = z.infer<typeof notificationSummarySchema>;

export const notificationRefSchema = z.object({ groupKey: z.string(), seq: z.number().int().positive(), summary: notificationSummarySchema });
export type NotificationRef = z.infer<typeof notificationRefSchema>;

export function refOf(n: Notification): NotificationRef {
  return {
    groupKey: n.groupKey,
    seq: n.seq,
    summary: { status: n.status, reason: n.reason, severity: n.severity, labels: n.labels, firing: n.firing.length, resolved: n.resolved.length, at: n.at },
  };
}

export function notificationKey(keyPrefix: string, groupKey: string, seq: number): string {
  return `${keyPrefix}:notification:${groupKey}:${seq}`;
}

export function createRedisNotificationStore(redis: Redis, keyPrefix: string): NotificationStore {
  const load = async (groupKey: string, seq: number): Promise<Notification | null> => {
    const json = await redis.get(notificationKey(keyPrefix, groupKey, seq));
    if (json === null) return null;
    // meshdrift wrote it; still checked, as every value read back is (another version may have).
    const parsed = notificationSchema.safeParse(JSON.parse(json));
    if (!parsed.success)
      throw new Error(
        `notification ${groupKey}#${seq}: stored value is not in the expected format (${parsed.error.issues[0]?.path.join('.') ?? '?'}: ${parsed.error.issues[0]?.message ?? ''})`,
      );
    return parsed.data;
  };
  return {
    load,
    async save(n) {
      // NX keeps the first copy (and its TTL, possibly extended for a dead letter): the same
      // (group, seq) is the same decision.
      await redis.set(notificationKey(keyPrefix, n.groupKey, n.seq), JSON.stringify(n), 'EX', NOTIFICATION_TTL_SECONDS, 'NX');
    },
    async keepForDeadLetter(groupKey, seq) {
      await redis.expire(notificationKey(keyPrefix, groupKey, seq), DEAD_LETTER_TTL_SECONDS);
    },
    async newest(n) {
      let latest = n;
      for (let seq = n.seq + 1; seq <= n.seq + NEWER_LOOKAHEAD; seq++) {
        const next = await load(n.groupKey, seq);
        // A later seq decided earlier would be another incarnation of the group: not newer.
        if (next === null || next.at < latest.at) break;
        latest = next;
      }
      return latest;
    },
  };
}

import type { Redis } from 'ioredis';
import { z } from 'zod';
import { notificationSchema, type Notification } from '../model/alert-group.ts';
import { parseJson } from '../model/json.ts';
import { resourceRefSchema } from '../model/signal.ts';
import { historyKey } from './keys.ts';

/**
 * The notification history (issue #4): the flush records each decided notification's entry, the
 * API reads the most recent ones.
 */

/** Findings a history entry names (the firing ones first); the rest are only counted. */
export const HISTORY_ENTRY_FINDINGS = 20;
/** Authors a history entry names. */
export const HISTORY_ENTRY_AUTHORS = 5;

/**
 * One history entry: what a notification said, by reference (issue #12): the group, the counts,
 * and at most {@link HISTORY_ENTRY_FINDINGS} findings by fingerprint and resource, never the whole
 * group (its findings, reasons and details are the group's, read with GET /alerts).
 */
export const historyEntrySchema = z.object({
  groupKey: z.string(),
  seq: z.number().int().positive(),
  reason: notificationSchema.shape.reason,
  status: notificationSchema.shape.status,
  labels: notificationSchema.shape.labels,
  severity: notificationSchema.shape.severity,
  at: z.number(),
  firstSeen: z.number(),
  /** How many findings were firing and resolved in the notification. */
  firing: z.number().int().nonnegative(),
  resolved: z.number().int().nonnegative(),
  findings: z.array(
    z.object({
      fingerprint: z.string(),
      status: z.enum(['firing', 'resolved']),
      severity: notificationSchema.shape.severity,
      state: z.string(),
      resource: resourceRefSchema,
    }),
  ),
  /** Findings left out of `findings`. */
  omitted: z.number().int().nonnegative(),
  /**
   * Who changed the findings, where known (issue #21: drift frequency by author): a person's name
   * from an admission record, or `tool:<field manager>`; at most {@link HISTORY_ENTRY_AUTHORS}.
   * Absent in entries written before, and when nobody is known.
   */
  authors: z.array(z.string().max(256)).max(5).optional(),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

/** The entry for one notification: its summary and the first findings by reference. */
export function historyEntry(n: Notification): HistoryEntry {
  const all = [...n.firing, ...n.resolved];
  const authors = new Set<string>();
  for (const f of all) {
    for (const a of f.attribution ?? []) {
      if (authors.size < HISTORY_ENTRY_AUTHORS) authors.add((a.kind === 'person' ? a.who : `tool:${a.who}`).slice(0, 256));
    }
  }
  return {
    groupKey: n.groupKey,
    seq: n.seq,
    reason: n.reason,
    status: n.status,
    labels: n.labels,
    severity: n.severity,
    at: n.at,
    firstSeen: n.firstSeen,
    firing: n.firing.length,
    resolved: n.resolved.length,
    findings: all
      .slice(0, HISTORY_ENTRY_FINDINGS)
      .map((f) => ({ fingerprint: f.fingerprint, status: f.status, severity: f.severity, state: f.state, resource: f.resource })),
    omitted: Math.max(0, all.length - HISTORY_ENTRY_FINDINGS),
    ...(authors.size > 0 ? { authors: [...authors] } : {}),
  };
}

/** The most recent notifications of every group, newest first, capped in Redis. */
export interface NotificationHistory {
  /** Appends one decided notification's entry; the list is trimmed to its maximum in the same transaction. */
  record(notification: Notification): Promise<void>;
  /** Up to `limit` entries, newest first; unreadable entries are skipped. */
  recent(limit: number): Promise<HistoryEntry[]>;
}

/** How long the history list lives after its last entry. */
const HISTORY_TTL_SECONDS = 30 * 86_400;

export function createRedisHistory(redis: Redis, keyPrefix: string, max = 1000): NotificationHistory {
  const key = historyKey(keyPrefix);
  return {
    async record(notification) {
      await redis
        .multi()
        .lpush(key, JSON.stringify(historyEntry(notification)))
        .ltrim(key, 0, max - 1)
        .expire(key, HISTORY_TTL_SECONDS)
        .exec();
    },
    async recent(limit) {
      if (limit <= 0) return [];
      const entries = await redis.lrange(key, 0, Math.min(limit, max) - 1);
      const out: HistoryEntry[] = [];
      for (const json of entries) {
        const raw = parseJson(json);
        // Entries written before issue #12 held the whole notification: shown as their summary.
        const entry = historyEntrySchema.safeParse(raw);
        if (entry.success) out.push(entry.data);
        else {
          const whole = notificationSchema.safeParse(raw);
          if (whole.success) out.push(historyEntry(whole.data));
        }
      }
      return out;
    },
  };
}

import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { notificationSchema, type Notification } from '../model/alert-group.ts';
import { resourceRefSchema } from '../model/signal.ts';
import { deliverJobSchema, type DeliverJob } from '../queue/queues.ts';
import { groupStateSchema, type GroupState } from './group-state.ts';
import { activeGroupsKey, groupRedisKey } from './redis-store.ts';

/**
 * Read-only views for the API (issue #4): active alert groups, the notification history and the
 * dead letters. Nothing here decides or writes group state.
 */

/** Alert groups with at least one firing finding. */
export interface GroupReader {
  /** Up to `limit` active groups, most recently started first; unreadable ones are skipped. */
  active(limit: number): Promise<GroupState[]>;
}

function parseJson(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

export function createRedisGroupReader(redis: Redis, keyPrefix: string): GroupReader {
  return {
    async active(limit) {
      if (limit <= 0) return [];
      const keys = await redis.zrevrange(activeGroupsKey(keyPrefix), 0, limit - 1);
      if (keys.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const groupKey of keys) pipeline.hget(groupRedisKey(keyPrefix, groupKey), 's');
      const replies = (await pipeline.exec()) ?? [];
      const groups: GroupState[] = [];
      for (const [err, json] of replies) {
        // A group resolved and deleted between the two reads, or written by another version.
        if (err !== null || typeof json !== 'string') continue;
        const parsed = groupStateSchema.safeParse(parseJson(json));
        if (parsed.success) groups.push(parsed.data);
      }
      return groups;
    },
  };
}

/** Findings a history entry names (the firing ones first); the rest are only counted. */
export const HISTORY_ENTRY_FINDINGS = 20;

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
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

/** The entry for one notification: its summary and the first findings by reference. */
export function historyEntry(n: Notification): HistoryEntry {
  const all = [...n.firing, ...n.resolved];
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
    findings: all.slice(0, HISTORY_ENTRY_FINDINGS).map((f) => ({ fingerprint: f.fingerprint, status: f.status, severity: f.severity, state: f.state, resource: f.resource })),
    omitted: Math.max(0, all.length - HISTORY_ENTRY_FINDINGS),
  };
}

/** The most recent notifications of every group, newest first, capped in Redis. */
export interface NotificationHistory {
  /** Appends one decided notification's entry; the list is trimmed to its maximum in the same transaction. */
  record(notification: Notification): Promise<void>;
  /** Up to `limit` entries, newest first; unreadable entries are skipped. */
  recent(limit: number): Promise<HistoryEntry[]>;
}

export function historyKey(keyPrefix: string): string {
  return `${keyPrefix}:history`;
}

/** How long the history list lives after its last entry. */
const HISTORY_TTL_SECONDS = 30 * 86_400;

export function createRedisHistory(redis: Redis, keyPrefix: string, max = 1000): NotificationHistory {
  const key = historyKey(keyPrefix);
  return {
    async record(notification) {
      await redis.multi().lpush(key, JSON.stringify(historyEntry(notification))).ltrim(key, 0, max - 1).expire(key, HISTORY_TTL_SECONDS).exec();
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

/** What a dead letter's notification was about, without its findings. */
export interface DeadLetterNotification {
  status: Notification['status'];
  reason: Notification['reason'];
  severity: Notification['severity'];
  labels: Notification['labels'];
  firing: number;
  resolved: number;
  /** ISO 8601: when the notification was decided. */
  at: string;
}

/**
 * A delivery that failed for good (a failed job of the deliver queue). Carries no secrets: job
 * data is a notification, and a failedReason is secret-free by the notifiers' contract. Fields
 * read from job data are null when that data is not a delivery job this version understands.
 */
export interface DeadLetter {
  id: string;
  receiver: string | null;
  groupKey: string | null;
  seq: number | null;
  /** The job's failedReason. */
  reason: string;
  attempts: number;
  /** ISO 8601, or null if BullMQ recorded no finish time. */
  failedAt: string | null;
  notification: DeadLetterNotification | null;
}

export interface DeadLetters {
  /** Up to `limit` dead letters, most recently failed first. */
  list(limit: number): Promise<DeadLetter[]>;
  /** Puts a dead letter back in the queue with fresh attempts; 'not-found' if no failed job has this id. */
  retry(id: string): Promise<'retried' | 'not-found'>;
}

const iso = (ms: number | undefined): string | null => (ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString());

function deadLetterOf(job: Job<DeliverJob>): DeadLetter {
  const data = deliverJobSchema.safeParse(job.data);
  const n = data.success ? data.data.notification : null;
  return {
    id: job.id ?? '',
    receiver: data.success ? data.data.receiver : null,
    groupKey: n?.groupKey ?? null,
    seq: n?.seq ?? null,
    reason: job.failedReason ?? '',
    attempts: job.attemptsMade,
    failedAt: iso(job.finishedOn),
    notification:
      n === null
        ? null
        : { status: n.status, reason: n.reason, severity: n.severity, labels: n.labels, firing: n.firing.length, resolved: n.resolved.length, at: iso(n.at) ?? '' },
  };
}

// BullMQ's ErrorCode.JobNotExist and JobNotInState: the job is gone or is no longer failed.
const JOB_NOT_EXIST = -1;
const JOB_NOT_IN_STATE = -3;

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
}

/**
 * Dead letters over the deliver queue's failed jobs. Deliveries deferred by a 429 (DelayedError)
 * are delayed jobs, never failed ones, so they do not show up here.
 */
export function createDeadLetters(queue: Queue<DeliverJob>): DeadLetters {
  return {
    async list(limit) {
      if (limit <= 0) return [];
      const jobs = await queue.getFailed(0, limit - 1);
      return jobs.filter((job): job is Job<DeliverJob> => job !== undefined && job !== null).map(deadLetterOf);
    },
    async retry(id) {
      const job = await queue.getJob(id);
      if (!job) return 'not-found';
      try {
        // Fresh attempts: otherwise the worker sees its last attempt already spent and a single
        // retryable failure would make it a dead letter again.
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        return 'retried';
      } catch (err) {
        const code = errorCode(err);
        if (code === JOB_NOT_EXIST || code === JOB_NOT_IN_STATE) return 'not-found';
        throw err;
      }
    },
  };
}

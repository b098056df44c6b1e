import type { Job, Queue } from 'bullmq';
import type { Notification } from '../model/alert-group.ts';
import { deliverJobSchema, flushJobSchema, type DeliverJob, type FlushJob } from './queues.ts';

/** Dead letters for the API (issue #4): deliveries and flushes that failed for good, listed and retried. */

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
 * A job that failed for good: a delivery (a failed job of the deliver queue), or a flush (its
 * notification was never decided: e.g. BullMQ's "job stalled more than allowable limit" after
 * its worker died or hung too often). Carries no secrets: job data is a notification reference,
 * and a failedReason is secret-free by the notifiers' contract. Fields read from job data are
 * null when that data is not a job this version understands (receiver and notification are null
 * for a flush; seq is then the flush's seq).
 */
export interface DeadLetter {
  id: string;
  queue: 'deliver' | 'flush';
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
  // A reference and its summary (this version), or a whole notification (queued by an older one).
  const ref = !data.success ? null : 'ref' in data.data ? data.data.ref : null;
  const n = !data.success || ref !== null || !('notification' in data.data) ? null : data.data.notification;
  const summary =
    ref?.summary ??
    (n === null
      ? null
      : { status: n.status, reason: n.reason, severity: n.severity, labels: n.labels, firing: n.firing.length, resolved: n.resolved.length, at: n.at });
  return {
    id: job.id ?? '',
    queue: 'deliver',
    receiver: data.success ? data.data.receiver : null,
    groupKey: ref?.groupKey ?? n?.groupKey ?? null,
    seq: ref?.seq ?? n?.seq ?? null,
    reason: job.failedReason ?? '',
    attempts: job.attemptsMade,
    failedAt: iso(job.finishedOn),
    notification: summary === null ? null : { ...summary, at: iso(summary.at) ?? '' },
  };
}

function flushDeadLetterOf(job: Job<FlushJob>): DeadLetter {
  const data = flushJobSchema.safeParse(job.data);
  return {
    id: job.id ?? '',
    queue: 'flush',
    receiver: null,
    groupKey: data.success ? data.data.groupKey : null,
    seq: data.success ? data.data.seq : null,
    reason: job.failedReason ?? '',
    attempts: job.attemptsMade,
    failedAt: iso(job.finishedOn),
    notification: null,
  };
}

// BullMQ's ErrorCode.JobNotExist and JobNotInState: the job is gone or is no longer failed.
const JOB_NOT_EXIST = -1;
const JOB_NOT_IN_STATE = -3;

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
}

/**
 * Dead letters over the failed jobs of the deliver queue and (when given) the flush queue, most
 * recently failed first. Deliveries deferred by a 429 (DelayedError) are delayed jobs, never
 * failed ones, so they do not show up here.
 */
export function createDeadLetters(queue: Queue<DeliverJob>, flushQueue?: Queue<FlushJob>): DeadLetters {
  return {
    async list(limit) {
      if (limit <= 0) return [];
      const present = <T>(job: T | undefined | null): job is T => job !== undefined && job !== null;
      const [deliveries, flushes] = await Promise.all([queue.getFailed(0, limit - 1), flushQueue ? flushQueue.getFailed(0, limit - 1) : Promise.resolve([])]);
      const letters = [...deliveries.filter(present).map(deadLetterOf), ...flushes.filter(present).map(flushDeadLetterOf)];
      // ISO strings sort as times; those without one last.
      letters.sort((a, b) => (b.failedAt ?? '').localeCompare(a.failedAt ?? ''));
      return letters.slice(0, limit);
    },
    async retry(id) {
      const job = (await queue.getJob(id)) ?? (await flushQueue?.getJob(id));
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

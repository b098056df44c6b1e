import type { Job, Queue } from 'bullmq';
import type { Notification } from '../model/alert-group.ts';
import { deliverJobSchema, type DeliverJob } from './queues.ts';

/** Dead letters for the API (issue #4): deliveries that failed for good, listed and retried. */

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

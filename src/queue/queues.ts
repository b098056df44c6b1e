import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { z } from 'zod';
import { notificationSchema, type Notification } from '../model/alert-group.ts';
import { jobIdOf } from '../track/fingerprint.ts';

/** Queue names; with the key prefix they become `<prefix>:flush:*` and `<prefix>:deliver:*` in Redis. */
export const QUEUE_NAMES = { flush: 'flush', deliver: 'deliver' } as const;

export const flushJobSchema = z.object({ groupKey: z.string(), epoch: z.number(), seq: z.number().int().positive() });
export type FlushJob = z.infer<typeof flushJobSchema>;

export const deliverJobSchema = z.object({ receiver: z.string(), notification: notificationSchema });
export type DeliverJob = z.infer<typeof deliverJobSchema>;

export interface RetryPolicy {
  attempts: number;
  /** First backoff; doubles per attempt (BullMQ exponential). */
  backoffMs: number;
}

export const DEFAULT_DELIVERY_RETRY: RetryPolicy = { attempts: 10, backoffMs: 1000 };

// Completed jobs are kept a day so that a re-added id (crash recovery) is recognised as done;
// failed deliveries are dead letters and kept for replay.
const KEEP_COMPLETED = { age: 24 * 3600, count: 50_000 } as const;
const KEEP_FAILED = { age: 14 * 24 * 3600, count: 50_000 } as const;

export interface Queues {
  /** Schedules the flush `seq` of a group at `dueAt`; adding the same flush twice is a no-op. */
  scheduleFlush(groupKey: string, epoch: number, seq: number, dueAt: number, now: number): Promise<void>;
  /** Enqueues one delivery per receiver; the same (group, seq, receiver) twice is a no-op. */
  enqueueDeliveries(notification: Notification): Promise<void>;
  readonly flush: Queue<FlushJob>;
  readonly deliver: Queue<DeliverJob>;
  close(): Promise<void>;
}

export function receiversOf(notification: Notification): string[] {
  if (notification.labels.receiver) return [notification.labels.receiver];
  return [...new Set([...notification.firing, ...notification.resolved].flatMap((f) => f.receivers))].sort();
}

export function createQueues(connection: ConnectionOptions, prefix: string, retry: RetryPolicy = DEFAULT_DELIVERY_RETRY): Queues {
  const flush = new Queue<FlushJob>(QUEUE_NAMES.flush, { connection, prefix });
  const deliver = new Queue<DeliverJob>(QUEUE_NAMES.deliver, { connection, prefix });
  const flushOpts: JobsOptions = { attempts: 20, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED };
  const deliverOpts: JobsOptions = {
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    removeOnComplete: KEEP_COMPLETED,
    removeOnFail: KEEP_FAILED,
  };
  return {
    flush,
    deliver,
    async scheduleFlush(groupKey, epoch, seq, dueAt, now) {
      await flush.add('flush', { groupKey, epoch, seq }, { ...flushOpts, jobId: jobIdOf('flush', groupKey, epoch, seq), delay: Math.max(0, dueAt - now) });
    },
    async enqueueDeliveries(notification) {
      // A group belongs to one route, so to one receiver; the union is for groups written before.
      await deliver.addBulk(
        receiversOf(notification).map((receiver) => ({
          name: 'deliver',
          data: { receiver, notification },
          opts: { ...deliverOpts, jobId: jobIdOf('deliver', notification.groupKey, notification.seq, receiver) },
        })),
      );
    },
    async close() {
      await Promise.all([flush.close(), deliver.close()]);
    },
  };
}

import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Notification } from '../model/alert-group.ts';
import type { NotificationRef, NotificationStore } from './notification-store.ts';

/**
 * The outcome of one attempt at a job's work (a delivery, a remediation, a note, an acknowledge).
 * Retryability is part of the type (Alertmanager's `(retry, err)`): {@link settle} turns
 * `retryable: false` into BullMQ's UnrecoverableError. `reason` must never contain a secret.
 */
export type AttemptResult = { ok: true } | { ok: false; retryable: boolean; reason: string; retryAfterMs?: number };

/**
 * Runs one deliver-queue job of one name: parses its data (zod), does its work, and returns the
 * line BullMQ keeps as the job's return value, or throws what BullMQ should do (see {@link settle}).
 * Handlers live in the feature folders that own the work (deliver/, deliver/slack/,
 * deliver/pagerduty/, remediate/); the composition root puts them in a {@link JobHandlers} table.
 */
export type JobHandler = (job: Job, token: string | undefined) => Promise<string>;

/** The deliver queue's handlers by job name (see queues.ts `ACTION_JOB_NAMES`, and `deliver`). */
export type JobHandlers = ReadonlyMap<string, JobHandler>;

/** The name of a delivery job; its handler also runs a job whose name has no handler (as before the table). */
export const DELIVER_JOB_NAME = 'deliver';

/** The handler for a job's name: its own, else the delivery handler; none is an unrecoverable job. */
export function handlerFor(handlers: JobHandlers, name: string): JobHandler {
  const handler = handlers.get(name) ?? handlers.get(DELIVER_JOB_NAME);
  if (!handler) throw new UnrecoverableError(`no handler for deliver-queue job "${name}"`);
  return handler;
}

/** What a deliver-queue job is called in its log lines: `delivery`, or its follow-up's name. */
export type JobKind = 'delivery' | 'remediate' | 'note' | 'acknowledge' | 'escalation';

/**
 * Turns an AttemptResult into what BullMQ does: ok completes, retryable with a Retry-After moves the
 * job to delayed (without spending an attempt), retryable backs off exponentially, anything else
 * is unrecoverable and stays as a dead letter. Counted per receiver (name and type).
 */
export async function settle(
  job: Job,
  token: string | undefined,
  result: AttemptResult,
  at: { receiver: string; receiverType: string; kind: JobKind; done: string; metrics: Pick<Metrics, 'notificationDelivered'>; log: Logger },
): Promise<string> {
  const { receiver, receiverType, kind: what, metrics, log } = at;
  if (result.ok) {
    metrics.notificationDelivered(receiver, receiverType, 'success');
    log.info(what === 'delivery' ? 'notification delivered' : `${what} done`);
    return at.done;
  }
  if (result.retryable && result.retryAfterMs !== undefined) {
    metrics.notificationDelivered(receiver, receiverType, 'rate_limited');
    // Routine under a rate limit: debug, not warn (the metric counts them).
    log.debug({ retryAfterMs: result.retryAfterMs, reason: result.reason }, `${what} deferred`);
    await job.moveToDelayed(Date.now() + result.retryAfterMs, token);
    throw new DelayedError();
  }
  const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  if (result.retryable && !last) {
    metrics.notificationDelivered(receiver, receiverType, 'retry');
    log.warn({ reason: result.reason }, `${what} failed, will retry`);
    throw new Error(result.reason);
  }
  metrics.notificationDelivered(receiver, receiverType, 'dead_letter');
  log.error({ reason: result.reason }, `${what} failed permanently; kept as a dead letter`);
  throw new UnrecoverableError(result.reason);
}

/**
 * The notification a job refers to, read from where the flush stored it. Gone (expired, or Redis
 * lost it) is final: the job becomes a dead letter that says so, never a silent skip. A job queued
 * by an older version carries the notification itself: it is stored, so its follow-ups can refer to it.
 */
export async function notificationOf(data: { ref: NotificationRef } | { notification: Notification }, notifications: NotificationStore): Promise<Notification> {
  if ('notification' in data) {
    await notifications.save(data.notification);
    return data.notification;
  }
  const n = await notifications.load(data.ref.groupKey, data.ref.seq);
  if (n === null) throw new UnrecoverableError(`notification ${data.ref.seq} of group ${data.ref.groupKey} is no longer stored (expired); nothing to send`);
  return n;
}

import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Notifier } from '../deliver/notifier.ts';
import type { Notification } from '../model/alert-group.ts';
import type { FlushContext } from '../track/decide.ts';
import type { GroupState } from '../track/group-state.ts';
import type { TrackStore } from '../track/redis-store.ts';
import { QUEUE_NAMES, deliverJobSchema, flushJobSchema, type DeliverJob, type FlushJob, type Queues } from './queues.ts';

export interface WorkerDeps {
  connection: ConnectionOptions;
  prefix: string;
  store: TrackStore;
  queues: Pick<Queues, 'scheduleFlush' | 'enqueueDeliveries'>;
  /** The receivers by name; a function, because a policy reload can replace them. */
  notifiers: () => ReadonlyMap<string, Notifier>;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  /** Silences, inhibition and time intervals for a group's flush; default: nothing muted. */
  flushContext?: (state: GroupState, now: number) => Promise<FlushContext> | FlushContext;
  /** Called with every decided notification (history). */
  onNotification?: (n: Notification) => Promise<void>;
  flushConcurrency?: number;
  deliverConcurrency?: number;
}

export interface Workers {
  readonly flush: Worker<FlushJob>;
  readonly deliver: Worker<DeliverJob>;
  close(): Promise<void>;
}

/**
 * A group's flush: decide what (if anything) to tell, commit that, then enqueue one delivery per
 * receiver. Commit first and enqueue after, with fixed job ids: a crash in between is repaired by
 * BullMQ retrying this job, which finds the flush already handled and re-adds the same jobs.
 */
export async function processFlush(job: FlushJob, deps: Pick<WorkerDeps, 'store' | 'queues' | 'metrics' | 'log' | 'now' | 'flushContext' | 'onNotification'>): Promise<string> {
  const now = deps.now();
  const outcome = await deps.store.flush(job.groupKey, job.epoch, job.seq, (state) => (deps.flushContext ? deps.flushContext(state, now) : { now }));
  if (outcome.kind === 'stale') return 'stale';
  const state = outcome.kind === 'decided' ? outcome.next : outcome.state;
  const notification = outcome.kind === 'decided' ? outcome.notification : outcome.state.lastNotification;
  if (notification) {
    if (outcome.kind === 'decided') {
      deps.metrics.notificationDecided(notification.reason);
      // MTTD and time to resolve, once per finding: when first told, and when told resolved.
      const known = new Set(outcome.previous?.status === 'firing' ? outcome.previous.firing.map((f) => f.fingerprint) : []);
      for (const f of notification.firing) if (!known.has(f.fingerprint)) deps.metrics.timeToNotify(f.severity, (notification.at - f.observedAt) / 1000);
      for (const f of notification.resolved) deps.metrics.timeToResolve(f.severity, ((f.resolvedAt ?? notification.at) - f.firstSeen) / 1000);
      deps.log.info({ group: job.groupKey, seq: notification.seq, reason: notification.reason, firing: notification.firing.length, resolved: notification.resolved.length }, 'notification decided');
      // History is informational: a failure here must not hold back the delivery.
      await deps.onNotification?.(notification).catch((err: unknown) => deps.log.warn({ error: err instanceof Error ? err.message : String(err) }, 'recording notification history failed'));
    }
    await deps.queues.enqueueDeliveries(notification);
  }
  if (state?.pendingFlush) await deps.queues.scheduleFlush(job.groupKey, state.createdAt, state.pendingFlush.seq, state.pendingFlush.dueAt, now);
  return notification ? `${outcome.kind}: ${notification.reason}` : `${outcome.kind}: none`;
}

/**
 * One delivery attempt. SendResult decides what BullMQ does: ok completes, retryable with a
 * Retry-After moves the job to delayed (without spending an attempt), retryable backs off
 * exponentially, anything else is unrecoverable and stays as a dead letter.
 */
export async function processDelivery(job: Job<DeliverJob>, token: string | undefined, deps: Pick<WorkerDeps, 'notifiers' | 'metrics' | 'log'>): Promise<string> {
  const data = deliverJobSchema.parse(job.data);
  const notifier = deps.notifiers().get(data.receiver);
  if (!notifier) {
    deps.metrics.notificationDelivered('unknown', 'dead_letter');
    throw new UnrecoverableError(`receiver "${data.receiver}" is not configured (removed from the policy?)`);
  }
  if (data.notification.status === 'resolved' && notifier.sendResolved === false) return 'skipped: send_resolved is off';
  const started = performance.now();
  const result = await notifier.send(data.notification);
  deps.metrics.deliveryDuration(notifier.name, (performance.now() - started) / 1000);
  const log = deps.log.child({ group: data.notification.groupKey, seq: data.notification.seq, receiver: data.receiver, attempt: job.attemptsMade + 1 });
  if (result.ok) {
    deps.metrics.notificationDelivered(notifier.name, 'success');
    log.info('notification delivered');
    return 'delivered';
  }
  if (result.retryable && result.retryAfterMs !== undefined) {
    deps.metrics.notificationDelivered(notifier.name, 'rate_limited');
    // Routine under a rate limit: debug, not warn (the metric counts them).
    log.debug({ retryAfterMs: result.retryAfterMs, reason: result.reason }, 'delivery deferred');
    await job.moveToDelayed(Date.now() + result.retryAfterMs, token);
    throw new DelayedError();
  }
  const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  if (result.retryable && !last) {
    deps.metrics.notificationDelivered(notifier.name, 'retry');
    log.warn({ reason: result.reason }, 'delivery failed, will retry');
    throw new Error(result.reason);
  }
  deps.metrics.notificationDelivered(notifier.name, 'dead_letter');
  log.error({ reason: result.reason }, 'delivery failed permanently; kept as a dead letter');
  throw new UnrecoverableError(result.reason);
}

export function createWorkers(deps: WorkerDeps): Workers {
  const flush = new Worker<FlushJob>(
    QUEUE_NAMES.flush,
    async (job) => processFlush(flushJobSchema.parse(job.data), deps),
    { connection: deps.connection, prefix: deps.prefix, concurrency: deps.flushConcurrency ?? 8, autorun: false },
  );
  const deliver = new Worker<DeliverJob>(QUEUE_NAMES.deliver, async (job, token) => processDelivery(job, token, deps), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: deps.deliverConcurrency ?? 8,
    autorun: false,
  });
  for (const w of [flush, deliver]) {
    // A worker's connection errors surface here; BullMQ reconnects by itself.
    w.on('error', (err) => deps.log.error({ err: err.message, queue: w.name }, 'queue worker error'));
    w.on('failed', (job, err) => {
      if (job && !(err instanceof DelayedError)) deps.log.debug({ queue: w.name, job: job.id, err: err.message }, 'job attempt failed');
    });
  }
  return {
    flush,
    deliver,
    async close() {
      await Promise.all([flush.close(), deliver.close()]);
    },
  };
}

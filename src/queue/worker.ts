import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Notifier, SendResult } from '../deliver/notifier.ts';
import { isPagerDutyAcknowledger } from '../deliver/pagerduty/notifier.ts';
import { isSlackThreadNotifier } from '../deliver/slack/notifier.ts';
import type { Notification } from '../model/alert-group.ts';
import type { AuditTrail } from '../remediate/audit.ts';
import { ownersOf } from '../remediate/policy.ts';
import { isRemediationReceiver, type RemediationRun } from '../remediate/remediator.ts';
import type { FlushContext } from '../track/decide.ts';
import type { GroupState } from '../track/group-state.ts';
import { notificationRefSchema, type NotificationRef } from './notification-store.ts';
import { STATE_BYTES_PER_FINDING, withBudget, type MemoryBudget } from '../track/memory-budget.ts';
import type { TrackStore } from '../track/redis-store.ts';
import {
  ACTION_JOB_NAMES,
  QUEUE_NAMES,
  acknowledgeJobSchema,
  deliverJobSchema,
  flushJobSchema,
  noteJobSchema,
  remediateJobSchema,
  verifyJobSchema,
  type DeliverJob,
  type FlushJob,
  type Queues,
} from './queues.ts';

export interface WorkerDeps {
  connection: ConnectionOptions;
  prefix: string;
  store: TrackStore;
  queues: Pick<Queues, 'scheduleFlush' | 'enqueueDeliveries' | 'enqueueRemediation' | 'enqueueVerify' | 'enqueueNotes' | 'notifications'>;
  /** The receivers by name; a function, because a policy reload can replace them. */
  notifiers: () => ReadonlyMap<string, Notifier>;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  /** Silences, inhibition and time intervals for a group's flush; default: nothing muted. */
  flushContext?: (state: GroupState, now: number) => Promise<FlushContext> | FlushContext;
  /** Called with every decided notification (history). */
  onNotification?: (n: Notification) => Promise<void>;
  /** Where PagerDuty acknowledges are recorded (remediations audit themselves). */
  audit?: Pick<AuditTrail, 'append'>;
  flushConcurrency?: number;
  deliverConcurrency?: number;
  /** The flush worker's stall detection; default {@link FLUSH_STALL}. */
  flushStall?: StallSettings;
  /**
   * Findings held in memory at once (shared with ingest): a flush weighs its stored state's size,
   * a delivery its notification's findings. `stateBytes` tells a group's stored size unread.
   */
  budget?: { budget: MemoryBudget; stateBytes: (groupKey: string) => Promise<number> };
}

/** BullMQ's stall detection for one worker (lockDuration, stalledInterval, maxStalledCount). */
export interface StallSettings {
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
}

/**
 * The flush worker's stall detection. A flush of a 10,000-finding group reads, decides and writes
 * about 15 MB of JSON: a second or two of CPU, longer with GC pressure on a loaded node, during
 * which the lock is renewed only between those steps. 60 s of lock leaves room for that; a job
 * whose worker died is then noticed within lockDuration + stalledInterval (about 90 s). A flush is
 * idempotent (commit first, fixed job ids after), so running one again after a stall costs nothing
 * wrong: three stalls are tolerated (two crash-restarts in a row happen when what crashed the node
 * is still queued) before the job fails as a dead letter with BullMQ's reason "job stalled more than
 * allowable limit". Deliveries keep BullMQ's defaults (30 s, one stall): they are bounded by their
 * receivers' timeouts, and sending twice is not free.
 */
export const FLUSH_STALL: StallSettings = { lockDurationMs: 60_000, stalledIntervalMs: 30_000, maxStalledCount: 3 };

/** BullMQ's reason for a job that stalled more often than its worker's maxStalledCount allows. */
export const STALLED_REASON = 'job stalled more than allowable limit';

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
  let now = deps.now();
  let outcome = await deps.store.flush(job.groupKey, job.epoch, job.seq, (state) => (deps.flushContext ? deps.flushContext(state, now) : { now }));
  // Early by the shared clock (a replica whose clock is ahead promoted it): wait here if it is
  // due soon, else hand it back to BullMQ (FlushEarlyError). Never decided before its time.
  for (let waited = 0; outcome.kind === 'early'; ) {
    const remaining = outcome.dueAt - now;
    if (waited + remaining > EARLY_FLUSH_WAIT_MS) throw new FlushEarlyError(remaining);
    await new Promise((r) => setTimeout(r, remaining));
    waited += remaining;
    now = deps.now();
    const at = now;
    outcome = await deps.store.flush(job.groupKey, job.epoch, job.seq, (state) => (deps.flushContext ? deps.flushContext(state, at) : { now: at }));
  }
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

/** How long a flush that ran early waits in its worker for its due time before going back to delayed. */
export const EARLY_FLUSH_WAIT_MS = 5_000;

/** A flush run well before its due time: the worker puts the job back, delayed by `remainingMs`. */
export class FlushEarlyError extends Error {
  override readonly name = 'FlushEarlyError';
  readonly remainingMs: number;
  constructor(remainingMs: number) {
    super(`flush ran ${remainingMs} ms before its due time`);
    this.remainingMs = remainingMs;
  }
}

type DeliveryDeps = Pick<WorkerDeps, 'notifiers' | 'metrics' | 'log' | 'queues' | 'audit' | 'now'>;
type JobLog = WorkerDeps['log'];

/**
 * Turns a SendResult into what BullMQ does: ok completes, retryable with a Retry-After moves the
 * job to delayed (without spending an attempt), retryable backs off exponentially, anything else
 * is unrecoverable and stays as a dead letter.
 */
async function settle(job: Job, token: string | undefined, result: SendResult, receiverType: string, deps: Pick<WorkerDeps, 'metrics'>, log: JobLog, done = 'delivered'): Promise<string> {
  const what = job.name === ACTION_JOB_NAMES.remediate || job.name === ACTION_JOB_NAMES.note || job.name === ACTION_JOB_NAMES.acknowledge ? job.name : 'delivery';
  if (result.ok) {
    deps.metrics.notificationDelivered(receiverType, 'success');
    log.info(what === 'delivery' ? 'notification delivered' : `${what} done`);
    return done;
  }
  if (result.retryable && result.retryAfterMs !== undefined) {
    deps.metrics.notificationDelivered(receiverType, 'rate_limited');
    // Routine under a rate limit: debug, not warn (the metric counts them).
    log.debug({ retryAfterMs: result.retryAfterMs, reason: result.reason }, `${what} deferred`);
    await job.moveToDelayed(Date.now() + result.retryAfterMs, token);
    throw new DelayedError();
  }
  const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  if (result.retryable && !last) {
    deps.metrics.notificationDelivered(receiverType, 'retry');
    log.warn({ reason: result.reason }, `${what} failed, will retry`);
    throw new Error(result.reason);
  }
  deps.metrics.notificationDelivered(receiverType, 'dead_letter');
  log.error({ reason: result.reason }, `${what} failed permanently; kept as a dead letter`);
  throw new UnrecoverableError(result.reason);
}

function notifierOf(deps: Pick<WorkerDeps, 'notifiers' | 'metrics'>, receiver: string): Notifier {
  const notifier = deps.notifiers().get(receiver);
  if (!notifier) {
    deps.metrics.notificationDelivered('unknown', 'dead_letter');
    throw new UnrecoverableError(`receiver "${receiver}" is not configured (removed from the policy?)`);
  }
  return notifier;
}

/** The receivers that tell owner notes in Slack threads. */
function slackReceivers(deps: Pick<WorkerDeps, 'notifiers'>): string[] {
  return [...deps.notifiers()].filter(([, n]) => isSlackThreadNotifier(n)).map(([name]) => name);
}

/**
 * Schedules what a remediation run asks for after it: its verify step, and its notes (the flap
 * breaker's escalation) to every Slack receiver. Exported for the Slack "Sync now" path.
 */
export async function followUp(run: RemediationRun, deps: Pick<WorkerDeps, 'notifiers' | 'queues'>): Promise<void> {
  if (run.verify) await deps.queues.enqueueVerify(run.verify);
  if (run.notes.length > 0) await deps.queues.enqueueNotes(slackReceivers(deps), run.notes);
}

/**
 * The notification a job refers to, read from where the flush stored it. Gone (expired, or Redis
 * lost it) is final: the job becomes a dead letter that says so, never a silent skip. A job queued
 * by an older version carries the notification itself: it is stored, so its follow-ups can refer to it.
 */
async function notificationOf(data: { ref: NotificationRef } | { notification: Notification }, deps: Pick<WorkerDeps, 'queues'>): Promise<Notification> {
  if ('notification' in data) {
    await deps.queues.notifications.save(data.notification);
    return data.notification;
  }
  const n = await deps.queues.notifications.load(data.ref.groupKey, data.ref.seq);
  if (n === null) throw new UnrecoverableError(`notification ${data.ref.seq} of group ${data.ref.groupKey} is no longer stored (expired); nothing to send`);
  return n;
}

/**
 * One delivery attempt (see {@link settle}). A remediation receiver is not called here: each owner
 * of the notification gets its own remediation job, in which the latest notification wins.
 */
export async function processDelivery(job: Job<DeliverJob>, token: string | undefined, deps: DeliveryDeps): Promise<string> {
  const data = deliverJobSchema.parse(job.data);
  const notifier = notifierOf(deps, data.receiver);
  const n = await notificationOf(data, deps);
  if (isRemediationReceiver(notifier)) {
    // Resolves are queued too: a resolve that arrives while an action waits replaces it.
    const owners = ownersOf(n.status === 'firing' ? n : { ...n, firing: n.resolved });
    for (const owner of owners) await deps.queues.enqueueRemediation(data.receiver, n, owner);
    return `remediation queued for ${owners.length} owner(s)`;
  }
  if (n.status === 'resolved' && notifier.sendResolved === false) return 'skipped: send_resolved is off';
  const started = performance.now();
  const result = await notifier.send(n);
  deps.metrics.deliveryDuration(notifier.type, (performance.now() - started) / 1000);
  const log = deps.log.child({ group: n.groupKey, seq: n.seq, receiver: data.receiver, attempt: job.attemptsMade + 1 });
  return settle(job, token, result, notifier.type, deps, log);
}

/** One owner's remediation (the latest notification for it), then its follow-ups. */
export async function processRemediation(job: Job, token: string | undefined, deps: DeliveryDeps): Promise<string> {
  const data = remediateJobSchema.parse(job.data);
  const notifier = notifierOf(deps, data.receiver);
  if (!isRemediationReceiver(notifier)) throw new UnrecoverableError(`receiver "${data.receiver}" is not a remediation receiver any more`);
  const owner = { cluster: data.owner.cluster, tool: data.owner.tool, owner: data.owner.owner };
  // Latest wins: the newest notification of the group, even if this job was queued for an older
  // one. Deliveries run concurrently (and on several replicas), so an older notification's job can
  // be added after a newer one's and replace it in the owner's debounce.
  const n = await deps.queues.notifications.newest(await notificationOf(data, deps));
  const started = performance.now();
  const run = await notifier.remediateOwner(n, owner, data.actor);
  deps.metrics.deliveryDuration(notifier.type, (performance.now() - started) / 1000);
  await followUp(run, deps);
  const log = deps.log.child({ group: n.groupKey, seq: n.seq, receiver: data.receiver, owner: data.owner.owner.name, attempt: job.attemptsMade + 1 });
  return settle(job, token, run.result, notifier.type, deps, log, 'remediated');
}

/** One look at an action's result: wait (without spending an attempt) or tell the verdict. */
export async function processVerify(job: Job, token: string | undefined, deps: DeliveryDeps): Promise<string> {
  const { receiver, ticket } = verifyJobSchema.parse(job.data);
  const notifier = notifierOf(deps, receiver);
  if (!isRemediationReceiver(notifier)) throw new UnrecoverableError(`receiver "${receiver}" is not a remediation receiver any more`);
  const step = await notifier.verify(ticket);
  if (step.state === 'pending') {
    // Bounded: verify() decides a verdict once the ticket's deadline has passed.
    await job.moveToDelayed(Date.now() + step.retryInMs, token);
    throw new DelayedError();
  }
  if (step.notes.length > 0) await deps.queues.enqueueNotes(slackReceivers(deps), step.notes);
  deps.log.info({ group: ticket.groupKey, receiver, owner: ticket.owner.name, verdict: step.state }, step.reason);
  return step.state;
}

/** One owner note into one Slack receiver's thread. */
export async function processNote(job: Job, token: string | undefined, deps: DeliveryDeps): Promise<string> {
  const { receiver, note } = noteJobSchema.parse(job.data);
  const notifier = notifierOf(deps, receiver);
  if (!isSlackThreadNotifier(notifier)) throw new UnrecoverableError(`receiver "${receiver}" cannot tell notes`);
  const result = await notifier.tellOwner(note);
  return settle(job, token, result, notifier.type, deps, deps.log.child({ receiver, note: note.id, attempt: job.attemptsMade + 1 }), 'told');
}

/** One PagerDuty acknowledge; its result is audited once final. */
export async function processAcknowledge(job: Job, token: string | undefined, deps: DeliveryDeps): Promise<string> {
  const data = acknowledgeJobSchema.parse(job.data);
  const notifier = notifierOf(deps, data.receiver);
  if (!isPagerDutyAcknowledger(notifier)) throw new UnrecoverableError(`receiver "${data.receiver}" cannot acknowledge`);
  const result = await notifier.acknowledge(data.groupKey);
  const log = deps.log.child({ group: data.groupKey, receiver: data.receiver, actor: data.actor, attempt: job.attemptsMade + 1 });
  const final = result.ok || !result.retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  if (final && deps.audit) {
    await deps.audit.append({
      kind: 'pagerduty',
      at: deps.now(),
      actor: data.actor,
      action: 'acknowledge',
      cluster: data.cluster,
      ...(data.owner === undefined ? {} : { owner: data.owner }),
      outcome: result.ok ? 'performed' : 'failed',
      reason: result.ok ? `PagerDuty alert of group ${data.groupKey} acknowledged through ${data.receiver}` : `PagerDuty acknowledge through ${data.receiver} failed: ${result.reason}`,
      groupKey: data.fromGroupKey,
    });
  }
  return settle(job, token, result, notifier.type, deps, log, 'acknowledged');
}

/** Runs a deliver-queue job by its name. */
export async function processDeliverQueueJob(job: Job, token: string | undefined, deps: DeliveryDeps): Promise<string> {
  switch (job.name) {
    case ACTION_JOB_NAMES.remediate:
      return processRemediation(job, token, deps);
    case ACTION_JOB_NAMES.verify:
      return processVerify(job, token, deps);
    case ACTION_JOB_NAMES.note:
      return processNote(job, token, deps);
    case ACTION_JOB_NAMES.acknowledge:
      return processAcknowledge(job, token, deps);
    default:
      return processDelivery(job as Job<DeliverJob>, token, deps);
  }
}

/**
 * A job failed for good: counted, logged, and for a delivery its stored notification is kept as
 * long as the dead letter, so a replay still has it.
 */
async function deadLettered(queue: 'flush' | 'deliver', job: Job, err: Error, deps: Pick<WorkerDeps, 'metrics' | 'log' | 'queues'>): Promise<void> {
  const stalled = err.message === STALLED_REASON;
  deps.metrics.deadLettered(queue, stalled ? 'stalled' : 'failed');
  const data: unknown = job.data;
  const ref = typeof data === 'object' && data !== null && 'ref' in data ? notificationRefSchema.safeParse(data.ref) : undefined;
  const group = ref?.success ? ref.data.groupKey : flushJobSchema.safeParse(data).data?.groupKey;
  // Deliveries log their own last failure (settle); a stall or a flush is said here.
  if (stalled || queue === 'flush') deps.log.error({ queue, job: job.id, group, reason: err.message }, `${queue} job failed for good; kept as a dead letter`);
  if (ref?.success) await deps.queues.notifications.keepForDeadLetter(ref.data.groupKey, ref.data.seq);
}

/** How many findings a deliver-queue job handles, from its reference's summary (1 when it has none). */
function findingsOfJob(data: unknown): number {
  if (typeof data !== 'object' || data === null) return 1;
  if ('ref' in data) {
    const ref = notificationRefSchema.safeParse(data.ref);
    return ref.success ? ref.data.summary.firing + ref.data.summary.resolved : 1;
  }
  if ('notification' in data && typeof data.notification === 'object' && data.notification !== null) {
    const n = data.notification as { firing?: unknown; resolved?: unknown };
    return (Array.isArray(n.firing) ? n.firing.length : 0) + (Array.isArray(n.resolved) ? n.resolved.length : 0);
  }
  return 1;
}

export function createWorkers(deps: WorkerDeps): Workers {
  const stall = deps.flushStall ?? FLUSH_STALL;
  const flush = new Worker<FlushJob>(
    QUEUE_NAMES.flush,
    async (job, token) => {
      const data = flushJobSchema.parse(job.data);
      try {
        const b = deps.budget;
        if (!b) return await processFlush(data, deps);
        const weight = Math.ceil((await b.stateBytes(data.groupKey)) / STATE_BYTES_PER_FINDING);
        return await withBudget(b.budget, weight, () => processFlush(data, deps));
      } catch (err) {
        if (!(err instanceof FlushEarlyError)) throw err;
        // BullMQ's delayed set is scored by the local clock of the replica that moves the job.
        await job.moveToDelayed(Date.now() + err.remainingMs, token);
        throw new DelayedError();
      }
    },
    {
      connection: deps.connection,
      prefix: deps.prefix,
      concurrency: deps.flushConcurrency ?? 8,
      autorun: false,
      lockDuration: stall.lockDurationMs,
      stalledInterval: stall.stalledIntervalMs,
      maxStalledCount: stall.maxStalledCount,
    },
  );
  const deliver = new Worker<DeliverJob>(QUEUE_NAMES.deliver, async (job, token) => withBudget(deps.budget?.budget, findingsOfJob(job.data), () => processDeliverQueueJob(job, token, deps)), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: deps.deliverConcurrency ?? 8,
    autorun: false,
  });
  for (const w of [flush, deliver]) {
    // A worker's connection errors surface here; BullMQ reconnects by itself.
    w.on('error', (err) => deps.log.error({ err: err.message, queue: w.name }, 'queue worker error'));
    w.on('failed', (job, err) => {
      if (!job || err instanceof DelayedError) return;
      // finishedOn is set once the job is failed for good (no attempt left, unrecoverable, or
      // stalled too often): a dead letter, kept for GET /api/v1/deadletters and replay.
      if (job.finishedOn === undefined || job.finishedOn === null) {
        deps.log.debug({ queue: w.name, job: job.id, err: err.message }, 'job attempt failed');
        return;
      }
      deadLettered(w.name === QUEUE_NAMES.flush ? 'flush' : 'deliver', job, err, deps).catch((e: unknown) =>
        deps.log.error({ queue: w.name, job: job.id, error: e instanceof Error ? e.message : String(e) }, 'keeping the notification of a dead letter failed'),
      );
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

import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { findingEndedAt, type Notification } from '../model/alert-group.ts';
import type { FlushContext } from '../track/decide.ts';
import type { GroupState } from '../track/group-state.ts';
import { handlerFor, type JobHandlers } from './job-handlers.ts';
import { notificationRefSchema } from './notification-store.ts';
import { STATE_BYTES_PER_FINDING, withBudget, type MemoryBudget } from '../track/memory-budget.ts';
import type { TrackStore } from '../track/redis-store.ts';
import type { FlushIntents } from '../track/flush-intents.ts';
import type { InhibitSourceStore } from '../track/inhibit-sources.ts';
import { QUEUE_NAMES, flushJobSchema, type DeliverJob, type FlushJob, type Queues } from './queues.ts';

export interface WorkerDeps {
  connection: ConnectionOptions;
  prefix: string;
  store: TrackStore;
  queues: Pick<Queues, 'scheduleFlush' | 'enqueueDeliveries' | 'notifications'>;
  /**
   * The deliver queue's handlers by job name (see job-handlers.ts): deliveries and their follow-up
   * jobs, each living in its feature folder; the composition root builds the table (src/jobs.ts).
   */
  handlers: JobHandlers;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  /** Silences, inhibition and time intervals for a group's flush; default: nothing muted. */
  flushContext?: (state: GroupState, now: number) => Promise<FlushContext> | FlushContext;
  /**
   * Told of the next flush a flush commit recorded (track/flush-intents.ts); without it, the next
   * flush's job is added here, as before flush intents.
   */
  flushes?: FlushIntents;
  /** Called with every decided notification (history). */
  onNotification?: (n: Notification) => Promise<void>;
  /**
   * The firing inhibition sources (track/inhibit-sources.ts). A flush that ends findings (a told
   * Corrected one resolves by itself there, track/decide.ts) takes them out, as the ingest does for
   * what a signal resolves: a source left behind would hold back its targets for the key's TTL.
   */
  inhibitSources?: Pick<InhibitSourceStore, 'update'>;
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

/** The two stage queues a replica runs workers for. */
export type StageQueue = 'flush' | 'deliver';

/** What a worker is doing, for the watchdog (worker-watchdog.ts): local clock, epoch ms. */
export interface WorkerActivity {
  running: number;
  /** When it last started or finished a job, or was created. */
  lastProgressAt: number;
}

export interface Workers {
  /** The queue's current worker (the watchdog may have replaced the first). */
  readonly flush: Worker<FlushJob>;
  readonly deliver: Worker<DeliverJob>;
  activity(queue: StageQueue): WorkerActivity;
  concurrency(queue: StageQueue): number;
  /**
   * Replaces a queue's worker by a new one (not running yet) on `connection`; returns the one it
   * replaced, for the caller to close. close() then closes the new one.
   */
  replace(queue: StageQueue, connection: ConnectionOptions): Worker;
  close(): Promise<void>;
}

/**
 * A group's flush: decide what (if anything) to tell, commit that, then enqueue one delivery per
 * receiver. Commit first and enqueue after, with fixed job ids: a crash in between is repaired by
 * BullMQ retrying this job, which finds the flush already handled and re-adds the same jobs.
 */
export async function processFlush(
  job: FlushJob,
  deps: Pick<WorkerDeps, 'store' | 'queues' | 'metrics' | 'log' | 'now' | 'flushContext' | 'onNotification' | 'flushes' | 'inhibitSources'>,
): Promise<string> {
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
  // Before the deliveries: a failure fails the job, whose retry (already handled) does this again.
  const ended = endedFindings(state, notification);
  if (ended.length > 0) await deps.inhibitSources?.update([], ended);
  if (notification) {
    if (outcome.kind === 'decided') {
      deps.metrics.notificationDecided(notification.reason);
      // MTTD and time to resolve, once per finding: when first told, and when told resolved. The
      // end is when its drift ended (findingEndedAt: a Corrected one's when its report came), not
      // when meshdrift told it, as the Alertmanager and webhook receivers end its alert.
      const known = new Set(outcome.previous?.status === 'firing' ? outcome.previous.firing.map((f) => f.fingerprint) : []);
      for (const f of notification.firing) if (!known.has(f.fingerprint)) deps.metrics.timeToNotify(f.severity, (notification.at - f.observedAt) / 1000);
      for (const f of notification.resolved) deps.metrics.timeToResolve(f.severity, (findingEndedAt(f, notification.at) - f.firstSeen) / 1000);
      deps.log.info(
        { group: job.groupKey, seq: notification.seq, reason: notification.reason, firing: notification.firing.length, resolved: notification.resolved.length },
        'notification decided',
      );
      // History is informational: a failure here must not hold back the delivery.
      await deps
        .onNotification?.(notification)
        .catch((err: unknown) => deps.log.warn({ error: err instanceof Error ? err.message : String(err) }, 'recording notification history failed'));
    }
    await deps.queues.enqueueDeliveries(notification);
  }
  // The commit recorded the next flush's intent: the mover adds its job when it is due. A flush
  // handled before (a retried job) ensures the job itself: the replica that decided it may have
  // been of the version before intents, and died before adding it.
  const next = state?.pendingFlush;
  if (next && state) {
    if (outcome.kind === 'decided' && deps.flushes) deps.flushes.recorded(next.dueAt, now);
    else await deps.queues.scheduleFlush(job.groupKey, state.createdAt, next.seq, next.dueAt, now);
  }
  return notification ? `${outcome.kind}: ${notification.reason}` : `${outcome.kind}: none`;
}

/**
 * Fingerprints a flush leaves ended: resolved in the state it committed, or told resolved. A revert
 * remembered after it was told resolved (track/decide.ts REVERT_MEMORY_MS) ended when it was told:
 * not again at every flush of its group.
 */
function endedFindings(state: GroupState | null, notification: Notification | null): string[] {
  const ended = new Set<string>();
  for (const f of Object.values(state?.findings ?? {})) if (f.status === 'resolved' && f.rememberedUntil === undefined) ended.add(f.fingerprint);
  for (const f of notification?.resolved ?? []) ended.add(f.fingerprint);
  return [...ended];
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

/** Counts the jobs `fn` runs and when one last started or finished. */
function tracked<T, R>(activity: WorkerActivity, fn: (job: Job<T>, token?: string) => Promise<R>): (job: Job<T>, token?: string) => Promise<R> {
  return async (job, token) => {
    activity.running++;
    activity.lastProgressAt = Date.now();
    try {
      return await fn(job, token);
    } finally {
      activity.running--;
      activity.lastProgressAt = Date.now();
    }
  };
}

function createFlushWorker(deps: WorkerDeps, connection: ConnectionOptions, activity: WorkerActivity): Worker<FlushJob> {
  const stall = deps.flushStall ?? FLUSH_STALL;
  return new Worker<FlushJob>(
    QUEUE_NAMES.flush,
    tracked<FlushJob, string>(activity, async (job, token) => {
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
    }),
    {
      connection,
      prefix: deps.prefix,
      concurrency: deps.flushConcurrency ?? 8,
      autorun: false,
      lockDuration: stall.lockDurationMs,
      stalledInterval: stall.stalledIntervalMs,
      maxStalledCount: stall.maxStalledCount,
    },
  );
}

function createDeliverWorker(deps: WorkerDeps, connection: ConnectionOptions, activity: WorkerActivity): Worker<DeliverJob> {
  return new Worker<DeliverJob>(
    QUEUE_NAMES.deliver,
    tracked<DeliverJob, unknown>(activity, async (job, token) =>
      withBudget(deps.budget?.budget, findingsOfJob(job.data), async () => handlerFor(deps.handlers, job.name)(job, token)),
    ),
    { connection, prefix: deps.prefix, concurrency: deps.deliverConcurrency ?? 8, autorun: false },
  );
}

/** Logs a worker's errors and keeps its dead letters. */
function watchWorker(w: Worker, deps: WorkerDeps): void {
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

export function createWorkers(deps: WorkerDeps): Workers {
  const activity: Record<StageQueue, WorkerActivity> = {
    flush: { running: 0, lastProgressAt: Date.now() },
    deliver: { running: 0, lastProgressAt: Date.now() },
  };
  let flush = createFlushWorker(deps, deps.connection, activity.flush);
  let deliver = createDeliverWorker(deps, deps.connection, activity.deliver);
  watchWorker(flush, deps);
  watchWorker(deliver, deps);
  return {
    get flush() {
      return flush;
    },
    get deliver() {
      return deliver;
    },
    activity: (queue) => activity[queue],
    concurrency: (queue) => (queue === 'flush' ? (deps.flushConcurrency ?? 8) : (deps.deliverConcurrency ?? 8)),
    replace(queue, connection) {
      // The old worker's jobs still running end in its own counts, not the new one's.
      activity[queue] = { running: 0, lastProgressAt: Date.now() };
      const old: Worker = queue === 'flush' ? flush : deliver;
      if (queue === 'flush') flush = createFlushWorker(deps, connection, activity.flush);
      else deliver = createDeliverWorker(deps, connection, activity.deliver);
      watchWorker(queue === 'flush' ? flush : deliver, deps);
      return old;
    },
    async close() {
      await Promise.all([flush.close(), deliver.close()]);
    },
  };
}

import { Queue, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { ownerNoteSchema, type OwnerNote } from '../model/owner-note.ts';
import { notificationSchema, type Notification } from '../model/alert-group.ts';
import { ownerRefSchema, TOOLS } from '../model/signal.ts';
import { jobIdOf } from './job-ids.ts';
import { createRedisNotificationStore, notificationRefSchema, refOf, type NotificationStore } from './notification-store.ts';
import { ownerPath } from '../model/owner.ts';
import { fallbackBestEffort, type BestEffort } from '../best-effort.ts';

/** Queue names; with the key prefix they become `<prefix>:flush:*` and `<prefix>:deliver:*` in Redis. */
export const QUEUE_NAMES = { flush: 'flush', deliver: 'deliver' } as const;

export const flushJobSchema = z.object({ groupKey: z.string(), epoch: z.number(), seq: z.number().int().positive() });
export type FlushJob = z.infer<typeof flushJobSchema>;

/**
 * A delivery: a reference to the notification stored once at flush time (notification-store.ts),
 * never a copy of it. `notification` is the form older versions queued (read, never written).
 */
export const deliverJobSchema = z.union([
  z.object({ receiver: z.string(), ref: notificationRefSchema }),
  z.object({ receiver: z.string(), notification: notificationSchema }),
]);
export type DeliverJob = z.infer<typeof deliverJobSchema>;

/**
 * Follow-up jobs share the deliver queue (its workers, retries and dead letters), told apart by
 * job name: one owner's remediation (latest wins), a verify step, a note for Slack threads, a
 * PagerDuty acknowledge.
 */
export const ACTION_JOB_NAMES = {
  remediate: 'remediate',
  verify: 'verify',
  note: 'note',
  acknowledge: 'acknowledge',
  storm: 'storm',
  escalation: 'escalation',
} as const;

/**
 * The n-th look at one receiver's drift storm of one cause (deliver/storm-job.ts); job n+1 follows
 * n. `cause`: the storm's cause token (deliver/storm.ts causeToken); absent (jobs of older
 * versions) or '': "too many at once".
 */
export const stormJobSchema = z.object({
  receiver: z.string(),
  stormId: z.string(),
  n: z.number().int().positive(),
  cause: z.string().max(300).optional(),
});
export type StormJob = z.infer<typeof stormJobSchema>;

const remediationOwnerSchema = z.object({ cluster: z.string(), tool: z.enum(TOOLS), owner: ownerRefSchema });
/** The owner a remediation job is for (remediate/policy.ts `RemediationOwner`). */
export type RemediationJobOwner = z.infer<typeof remediationOwnerSchema>;
/** One owner's remediation: a reference to the stored notification (or, queued by older versions, a copy). */
export const remediateJobSchema = z.union([
  z.object({
    receiver: z.string(),
    ref: notificationRefSchema,
    owner: remediationOwnerSchema,
    /** Who asked, when not meshdrift (a Slack user's "Sync now"). */
    actor: z.string().optional(),
  }),
  z.object({ receiver: z.string(), notification: notificationSchema, owner: remediationOwnerSchema, actor: z.string().optional() }),
]);
export type RemediateJob = z.infer<typeof remediateJobSchema>;
/**
 * What the queue needs of a verify step's ticket (remediate/verify.ts `VerifyTicket`, which the
 * job carries whole and remediate/jobs.ts parses): its receiver, the action it looks at, when first.
 */
export interface VerifyJobTicket {
  receiver: string;
  actionId: string;
  pollMs: number;
}
/** A verify step's job data: `{ receiver, ticket }` (schema: remediate/jobs.ts `verifyJobSchema`). */
export interface VerifyJob {
  receiver: string;
  ticket: VerifyJobTicket;
}
/**
 * What the queue needs of a remediation escalation's event (remediate/escalation.ts
 * `EscalationEvent`, which the job carries whole and remediate/jobs.ts parses): its fixed id and status.
 */
export interface EscalationJobEvent {
  id: string;
  status: 'firing' | 'resolved';
}
/** One escalation event for one receiver: `{ receiver, event }` (schema: remediate/jobs.ts `escalationJobSchema`). */
export interface EscalationJob {
  receiver: string;
  event: EscalationJobEvent;
}
export const noteJobSchema = z.object({ receiver: z.string(), note: ownerNoteSchema });
export type NoteJob = z.infer<typeof noteJobSchema>;
export const acknowledgeJobSchema = z.object({
  /** The PagerDuty receiver the incident was triggered through. */
  receiver: z.string(),
  /** The PagerDuty receiver's alert group (its dedup key derives from it). */
  groupKey: z.string(),
  /** `slack:<user id>`. */
  actor: z.string(),
  /** The Slack message's group, for the audit record. */
  fromGroupKey: z.string(),
  cluster: z.string(),
  owner: ownerRefSchema.optional(),
  at: z.number(),
});
export type AcknowledgeJob = z.infer<typeof acknowledgeJobSchema>;
type ActionJob = RemediateJob | VerifyJob | NoteJob | AcknowledgeJob | StormJob | EscalationJob;

/**
 * How long a remediation job waits before it runs, so that a burst of notifications for one owner
 * collapses into one action with the latest content (BullMQ debounce: `replace` works on delayed jobs).
 */
export const DEFAULT_REMEDIATION_DEBOUNCE_MS = 1_000;

/**
 * The job states `meshdrift_queue_jobs` reports. `waiting` (and `prioritized`, unused today) are
 * ready and wait for a worker: the backlog. `delayed` are not: flush jobs wait for their
 * group_wait, group_interval or repeat by design, and deliveries for their retry backoff or a
 * receiver's Retry-After. `failed` are the dead letters (kept for replay). Completed jobs are
 * left out: they are kept a day for job-id dedup, not work.
 */
export const QUEUE_JOB_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'failed'] as const;
export type QueueJobState = (typeof QUEUE_JOB_STATES)[number];
export type QueueJobCounts = Record<keyof typeof QUEUE_NAMES, Record<QueueJobState, number>>;

const jobCount = z.number().int().nonnegative();
const jobCountsSchema = z.object({ waiting: jobCount, prioritized: jobCount, delayed: jobCount, active: jobCount, failed: jobCount }) satisfies z.ZodType<
  Record<QueueJobState, number>
>;

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
  /** Schedules the flush `seq` of a group at `dueAt`; adding the same flush twice is a no-op (the second add is skipped when this process made the first). */
  scheduleFlush(groupKey: string, epoch: number, seq: number, dueAt: number, now: number): Promise<void>;
  /** Forgets which flushes this process added (Redis lost its data: they are added again). */
  forgetScheduledFlushes(): void;
  /**
   * Stores the notification once and enqueues one delivery per receiver referring to it; the same
   * (group, seq, receiver) twice is a no-op.
   */
  enqueueDeliveries(notification: Notification): Promise<void>;
  /**
   * One remediation job per owner, latest wins: while one waits (debounced), a newer one replaces
   * it; while one runs, the newest is kept and runs after it (BullMQ `deduplication` with
   * `replace` and `keepLastIfActive`), so an owner never has two actions at once.
   */
  enqueueRemediation(receiver: string, notification: Notification, owner: RemediationJobOwner, actor?: string): Promise<void>;
  /** The verify step of an action, first look after `ticket.pollMs`. */
  enqueueVerify(ticket: VerifyJobTicket): Promise<void>;
  /** One note job per Slack receiver; the same note twice is a no-op. */
  enqueueNotes(receivers: readonly string[], notes: readonly OwnerNote[]): Promise<void>;
  /** One job per receiver and remediation escalation event; the same (receiver, event id, status) twice is a no-op. */
  enqueueEscalations(receivers: readonly string[], events: readonly EscalationJobEvent[]): Promise<void>;
  /** One PagerDuty acknowledge; the same (receiver, group, click) twice is a no-op. */
  enqueueAcknowledge(job: AcknowledgeJob): Promise<void>;
  /** The n-th summary of a receiver's storm, after `delayMs`; the same (receiver, storm, n) twice is a no-op. */
  enqueueStorm(job: StormJob, delayMs: number): Promise<void>;
  /**
   * Jobs per queue and state (read-only: one counting script per queue, O(1) per state). The
   * deliver queue's counts include its follow-up jobs (remediate, verify, note, acknowledge).
   */
  jobCounts(): Promise<QueueJobCounts>;
  readonly flush: Queue<FlushJob>;
  readonly deliver: Queue<DeliverJob>;
  /** Where the decided notifications the jobs refer to are kept. */
  readonly notifications: NotificationStore;
  close(): Promise<void>;
}

/**
 * Flush job ids remembered as added, so that the signals that find a flush already pending do not
 * add it again (issue #15: one of a webhook's 5 round trips did nothing). A flush id is never
 * reused (epoch and seq), so an id forgotten only costs that one no-op add again.
 */
const ADDED_FLUSHES_KEPT = 10_000;

/** Flushes due within this long are promoted by a local timer (see promoteOnTime). */
const PROMOTE_WITHIN_MS = 10 * 60_000;

export interface QueueOptions {
  /** See {@link DEFAULT_REMEDIATION_DEBOUNCE_MS}. */
  remediationDebounceMs?: number;
  /**
   * A queue's connection errors (Redis down). Without a listener BullMQ prints each one raw to
   * stderr; callers that add jobs see the failure themselves, so this is for the log.
   */
  onError?: (queue: string, err: Error) => void;
  /** Where a failed promotion of a due flush is reported (`flush_promote`); default: logged on stderr. */
  bestEffort?: BestEffort;
}

// BullMQ's codes for a promote that finds its job gone (-1, JobNotExist) or no longer delayed (-3, JobNotInState).
const PROMOTE_MOVED_ON = new Set<unknown>([-1, -3]);

export function receiversOf(notification: Notification): string[] {
  if (notification.labels.receiver) return [notification.labels.receiver];
  return [...new Set([...notification.firing, ...notification.resolved].flatMap((f) => f.receivers))].sort();
}

/** The follow-up jobs of a delivery (remediate, verify, note, acknowledge, storm), on the deliver queue. */
function followUpEnqueuers(
  actions: Queue<ActionJob>,
  deliverOpts: JobsOptions,
  debounceMs: number,
): Pick<Queues, 'enqueueRemediation' | 'enqueueVerify' | 'enqueueNotes' | 'enqueueEscalations' | 'enqueueAcknowledge' | 'enqueueStorm'> {
  return {
    async enqueueRemediation(receiver, notification, owner, actor) {
      const oKey = ownerPath(owner);
      await actions.add(
        ACTION_JOB_NAMES.remediate,
        // The notification is stored already (the delivery that queues this read it from there).
        { receiver, ref: refOf(notification), owner, ...(actor === undefined ? {} : { actor }) },
        {
          ...deliverOpts,
          jobId: jobIdOf('remediate', notification.groupKey, notification.seq, receiver, oKey, actor ?? ''),
          delay: debounceMs,
          deduplication: { id: jobIdOf('remediate-owner', receiver, oKey), replace: true, keepLastIfActive: true },
        },
      );
    },
    async enqueueVerify(ticket) {
      await actions.add(
        ACTION_JOB_NAMES.verify,
        { receiver: ticket.receiver, ticket },
        { ...deliverOpts, jobId: jobIdOf('verify', ticket.actionId), delay: ticket.pollMs },
      );
    },
    async enqueueNotes(receivers, notes) {
      if (receivers.length === 0 || notes.length === 0) return;
      await actions.addBulk(
        notes.flatMap((note) =>
          receivers.map((receiver) => ({
            name: ACTION_JOB_NAMES.note,
            data: { receiver, note },
            opts: { ...deliverOpts, jobId: jobIdOf('note', receiver, note.id) },
          })),
        ),
      );
    },
    async enqueueEscalations(receivers, events) {
      if (receivers.length === 0 || events.length === 0) return;
      await actions.addBulk(
        events.flatMap((event) =>
          receivers.map((receiver) => ({
            name: ACTION_JOB_NAMES.escalation,
            data: { receiver, event },
            opts: { ...deliverOpts, jobId: jobIdOf('escalation', receiver, event.id, event.status) },
          })),
        ),
      );
    },
    async enqueueAcknowledge(job) {
      await actions.add(ACTION_JOB_NAMES.acknowledge, job, { ...deliverOpts, jobId: jobIdOf('ack', job.receiver, job.groupKey, job.actor, job.at) });
    },
    async enqueueStorm(job, delayMs) {
      await actions.add(ACTION_JOB_NAMES.storm, job, {
        ...deliverOpts,
        jobId: jobIdOf('storm', job.receiver, job.stormId, job.n),
        delay: Math.max(0, delayMs),
      });
    },
  };
}

/** Most flush jobs added in one call (addBulk: one MULTI of BullMQ's add script per job). */
const MAX_FLUSH_ADDS_AT_ONCE = 256;

/**
 * Adds the flush jobs asked for within one turn of the event loop together (issue #15): one
 * `addBulk` (one round trip, and one wake-up of the workers blocked on the queue's marker instead
 * of one per job) where concurrent webhooks opening groups would each add their own. The same job
 * id asked twice is added once; each caller learns its job's outcome (an addBulk fails whole).
 */
function coalescedAdds(queue: Queue<FlushJob>): (jobId: string, job: { name: 'flush'; data: FlushJob; opts: JobsOptions }) => Promise<Job<FlushJob>> {
  let pending = new Map<
    string,
    { job: { name: 'flush'; data: FlushJob; opts: JobsOptions }; done: Promise<Job<FlushJob>>; settle: [(j: Job<FlushJob>) => void, (e: unknown) => void] }
  >();
  const run = (): void => {
    const batch = pending;
    pending = new Map();
    const entries = [...batch.values()];
    for (let i = 0; i < entries.length; i += MAX_FLUSH_ADDS_AT_ONCE) {
      const part = entries.slice(i, i + MAX_FLUSH_ADDS_AT_ONCE);
      queue.addBulk(part.map((e) => e.job)).then(
        (jobs) => part.forEach((e, k) => (jobs[k] ? e.settle[0](jobs[k]) : e.settle[1](new Error('flush job not added')))),
        (err: unknown) => {
          for (const e of part) e.settle[1](err);
        },
      );
    }
  };
  return (jobId, job) => {
    const waiting = pending.get(jobId);
    if (waiting) return waiting.done;
    if (pending.size === 0) setImmediate(run);
    let settle: [(j: Job<FlushJob>) => void, (e: unknown) => void] = [() => undefined, () => undefined];
    const done = new Promise<Job<FlushJob>>((resolve, reject) => {
      settle = [resolve, reject];
    });
    pending.set(jobId, { job, done, settle });
    return done;
  };
}

export function createQueues(connection: Redis, prefix: string, retry: RetryPolicy = DEFAULT_DELIVERY_RETRY, opts: QueueOptions = {}): Queues {
  const flush = new Queue<FlushJob>(QUEUE_NAMES.flush, { connection, prefix });
  const deliver = new Queue<DeliverJob>(QUEUE_NAMES.deliver, { connection, prefix });
  // The same queue, typed for the follow-up jobs.
  const actions = new Queue<ActionJob>(QUEUE_NAMES.deliver, { connection, prefix });
  const onError = opts.onError ?? (() => undefined);
  const bestEffort = opts.bestEffort ?? fallbackBestEffort();
  const notifications = createRedisNotificationStore(connection, prefix);
  /**
   * A worker waits for a delayed job with a blocking Redis call whose timeout Redis checks only
   * `hz` times a second (10 by default): a flush ran up to 100 ms after its group_wait
   * (bench/e2e-latency.ts: 74 ms at p50). So the replica that schedules a flush also promotes it at
   * its due time, and an idle worker gets it at once. If this replica is gone by then, BullMQ's own
   * timer still runs it; a promote that finds the job already moved is a no-op. Long delays
   * (repeats, hours) keep no timer: 100 ms does not matter there.
   */
  const promotions = new Map<string, NodeJS.Timeout>();
  /** Flush job ids this process added (oldest first, at most ADDED_FLUSHES_KEPT). */
  const added = new Set<string>();
  const promoteOnTime = (jobId: string, delay: number, promote: () => Promise<void>): void => {
    if (delay <= 0 || delay > PROMOTE_WITHIN_MS || promotions.has(jobId)) return;
    const timer = setTimeout(() => {
      promotions.delete(jobId);
      promote().catch((err: unknown) => {
        // Not delayed any more (promoted, taken, or gone): nothing to do. Anything else (Redis) is
        // reported: BullMQ's own timer still runs the flush.
        if (!PROMOTE_MOVED_ON.has((err as { code?: unknown } | null)?.code)) bestEffort.failed('flush_promote', err);
      });
    }, delay + 1);
    timer.unref();
    promotions.set(jobId, timer);
  };
  flush.on('error', (err) => onError(QUEUE_NAMES.flush, err));
  deliver.on('error', (err) => onError(QUEUE_NAMES.deliver, err));
  actions.on('error', (err) => onError(QUEUE_NAMES.deliver, err));
  const debounceMs = opts.remediationDebounceMs ?? DEFAULT_REMEDIATION_DEBOUNCE_MS;
  const flushOpts: JobsOptions = { attempts: 20, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED };
  const deliverOpts: JobsOptions = {
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    removeOnComplete: KEEP_COMPLETED,
    removeOnFail: KEEP_FAILED,
  };
  const flushAdds = coalescedAdds(flush);
  return {
    flush,
    deliver,
    notifications,
    async scheduleFlush(groupKey, epoch, seq, dueAt, now) {
      const jobId = jobIdOf('flush', groupKey, epoch, seq);
      // Added by this process already: adding it again is a no-op that costs a round trip (and
      // writes a "duplicated" event). Another replica, or this one after a restart, adds it once
      // more, which still repairs a crash between a commit and its add.
      if (added.has(jobId)) return;
      const delay = Math.max(0, dueAt - now);
      const job = await flushAdds(jobId, { name: 'flush', data: { groupKey, epoch, seq }, opts: { ...flushOpts, jobId, delay } });
      added.add(jobId);
      if (added.size > ADDED_FLUSHES_KEPT) added.delete(added.values().next().value ?? jobId);
      promoteOnTime(jobId, delay, () => job.promote());
    },
    forgetScheduledFlushes: () => added.clear(),
    async enqueueDeliveries(notification) {
      // Stored before the jobs exist: a job never refers to a notification not yet written.
      await notifications.save(notification);
      const ref = refOf(notification);
      // A group belongs to one route, so to one receiver; the union is for groups written before.
      await deliver.addBulk(
        receiversOf(notification).map((receiver) => ({
          name: 'deliver',
          data: { receiver, ref },
          opts: { ...deliverOpts, jobId: jobIdOf('deliver', notification.groupKey, notification.seq, receiver) },
        })),
      );
    },
    ...followUpEnqueuers(actions, deliverOpts, debounceMs),
    async jobCounts() {
      const read = async (queue: Queue, name: string) => {
        const parsed = jobCountsSchema.safeParse(await queue.getJobCounts(...QUEUE_JOB_STATES));
        if (!parsed.success)
          throw new Error(
            `queue ${name}: job counts are not in the expected format (${parsed.error.issues[0]?.path.join('.') ?? '?'}: ${parsed.error.issues[0]?.message ?? ''})`,
          );
        return parsed.data;
      };
      const [flushCounts, deliverCounts] = await Promise.all([read(flush, QUEUE_NAMES.flush), read(deliver, QUEUE_NAMES.deliver)]);
      return { flush: flushCounts, deliver: deliverCounts };
    },
    async close() {
      for (const timer of promotions.values()) clearTimeout(timer);
      promotions.clear();
      await Promise.all([flush.close(), deliver.close(), actions.close()]);
    },
  };
}

import type { Redis } from 'ioredis';

/**
 * The worker watchdog (issue #20). On a Redis Cluster whose primary holding meshdrift's hash-tag
 * slot is killed, BullMQ's worker sometimes never takes another job: its jobs wait, its connections
 * look healthy, and only a new Worker recovers (docs/operations.md, Redis high availability).
 * BullMQ's maintainer advises the same outside BullMQ: close the worker and create a new one
 * (taskforcesh/bullmq#3185). This file holds the decision (a pure function of what was observed)
 * and the read of a queue's due jobs; run-workers.ts acts on it.
 */

/** What one check saw of a worker and its queue. */
export interface StallObservation {
  /** Jobs due in the queue (waiting, prioritized, delayed past their time); undefined: the read failed. */
  due: number | undefined;
  /** Jobs this worker is running now. */
  running: number;
  /** The worker's concurrency: with every slot busy it is not expected to fetch. */
  concurrency: number;
  /** When this worker last started or finished a job (or was started itself), epoch ms. */
  lastProgressAt: number;
}

export interface StallVerdict {
  /** Since when due jobs were seen, at every check, with a free slot and no progress; undefined: not now. */
  dueSince: number | undefined;
  /** The worker has held due jobs for `afterMs` with a free slot and neither started nor finished any. */
  restart: boolean;
}

/**
 * Whether a worker is stuck. Due jobs must be seen at every check for `afterMs` while the worker
 * has a free slot and has neither started nor finished a job in that time. An idle queue (nothing
 * due), a worker whose every slot runs a long job, and a check whose read failed (Redis away: the
 * worker cannot fetch either, and it reconnects by itself) reset the watch, so a Redis blip shorter
 * than `afterMs` never restarts a worker.
 */
export function stallVerdict(dueSince: number | undefined, seen: StallObservation, now: number, afterMs: number): StallVerdict {
  if (seen.due === undefined || seen.due === 0 || seen.running >= seen.concurrency) return { dueSince: undefined, restart: false };
  const since = dueSince ?? now;
  return { dueSince: since, restart: now - since >= afterMs && now - seen.lastProgressAt >= afterMs };
}

/**
 * Jobs of queue `name` due now: its wait list, its prioritized set, and its delayed jobs whose time
 * has passed (BullMQ scores a delayed job by its due time in ms times 0x1000 plus a counter). The
 * paused list is not counted: a paused queue is not a stuck worker. One slot (one hash tag) on a
 * Cluster, so one pipeline.
 */
export async function dueJobs(redis: Redis, prefix: string, name: string, nowMs: number): Promise<number> {
  const key = `${prefix}:${name}`;
  const replies = await redis
    .pipeline()
    .llen(`${key}:wait`)
    .zcard(`${key}:prioritized`)
    .zcount(`${key}:delayed`, 0, `(${(nowMs + 1) * 0x1000}`)
    .exec();
  let total = 0;
  for (const [err, n] of replies ?? []) {
    if (err) throw err;
    total += Number(n);
  }
  return total;
}

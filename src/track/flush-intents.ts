import type { Redis } from 'ioredis';
import { fallbackBestEffort, type BestEffort } from '../best-effort.ts';
import type { Logger } from '../log.ts';
import type { GroupMeta } from './group-layout.ts';
import { flushDueKey, groupRedisKey } from './keys.ts';
import { defineScripts, type CasRedis } from './redis-scripts.ts';

/**
 * Flush intents (issue #15). A commit that leaves a group owing a flush records it in the same
 * Lua script as the state: the group in `<p>:groups:flush-due`, scored by the flush's due time
 * (track/redis-scripts.ts CAS_SCRIPT). Nothing else happens on the webhook's path: no BullMQ job is
 * added per group there. A mover on every replica claims the intents due within `lookaheadMs`, a
 * batch at a time, and adds their flush jobs (fixed ids: adding one twice is a no-op) with the
 * delay still left, so each flush runs at its due time as before (the queue's local timer promotes
 * it). An intent committed is never lost: a replica that stops or is killed before moving it
 * leaves it in Redis for any replica's next pass, and one killed between its claim and its add
 * leaves it leased for `leaseMs`, after which any replica claims it again.
 *
 * The intent stays (leased) until the flush it asks for commits: that commit records the next
 * flush of the group (a new score) or removes it. A job lost after all (removed by hand) is so
 * added again after the lease.
 */

/** Where a flush job is added (queue/queues.ts `Queues` is one); adding the same flush twice is a no-op. */
export interface FlushScheduler {
  scheduleFlush(groupKey: string, epoch: number, seq: number, dueAt: number, now: number): Promise<void>;
}

/** Told of each flush a commit recorded: one due within the lookahead is moved at once, the others by the periodic pass. */
export interface FlushIntents {
  recorded(dueAt: number, now: number): void;
}

export interface FlushIntentMover extends FlushIntents {
  /** Starts the periodic pass (every `pollMs`). */
  start(): void;
  /** Stops it and waits for a pass under way. */
  stop(): Promise<void>;
  /** One pass now: claims and moves every intent due within the lookahead; returns how many it moved. */
  moveDue(): Promise<number>;
}

/** How often each replica looks for due intents. */
export const FLUSH_POLL_MS = 1_000;
/** Intents due this soon are moved (as delayed jobs): more than a poll, so a flush is in the queue before its time. */
export const FLUSH_LOOKAHEAD_MS = 2_500;
/** How long a claimed intent is hidden from other movers; the longest a flush waits after its mover dies mid-move. */
export const FLUSH_LEASE_MS = 60_000;
/** Most intents claimed (and jobs added) in one round trip. */
export const FLUSH_MOVE_BATCH = 256;
/** Most batches in one pass: a pass is bounded; the next one takes the rest. */
const MAX_BATCHES_PER_PASS = 64;

export interface FlushIntentOptions {
  redis: Redis;
  keyPrefix: string;
  queues: FlushScheduler;
  /** The shared clock (epoch ms): due times are by it. */
  now: () => number;
  log?: Logger;
  /** Where a failed give-back of claimed intents is reported (`flush_intent_release`); default: logged on stderr. */
  bestEffort?: BestEffort;
  pollMs?: number;
  lookaheadMs?: number;
  leaseMs?: number;
  batch?: number;
}

/** A claimed intent: the flush its group owes, as its meta record says. */
interface Claimed {
  groupKey: string;
  epoch: number;
  seq: number;
  dueAt: number;
}

function parseClaim(reply: readonly string[]): Claimed[] {
  const out: Claimed[] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const groupKey = reply[i] ?? '';
    // Written by meshdrift itself (group-layout.ts metaOf): not validated again, but a record that
    // lacks what a job needs is skipped (its lease ends; a later commit or pass settles it).
    const meta = JSON.parse(reply[i + 1] ?? 'null') as Partial<GroupMeta> | null;
    const pending = meta?.pendingFlush;
    if (pending && typeof meta?.createdAt === 'number') out.push({ groupKey, epoch: meta.createdAt, seq: pending.seq, dueAt: pending.dueAt });
  }
  return out;
}

export function createFlushIntentMover(opts: FlushIntentOptions): FlushIntentMover {
  const { redis, keyPrefix, queues, now } = opts;
  defineScripts(redis);
  const cas = redis as CasRedis;
  const dueKey = flushDueKey(keyPrefix);
  const groupPrefix = groupRedisKey(keyPrefix, '');
  const pollMs = opts.pollMs ?? FLUSH_POLL_MS;
  const lookaheadMs = opts.lookaheadMs ?? FLUSH_LOOKAHEAD_MS;
  const leaseMs = opts.leaseMs ?? FLUSH_LEASE_MS;
  const batch = opts.batch ?? FLUSH_MOVE_BATCH;
  const bestEffort = opts.bestEffort ?? fallbackBestEffort();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let again = false;
  let started = false;
  let soon = false;

  // One batch: claim, add, and say how many were claimed (a full batch: there may be more).
  const moveBatch = async (): Promise<{ claimed: number; moved: number }> => {
    const at = now();
    const leaseUntil = Math.ceil(at + leaseMs);
    const reply = await cas.meshdriftFlushClaim(dueKey, at + lookaheadMs, leaseUntil, batch, groupPrefix);
    const claimed = parseClaim(reply);
    // All in one turn: the queue adds them with one addBulk (queue/queues.ts).
    const added = await Promise.allSettled(claimed.map((c) => queues.scheduleFlush(c.groupKey, c.epoch, c.seq, c.dueAt, at)));
    const failed = claimed.filter((_, i) => added[i]?.status === 'rejected');
    if (failed.length > 0) {
      // Back to their due times, for the next pass; if that fails too, they wait for their lease.
      await bestEffort.attempt('flush_intent_release', () => cas.meshdriftFlushRelease(dueKey, leaseUntil, ...failed.flatMap((c) => [c.groupKey, c.dueAt])));
      const first = added.find((r) => r.status === 'rejected');
      throw first?.status === 'rejected' ? first.reason : new Error('flush job not added');
    }
    return { claimed: reply.length / 2, moved: claimed.length };
  };

  const pass = async (): Promise<number> => {
    let moved = 0;
    for (let i = 0; i < MAX_BATCHES_PER_PASS; i++) {
      const r = await moveBatch();
      moved += r.moved;
      if (r.claimed < batch) break;
    }
    return moved;
  };

  const moveDue = (): Promise<number> => {
    if (running) {
      again = true;
      return running;
    }
    const run = (async () => {
      let moved = 0;
      do {
        again = false;
        moved += await pass();
      } while (again);
      return moved;
    })();
    running = run;
    const done = (): void => {
      if (running === run) running = undefined;
    };
    run.then(done, done);
    return run;
  };

  const passLogged = (): void => {
    moveDue().catch((err: unknown) => {
      // Redis down: every replica's next pass retries; the intents wait in Redis.
      opts.log?.debug({ error: err instanceof Error ? err.message : String(err) }, 'moving due flushes to the queue failed; retried by the next pass');
    });
  };

  return {
    moveDue,
    recorded(dueAt, at) {
      if (!started || soon || dueAt - at > lookaheadMs) return;
      soon = true;
      setImmediate(() => {
        soon = false;
        passLogged();
      });
    },
    start() {
      if (started) return;
      started = true;
      passLogged();
      timer = setInterval(passLogged, pollMs);
      timer.unref();
    },
    async stop() {
      started = false;
      if (timer) clearInterval(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
  };
}

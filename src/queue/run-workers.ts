import type { Redis } from 'ioredis';
import type { BestEffort } from '../best-effort.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { createFlushContext, type FlushContextDeps } from '../track/flush-context.ts';
import { storedGroupBytes } from '../track/redis-store.ts';
import type { TrackStores } from '../track/stores.ts';
import type { FlushIntents } from '../track/flush-intents.ts';
import type { JobHandlers } from './job-handlers.ts';
import { QUEUE_NAMES, type Queues } from './queues.ts';
import { dueJobs, stallVerdict } from './worker-watchdog.ts';
import { createWorkers, type StageQueue, type Workers } from './worker.ts';

/**
 * The flush and deliver workers over the tracker's stores: a flush mutes by the policy's silences,
 * inhibitions and time intervals, records what it decides in the history, and weighs a group's
 * stored state against the findings budget it shares with ingest.
 */
export function createStageWorkers(deps: {
  /** The workers' own connection (blocking commands). */
  connection: Redis;
  /** The client connection (a group's stored size). */
  redis: Redis;
  prefix: string;
  stores: TrackStores;
  queues: Queues;
  /** Told of the flushes the flush commits record (track/flush-intents.ts). */
  flushes: FlushIntents;
  handlers: JobHandlers;
  policy: FlushContextDeps['policy'];
  metrics: Metrics;
  log: Logger;
  now: () => number;
}): Workers {
  const { stores, redis, prefix } = deps;
  return createWorkers({
    connection: deps.connection,
    prefix,
    store: stores.store,
    queues: deps.queues,
    flushes: deps.flushes,
    handlers: deps.handlers,
    flushContext: createFlushContext({ policy: deps.policy, silences: stores.silences, inhibitSources: stores.inhibitSources }),
    onNotification: (n) => stores.history.record(n),
    // As the ingest: sources are kept only while inhibit rules are in force (no rule, no write).
    inhibitSources: { update: (add, remove) => (deps.policy().inhibitRules.length > 0 ? stores.inhibitSources.update(add, remove) : Promise.resolve()) },
    budget: { budget: stores.budget, stateBytes: (groupKey) => storedGroupBytes(redis, prefix, groupKey) },
    metrics: deps.metrics,
    log: deps.log,
    now: deps.now,
  });
}

/** The worker watchdog's settings (worker-watchdog.ts). */
export interface WorkerWatchdogDeps {
  /** Reads the queues' due jobs (the fail-fast queue connection). */
  redis: Redis;
  prefix: string;
  /** MESHDRIFT_WORKER_STALL_AFTER: how long due jobs may wait on a worker that takes none. */
  afterMs: number;
  /** A new worker connection (blocking commands), owned by the worker it is made for. */
  newConnection: () => Redis;
  metrics: Pick<Metrics, 'workerRestarted'>;
  /** Where a failed read of due jobs (`watchdog_due_read`) and a failed close of a replaced worker (`worker_close`) are reported. */
  bestEffort: BestEffort;
  /** How often to look; default a sixth of afterMs (10 s at 60 s). */
  intervalMs?: number;
}

/** How long a replaced worker's forced close is awaited before its connection is cut anyway. */
const REPLACED_CLOSE_MS = 5_000;

/**
 * Replaces a queue's stuck worker: a new Worker on a new connection, started; the old one closed
 * with force (its running jobs are left to BullMQ's stalled-job check) and, when the watchdog made
 * its connection, that connection disconnected.
 */
function replaceWorker(workers: Workers, queue: StageQueue, w: WorkerWatchdogDeps, owned: Map<StageQueue, Redis>, log: Logger): void {
  const connection = w.newConnection();
  const old = workers.replace(queue, connection);
  const oldConnection = owned.get(queue);
  owned.set(queue, connection);
  void workers[queue].run().catch((err: unknown) => log.error({ err, queue }, 'queue worker stopped'));
  let timer: NodeJS.Timeout | undefined;
  void Promise.race([old.close(true), new Promise((r) => (timer = setTimeout(r, REPLACED_CLOSE_MS)))])
    .catch((err: unknown) => w.bestEffort.failed('worker_close', err))
    .finally(() => {
      clearTimeout(timer);
      oldConnection?.disconnect();
    });
}

/**
 * Checks every `intervalMs` whether a queue's worker holds due jobs it does not take
 * (stallVerdict), and replaces it if so. `stop` ends the checks; `closeConnections` (after the
 * workers' close) disconnects the connections it made.
 */
export function startWorkerWatchdog(workers: Workers, w: WorkerWatchdogDeps, log: Logger): { stop(): void; closeConnections(): void } {
  const dueSince = new Map<StageQueue, number | undefined>();
  const owned = new Map<StageQueue, Redis>();
  let checking = false;
  let stopped = false;
  const check = async (): Promise<void> => {
    if (checking || stopped) return;
    checking = true;
    try {
      for (const queue of ['flush', 'deliver'] as const) {
        const now = Date.now();
        // A failed read skips this check (stallVerdict: due undefined); the next check reads again.
        const due = await dueJobs(w.redis, w.prefix, QUEUE_NAMES[queue], now).catch((err: unknown) => {
          w.bestEffort.failed('watchdog_due_read', err);
          return undefined;
        });
        const a = workers.activity(queue);
        const seen = { due, running: a.running, concurrency: workers.concurrency(queue), lastProgressAt: a.lastProgressAt };
        const verdict = stallVerdict(dueSince.get(queue), seen, now, w.afterMs);
        dueSince.set(queue, verdict.restart ? undefined : verdict.dueSince);
        if (!verdict.restart || stopped) continue;
        log.warn(
          { queue, due, idleMs: now - a.lastProgressAt, afterMs: w.afterMs },
          'queue worker took none of its due jobs: replacing it with a new worker on a new connection',
        );
        w.metrics.workerRestarted(queue);
        replaceWorker(workers, queue, w, owned, log);
      }
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), w.intervalMs ?? Math.max(1_000, Math.floor(w.afterMs / 6))).unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
    closeConnections() {
      for (const c of owned.values()) c.disconnect();
    },
  };
}

/**
 * Runs the flush and deliver workers; resolves once both are ready. `onStop` receives their close,
 * bounded by the shutdown's grace (`closeWithinGrace`): BullMQ's close waits for the active jobs;
 * at the deadline it stops waiting, and the jobs left go to another replica. With `watchdog`, a
 * worker that takes none of its due jobs is replaced (startWorkerWatchdog).
 */
export function runWorkers(
  workers: Workers,
  opts: {
    log: Logger;
    onStop: (name: string, stop: () => Promise<void>) => void;
    closeWithinGrace: (close: () => Promise<void>) => Promise<boolean>;
    watchdog?: WorkerWatchdogDeps;
  },
): void {
  const { log } = opts;
  const watchdog = opts.watchdog ? startWorkerWatchdog(workers, opts.watchdog, log) : undefined;
  // LIFO: the watchdog stops first, the workers close, then the connections the watchdog made.
  if (watchdog) opts.onStop('worker watchdog connections', async () => watchdog.closeConnections());
  opts.onStop('workers', async () => {
    if (!(await opts.closeWithinGrace(() => workers.close()))) log.warn('shutdown grace over: leaving the active jobs to another replica');
  });
  if (watchdog) opts.onStop('worker watchdog', async () => watchdog.stop());
  void workers.flush.run().catch((err: unknown) => log.error({ err }, 'flush worker stopped'));
  void workers.deliver.run().catch((err: unknown) => log.error({ err }, 'deliver worker stopped'));
}

/** Resolves once the flush and deliver workers are connected and ready. */
export function workersReady(workers: Workers): Promise<unknown> {
  return Promise.all([workers.flush.waitUntilReady(), workers.deliver.waitUntilReady()]);
}

import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { createFlushContext, type FlushContextDeps } from '../track/flush-context.ts';
import { storedGroupBytes } from '../track/redis-store.ts';
import type { TrackStores } from '../track/stores.ts';
import type { FlushIntents } from '../track/flush-intents.ts';
import type { JobHandlers } from './job-handlers.ts';
import type { Queues } from './queues.ts';
import { createWorkers, type Workers } from './worker.ts';

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
    budget: { budget: stores.budget, stateBytes: (groupKey) => storedGroupBytes(redis, prefix, groupKey) },
    metrics: deps.metrics,
    log: deps.log,
    now: deps.now,
  });
}

/**
 * Runs the flush and deliver workers; resolves once both are ready. `onStop` receives their close,
 * bounded by the shutdown's grace (`closeWithinGrace`): BullMQ's close waits for the active jobs;
 * at the deadline it stops waiting, and the jobs left go to another replica.
 */
export function runWorkers(
  workers: Workers,
  opts: { log: Logger; onStop: (name: string, stop: () => Promise<void>) => void; closeWithinGrace: (close: () => Promise<void>) => Promise<boolean> },
): void {
  const { log } = opts;
  opts.onStop('workers', async () => {
    if (!(await opts.closeWithinGrace(() => workers.close()))) log.warn('shutdown grace over: leaving the active jobs to another replica');
  });
  void workers.flush.run().catch((err: unknown) => log.error({ err }, 'flush worker stopped'));
  void workers.deliver.run().catch((err: unknown) => log.error({ err }, 'deliver worker stopped'));
}

/** Resolves once the flush and deliver workers are connected and ready. */
export function workersReady(workers: Workers): Promise<unknown> {
  return Promise.all([workers.flush.waitUntilReady(), workers.deliver.waitUntilReady()]);
}

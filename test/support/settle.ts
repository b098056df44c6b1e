import type { App } from '../../src/app.ts';
import { flushDueKey, knownGroupsKey } from '../../src/track/keys.ts';
import { waitFor } from './redis.ts';

/**
 * Waits on conditions instead of fixed sleeps, for assertions that something did NOT happen (no
 * message, no duplicate): they hold only once the service has done all it would do by then.
 */

/**
 * Resolves once the service (every replica given; they share the queues) has nothing left to do
 * before `horizonMs` from now: no request or ingest in flight, no flush or delivery waiting or
 * running, no delivery retry delayed, and no live delayed flush or flush intent due sooner than the
 * horizon (a superseded one would find itself stale). What it sent by then is all it sends until the
 * horizon; assert "nothing more" after this.
 */
export async function waitSettled(apps: App | readonly App[], opts: { horizonMs?: number; timeoutMs?: number; what?: string } = {}): Promise<void> {
  const replicas: readonly App[] = Array.isArray(apps) ? apps : [apps as App];
  const horizonMs = opts.horizonMs ?? 60_000;
  const settled = async (): Promise<boolean> => {
    for (const app of replicas) {
      const { requests, ingests } = app.inFlight();
      if (requests > 0 || ingests > 0) return false;
    }
    const first = replicas[0];
    if (!first) return true;
    const { flush, deliver } = await first.queues.jobCounts();
    if (flush.waiting + flush.prioritized + flush.active > 0) return false;
    if (deliver.waiting + deliver.prioritized + deliver.active + deliver.delayed > 0) return false;
    const until = Date.now() + horizonMs;
    for (const job of await first.queues.flush.getDelayed()) {
      if (job.timestamp + job.delay > until) continue;
      // A flush superseded by a later one (or of a group gone) finds itself stale and does nothing.
      const state = await first.store.get(job.data.groupKey);
      if (state !== null && state.createdAt === job.data.epoch && state.pendingFlush?.seq === job.data.seq) return false;
    }
    // A flush intent not yet moved to the queue (track/flush-intents.ts) is a flush to come too.
    // (The queues are built on the same key prefix as the tracker's keys: app.ts.)
    const prefix = first.queues.flush.opts.prefix ?? '';
    for (const groupKey of await first.redis.zrangebyscore(flushDueKey(prefix), '-inf', until)) {
      const state = await first.store.get(groupKey);
      if (state?.pendingFlush && state.pendingFlush.dueAt <= until) return false;
    }
    return true;
  };
  // Twice in a row, 50 ms apart: a job moving between two states is never seen as settled.
  let streak = 0;
  await waitFor(async () => ((await settled()) ? ++streak >= 2 : ((streak = 0), false)), opts.timeoutMs ?? 15_000, opts.what ?? 'the service to settle');
}

/** The one alert group under this prefix (the known-groups index), or undefined when there is none. */
export async function onlyGroupKey(app: Pick<App, 'redis'>, prefix: string): Promise<string | undefined> {
  const keys = await app.redis.zrange(knownGroupsKey(prefix), 0, -1);
  if (keys.length > 1) throw new Error(`expected at most one alert group, found ${keys.length}`);
  return keys[0];
}

import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { activeGroupsKey } from '../track/keys.ts';
import { readActiveFindings, reconcileActiveFindings } from '../track/redis-store.ts';
import type { Queues } from './queues.ts';

export interface GaugeRefreshDeps {
  redis: Redis;
  prefix: string;
  queues: Pick<Queues, 'jobCounts'>;
  metrics: Pick<Metrics, 'setActiveGroups' | 'setActiveFindings' | 'setQueueJobs'>;
  log: Logger;
  /** Default 15 s. */
  intervalMs?: number;
  /** MESHDRIFT_MAINTENANCE_BATCH: the size of each step of the active-findings rebuild. */
  maintenanceBatch?: number;
}

/**
 * Refreshes the gauges that read what all replicas share (Redis, BullMQ): active groups, active
 * findings (recounted from the active groups when due), queue jobs by state. They show the same
 * value on every replica (aggregate with max()). On a Redis error a gauge keeps its last value.
 * Refreshes at once, then every `intervalMs`; the returned function stops it.
 */
export function startGaugeRefresh(deps: GaugeRefreshDeps): () => void {
  const { redis, prefix, queues, metrics, log } = deps;
  const refreshFailed = (what: string) => (err: unknown) => log.debug({ error: err instanceof Error ? err.message : String(err) }, `${what} refresh failed`);
  const refresh = (): void => {
    redis.zcard(activeGroupsKey(prefix)).then(
      (n) => metrics.setActiveGroups(n),
      () => undefined,
    );
    reconcileActiveFindings(redis, prefix, undefined, deps.maintenanceBatch)
      .then(
        (groups) => groups !== null && log.debug({ groups }, 'active findings recounted from the active groups'),
        (err: unknown) =>
          log.warn(
            { error: err instanceof Error ? err.message : String(err) },
            'active findings rebuild did not finish; the counts stay as the commits keep them, the next hour retries',
          ),
      )
      .then(() => readActiveFindings(redis, prefix))
      .then((counts) => metrics.setActiveFindings(counts), refreshFailed('active findings'));
    queues.jobCounts().then((counts) => {
      for (const [queue, byState] of Object.entries(counts)) metrics.setQueueJobs(queue, byState);
    }, refreshFailed('queue job counts'));
  };
  refresh();
  const timer = setInterval(refresh, deps.intervalMs ?? 15_000).unref();
  return () => clearInterval(timer);
}

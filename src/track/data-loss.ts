import type { Redis } from 'ioredis';
import type { LoadedPolicy } from '../config/load.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Notification } from '../model/alert-group.ts';
import { dataLossNotification, dataLossReceivers, type DataLossSources } from './data-loss-notice.ts';
import { createRedisEpoch, type DataLoss } from './redis-epoch.ts';

export interface DataLossWatchDeps {
  redis: Redis;
  prefix: string;
  log: Logger;
  now: () => number;
  metrics: Pick<Metrics, 'redisDataLoss' | 'setRedisDataLossRecent'>;
  /** MESHDRIFT_REDIS_DATA_LOSS_WINDOW: how long a loss is "recent" (readiness warning, gauge). */
  windowMs: number;
  /** MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL. */
  checkIntervalMs: number;
  /** MESHDRIFT_CLUSTER, for the notice. */
  cluster: string;
  /** The policy in force, or undefined before it is loaded (then the notice waits for the next loss). */
  policy: () => LoadedPolicy | undefined;
  /** Which sources re-derive findings, for the notice's text. */
  sources: () => DataLossSources;
  /**
   * Re-derives findings from the sources that can list them, where they run here (the leader's
   * audit re-list, the Argo CD API poll); each logs its own outcome. Rejects when one failed.
   */
  rederive: () => Promise<unknown>;
  /** Queues the notice's deliveries. */
  enqueue: (n: Notification) => Promise<void>;
  /** Records the notice in the history. */
  record: (n: Notification) => Promise<void>;
}

export interface DataLossWatch {
  /** Whether Redis still holds what meshdrift wrote; rejects when Redis fails (start() needs it). */
  check(): Promise<void>;
  /** When Redis lost meshdrift's state, while within the window. */
  recentLoss(): number | undefined;
  /** Checks again at every reconnect and every `checkIntervalMs`. */
  start(): void;
  stop(): void;
}

/**
 * Redis data loss (issue #12 item 9): the epoch check, at start, at every reconnect and
 * periodically. A loss is said once across replicas (the notice to the default and console
 * receivers) and findings are re-derived from the sources that can list them (where they run
 * here: the leader). Webhook-only drift comes back as senders send again.
 */
export function createDataLossWatch(deps: DataLossWatchDeps): DataLossWatch {
  const { metrics, log, now } = deps;
  const onLoss = async (loss: DataLoss): Promise<void> => {
    metrics.redisDataLoss();
    metrics.setRedisDataLossRecent(true);
    void deps.rederive().catch((err: unknown) => log.error({ error: err instanceof Error ? err.message : String(err) }, 're-deriving findings after the Redis data loss failed; the next audit or poll retries'));
    const policy = deps.policy();
    if (!loss.announce || !policy) return;
    const receivers = dataLossReceivers(policy);
    const n = dataLossNotification(loss, { cluster: deps.cluster, receivers, sources: deps.sources() });
    await deps.enqueue(n);
    await deps.record(n).catch((err: unknown) => log.warn({ error: err instanceof Error ? err.message : String(err) }, 'recording the data loss notice in the history failed'));
    log.warn({ receivers, group: n.groupKey }, 'Redis data loss announced');
  };
  const epoch = createRedisEpoch({ redis: deps.redis, prefix: deps.prefix, log, now, onLoss });
  const recentLoss = (): number | undefined => {
    const at = epoch.lostAt();
    return at !== undefined && now() - at < deps.windowMs ? at : undefined;
  };
  const checkEpoch = (): void => {
    epoch.check().then(
      () => metrics.setRedisDataLossRecent(recentLoss() !== undefined),
      (err: unknown) => log.debug({ error: err instanceof Error ? err.message : String(err) }, 'redis epoch check failed; retried at the next check'),
    );
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    check: () => epoch.check(),
    recentLoss,
    start() {
      deps.redis.on('ready', checkEpoch);
      timer = setInterval(checkEpoch, deps.checkIntervalMs).unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      deps.redis.off('ready', checkEpoch);
    },
  };
}

import type { Redis } from 'ioredis';
import type { BestEffort } from '../best-effort.ts';
import type { Env } from '../config/env.ts';
import type { LoadedPolicy } from '../config/load.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Notification } from '../model/alert-group.ts';
import { dataLossNotification, dataLossReceivers } from './data-loss-notice.ts';
import { createRedisEpoch, type DataLoss } from './redis-epoch.ts';

export interface DataLossWatchDeps {
  /** MESHDRIFT_KEY_PREFIX, MESHDRIFT_CLUSTER (for the notice), MESHDRIFT_REDIS_DATA_LOSS_WINDOW (how long a loss is "recent"), MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL. */
  env: Pick<Env, 'MESHDRIFT_KEY_PREFIX' | 'MESHDRIFT_CLUSTER' | 'MESHDRIFT_REDIS_DATA_LOSS_WINDOW' | 'MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL'>;
  redis: Redis;
  log: Logger;
  now: () => number;
  metrics: Pick<Metrics, 'redisDataLoss' | 'setRedisDataLossRecent'>;
  /** The policy in force, or undefined before it is loaded (then the notice waits for the next loss). */
  policy: () => LoadedPolicy | undefined;
  /**
   * The sources meshdrift reads on its own (sources/pull-sources.ts): which are configured, for the
   * notice's text, and `rederive()`, which re-derives findings from those that can list them, where
   * they run here (each logs its own outcome; rejects when one failed).
   */
  sources: { kube(): unknown; readonly argoPolling: unknown; rederive(): Promise<unknown> };
  /** Queues the notice's deliveries. */
  /** `forgetScheduledFlushes`: the flush jobs this process remembers adding are gone with the data. */
  queues: { enqueueDeliveries(n: Notification): Promise<void>; forgetScheduledFlushes?(): void };
  /** Records the notice in the history. */
  history: { record(n: Notification): Promise<void> };
  /** Where a failed queuing of the notice (`data_loss_notice_enqueue`, queued again at the next check) is reported. */
  bestEffort: Pick<BestEffort, 'failed'>;
}

export interface DataLossWatch {
  /** Whether Redis still holds what meshdrift wrote; rejects when Redis fails (start() needs it). */
  check(): Promise<void>;
  /** When Redis lost meshdrift's state, while within the window. */
  recentLoss(): number | undefined;
  /** Checks again at every reconnect and every MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL. */
  start(): void;
  stop(): void;
}

/**
 * Redis data loss (issue #12 item 9): the epoch check, at start, at every reconnect and
 * periodically. A loss is said once across replicas (the notice to the default and console
 * receivers) and findings are re-derived from the sources that can list them (where they run
 * here: the leader). Webhook-only drift comes back as senders send again.
 *
 * The notice is queued on the queue connection, which reconnects on its own schedule: the client
 * connection whose 'ready' runs the check can be back before it (one retry step, up to 2 s, later
 * under load), and then the enqueue fails at once (no offline queue). The announcement key is taken
 * by then and the epoch is the new one, so no later check finds the loss again: the notice is kept
 * (one, the latest loss's) and queued again at every check until it is queued. Its jobs' ids make
 * a repeated enqueue a no-op.
 */
export function createDataLossWatch(deps: DataLossWatchDeps): DataLossWatch {
  const { metrics, log, now, env } = deps;
  /** The latest loss's notice while it is not queued yet. */
  let unsent: { n: Notification; receivers: string[] } | undefined;
  let sending: Promise<void> | undefined;
  const queueNotice = async (): Promise<void> => {
    const notice = unsent;
    if (!notice) return;
    try {
      await deps.queues.enqueueDeliveries(notice.n);
    } catch (err) {
      deps.bestEffort.failed('data_loss_notice_enqueue', err);
      return;
    }
    if (unsent === notice) unsent = undefined;
    await deps.history
      .record(notice.n)
      .catch((err: unknown) => log.warn({ error: err instanceof Error ? err.message : String(err) }, 'recording the data loss notice in the history failed'));
    log.warn({ receivers: notice.receivers, group: notice.n.groupKey }, 'Redis data loss announced');
  };
  /** Queues the unsent notice, one attempt at a time; a newer loss's notice waits for the attempt in flight, then goes. */
  const sendUnsent = async (): Promise<void> => {
    while (sending) await sending;
    if (!unsent) return;
    sending = queueNotice().finally(() => {
      sending = undefined;
    });
    await sending;
  };
  const onLoss = async (loss: DataLoss): Promise<void> => {
    deps.queues.forgetScheduledFlushes?.();
    metrics.redisDataLoss();
    metrics.setRedisDataLossRecent(true);
    void deps.sources
      .rederive()
      .catch((err: unknown) =>
        log.error(
          { error: err instanceof Error ? err.message : String(err) },
          're-deriving findings after the Redis data loss failed; the next audit or poll retries',
        ),
      );
    const policy = deps.policy();
    if (!loss.announce || !policy) return;
    const receivers = dataLossReceivers(policy);
    const sources = { kube: deps.sources.kube() !== undefined, argocdApi: deps.sources.argoPolling !== undefined };
    unsent = { n: dataLossNotification(loss, { cluster: env.MESHDRIFT_CLUSTER, receivers, sources }), receivers };
    await sendUnsent();
  };
  const epoch = createRedisEpoch({ redis: deps.redis, prefix: env.MESHDRIFT_KEY_PREFIX, log, now, onLoss });
  const recentLoss = (): number | undefined => {
    const at = epoch.lostAt();
    return at !== undefined && now() - at < env.MESHDRIFT_REDIS_DATA_LOSS_WINDOW ? at : undefined;
  };
  const checkEpoch = (): void => {
    // A notice unsent before this check goes again after it (Redis answers); one found by it was just tried.
    const pending = unsent !== undefined;
    epoch.check().then(
      () => {
        metrics.setRedisDataLossRecent(recentLoss() !== undefined);
        if (pending && unsent) void sendUnsent();
      },
      (err: unknown) => log.debug({ error: err instanceof Error ? err.message : String(err) }, 'redis epoch check failed; retried at the next check'),
    );
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    check: () => epoch.check(),
    recentLoss,
    start() {
      deps.redis.on('ready', checkEpoch);
      timer = setInterval(checkEpoch, env.MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL).unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      deps.redis.off('ready', checkEpoch);
    },
  };
}

import type { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createCatalog } from './classify/catalog.ts';
import { createSharedClock, type SharedClock } from './clock.ts';
import type { Env } from './config/env.ts';
import { createPolicyHolder, type PolicyHolder } from './config/policy-holder.ts';
import { createNotifiers } from './deliver/receivers.ts';
import { createLogger, type Logger } from './log.ts';
import { connected, createRedisConnections, isRedisDown } from './redis.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createQueues, type Queues, type RetryPolicy } from './queue/queues.ts';
import { createWorkers } from './queue/worker.ts';
import { createJobHandlers } from './jobs.ts';
import { createFluxRevisions, createPullSources } from './sources/pull-sources.ts';
import { createRedisAuditTrail } from './remediate/audit.ts';
import { createFlushContext } from './track/flush-context.ts';
import { createIngest, type Ingest } from './track/ingest.ts';
import type { TrackStore } from './track/redis-store.ts';
import { createTrackStores } from './track/stores.ts';
import { groupRedisKey } from './track/keys.ts';
import { createDataLossWatch } from './track/data-loss.ts';
import { startGaugeRefresh } from './queue/gauges.ts';
import { createReadiness } from './http/readiness.ts';
import { createListener } from './http/listener.ts';
import { createHttpApp } from './http/routes.ts';
import { closeWithinGrace, createShutdown } from './shutdown.ts';
import { trackIngestsInFlight } from './track/in-flight.ts';

export interface AppOptions {
  env: Env;
  log?: Logger;
  /** Where the console receiver writes (stdout by default). */
  consoleOut?: Writable;
  registry?: Registry;
  /** Replaces the shared clock altogether (no Redis TIME). */
  now?: () => number;
  /** This replica's own clock, which the shared clock corrects (default Date.now); tests skew it. */
  localClock?: () => number;
  deliveryRetry?: RetryPolicy;
  /** The raw environment, for secrets the policy's receivers name (default process.env). */
  processEnv?: NodeJS.ProcessEnv;
}

export interface App {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The listening address, after start(). */
  address(): { host: string; port: number; url: string };
  readonly ingest: Ingest;
  readonly store: TrackStore;
  readonly queues: Queues;
  readonly metrics: Metrics;
  readonly redis: Redis;
  /** Time as every replica tells it (Redis TIME), unless AppOptions.now replaced it. */
  readonly clock: SharedClock | undefined;
  /** Receiver names of the policy in force (after start). */
  receivers(): readonly string[];
  /** Re-reads the policy file (SIGHUP); true if the new policy is in force. */
  reloadPolicy(): Promise<boolean>;
  /** HTTP requests being answered and ingests running now (what a shutdown waits for). */
  inFlight(): { requests: number; ingests: number };
}

/**
 * The composition root (Alertmanager's app/): builds every stage from the environment and wires
 * them. Building opens the Redis client already (BullMQ's queues connect and write their keys as
 * they are built); the policy, the workers, the sources, the clock and the HTTP listener start in
 * start(). Tests start it in-process on port 0.
 */
export function createApp(opts: AppOptions): App {
  const { env } = opts;
  const log = opts.log ?? createLogger(env.MESHDRIFT_LOG_LEVEL);
  const metrics = createMetrics(opts.registry ?? new Registry(), { appMetrics: env.MESHDRIFT_APP_METRICS });
  const prefix = env.MESHDRIFT_KEY_PREFIX;
  const { client: redis, worker: workerRedis } = createRedisConnections(env.REDIS_URL, log);
  // One clock for all replicas (Redis TIME), measured at start and every MESHDRIFT_CLOCK_SYNC_INTERVAL:
  // every decision (snapshot order, group_wait, silences, timers) uses it.
  const clock = opts.now
    ? undefined
    : createSharedClock({
        redis,
        ...(opts.localClock ? { local: opts.localClock } : {}),
        log,
        syncIntervalMs: env.MESHDRIFT_CLOCK_SYNC_INTERVAL,
        warnOffsetMs: env.MESHDRIFT_CLOCK_WARN_OFFSET,
        onOffset: (seconds) => metrics.setClockOffset(seconds),
        onSyncError: () => metrics.clockSyncFailed(),
      });
  const now = opts.now ?? (clock ? () => clock.now() : Date.now);

  // The policy (and the receivers built from it) is loaded in start(); until then nothing runs.
  let holder: PolicyHolder | undefined;
  const policy = (): PolicyHolder => {
    if (!holder) throw new Error('meshdrift is not started');
    return holder;
  };
  const catalog = createCatalog();
  const stores = createTrackStores({ redis, env, metrics, log, now });
  const { store, owners, silences, inhibitSources, history, budget } = stores;
  // Connection errors are already logged once per connection (redis.ts); here at debug, not raw to stderr.
  const queues = createQueues(redis, prefix, opts.deliveryRetry, { onError: (queue, err) => log.debug({ queue, error: err.message }, 'queue connection error') });
  const audit = createRedisAuditTrail(redis, prefix, { now, maxLen: env.MESHDRIFT_AUDIT_MAX });
  const ingestNow = createIngest({
    policy: () => policy().current().classify,
    store,
    queues,
    owners,
    inhibition: { rules: () => policy().current().inhibitRules, sources: inhibitSources },
    metrics,
    now,
    log: log.child({ component: 'ingest' }),
    maxSenderSkewMs: env.MESHDRIFT_MAX_SENDER_SKEW,
    limits: { snapshotFindings: env.MESHDRIFT_MAX_SNAPSHOT_FINDINGS, groupFindings: env.MESHDRIFT_MAX_GROUP_FINDINGS },
    budget,
  });
  // Every ingest in flight: a shutdown lets them commit all their groups before Redis is closed.
  const inFlight = trackIngestsInFlight(ingestNow);
  const { ingest } = inFlight;
  const workers = createWorkers({
    connection: workerRedis,
    prefix,
    store,
    queues,
    handlers: createJobHandlers({ queues, notifiers: () => policy().notifiers(), audit, metrics, log, now }),
    flushContext: createFlushContext({ policy: () => policy().current(), silences, inhibitSources }),
    onNotification: (n) => history.record(n),
    budget: { budget, stateBytes: (groupKey) => redis.hstrlen(groupRedisKey(prefix, groupKey), 's') },
    metrics,
    log,
    now,
  });

  const fluxRevisions = createFluxRevisions(redis, env, metrics, log);
  // Kubernetes watches and Argo CD API polling, started in start().
  const pulled = createPullSources({ env, ingest, fluxRevisions, catalog, metrics, log, now });
  const { argoPolling } = pulled;
  // Draining from stop(): new requests get 503 with Connection: close, /readyz fails.
  const shutdown = createShutdown(log);
  const dataLoss = createDataLossWatch({
    redis,
    prefix,
    log,
    now,
    metrics,
    windowMs: env.MESHDRIFT_REDIS_DATA_LOSS_WINDOW,
    checkIntervalMs: env.MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL,
    cluster: env.MESHDRIFT_CLUSTER,
    policy: () => holder?.current(),
    sources: () => ({ kube: pulled.kube() !== undefined, argocdApi: argoPolling !== undefined }),
    rederive: () => pulled.rederive(),
    enqueue: (n) => queues.enqueueDeliveries(n),
    record: (n) => history.record(n),
  });
  const ready = createReadiness({ draining: shutdown.draining, redis, kube: () => pulled.kube()?.health(), argocd: () => argoPolling?.health(), recentDataLoss: () => dataLoss.recentLoss() });
  const expressApp = createHttpApp({
    env,
    processEnv: opts.processEnv ?? process.env,
    redis,
    stores,
    queues,
    audit,
    policy,
    catalog,
    ingest,
    fluxRevisions,
    groupInInventory: (cluster, owner, ref) => pulled.kube()?.groupInInventory(cluster, owner, ref),
    ready,
    isUnavailable: (err) => isRedisDown(redis, err),
    metrics,
    log,
    now,
  });
  const listener = createListener(expressApp, shutdown.draining);
  let stopGauges: (() => void) | undefined;

  /**
   * Graceful stop (SIGTERM, issue #12 item 10), bounded by MESHDRIFT_SHUTDOWN_GRACE: no new
   * connections, 503 + Connection: close to new requests on kept-alive ones, in-flight requests and
   * every ingest answer after all their groups are committed, the workers finish their active jobs,
   * and Redis is closed last. What is still running at the deadline is cut: a webhook cut then was
   * never answered 202, so its sender sends it again.
   */
  async function stop(): Promise<void> {
    shutdown.begin(env.MESHDRIFT_SHUTDOWN_GRACE);
    stopGauges?.();
    clock?.stop();
    dataLoss.stop();
    if (!(await listener.quiesce(shutdown.drained))) log.warn({ requests: listener.openRequests() }, 'shutdown grace over: cutting the requests still open');
    // LIFO: stop taking input first, then the workers, then the connections they use.
    await shutdown.runCleanups();
  }

  return {
    ingest,
    store,
    queues,
    metrics,
    redis,
    clock,
    receivers: () => [...policy().notifiers().keys()],
    reloadPolicy: () => policy().reload(),
    inFlight: () => ({ requests: listener.openRequests(), ingests: inFlight.running() }),
    async start() {
      try {
        holder = await createPolicyHolder({
          env,
          processEnv: opts.processEnv ?? process.env,
          buildNotifiers: (receivers) =>
            createNotifiers(receivers, {
              env: opts.processEnv ?? process.env,
              clusters: env.kubeSources.clusters,
              redis,
              keyPrefix: prefix,
              ...(opts.consoleOut ? { consoleOut: opts.consoleOut } : {}),
              ...(env.SLACK_API_URL ? { slackApiUrl: env.SLACK_API_URL } : {}),
              ...(env.ARGOCD_URL ? { argocdUrl: env.ARGOCD_URL } : {}),
              audit,
              onRemediation: (action, outcome) => metrics.remediation(action, outcome),
              log,
              onSlackLostPost: (outcome) => metrics.slackLostPost(outcome),
              stateLostAt: () => dataLoss.recentLoss(),
              now,
            }),
          metrics,
          log,
          now,
        });
        const loaded = holder;
        shutdown.onStop('policy', async () => loaded.close());
        loaded.watch();
        shutdown.onStop('redis', async () => void (await redis.quit().catch(() => redis.disconnect())));
        await connected(redis);
        // Before anything decides: the first measurement must succeed (retried), then it is periodic.
        await clock?.start();
        shutdown.onStop('worker redis', async () => void (await workerRedis.quit().catch(() => workerRedis.disconnect())));
        await connected(workerRedis);
        // Before anything reads or writes: whether Redis still holds what meshdrift wrote (issue #12).
        await dataLoss.check();
        shutdown.onStop('queues', () => queues.close());
        shutdown.onStop('workers', async () => {
          if (!(await closeWithinGrace(shutdown, () => workers.close()))) log.warn('shutdown grace over: leaving the active jobs to another replica');
        });
        shutdown.onStop('in-flight ingests', async () => {
          if (!(await shutdown.drained(() => inFlight.running() === 0))) log.warn({ ingests: inFlight.running() }, 'shutdown grace over: closing Redis under ingests still running');
        });
        void workers.flush.run().catch((err: unknown) => log.error({ err }, 'flush worker stopped'));
        void workers.deliver.run().catch((err: unknown) => log.error({ err }, 'deliver worker stopped'));
        await pulled.start(shutdown.onStop);
        await Promise.all([workers.flush.waitUntilReady(), workers.deliver.waitUntilReady()]);
        await listener.listen(env.PORT, env.HOST);
        // stop() has waited for the open requests (up to the grace); what is left is cut.
        shutdown.onStop('http', () => listener.close());
        stopGauges = startGaugeRefresh({ redis, prefix, queues, metrics, log });
        // Redis data loss: checked at every reconnect and periodically (issue #12 item 9).
        dataLoss.start();
        log.info({ url: this.address().url, policy: loaded.current().source, receivers: [...loaded.notifiers().keys()], cluster: env.MESHDRIFT_CLUSTER, keyPrefix: prefix }, 'meshdrift started');
      } catch (err) {
        await stop();
        throw err;
      }
    },
    stop,
    address: () => listener.address(),
  };
}

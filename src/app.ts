import type { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createCatalog } from './classify/catalog.ts';
import { createSharedClock, type SharedClock } from './clock.ts';
import type { Env } from './config/env.ts';
import { loadPolicyWithReceivers, type PolicyHolder } from './deliver/policy-receivers.ts';
import { createLogger, type Logger } from './log.ts';
import { createBestEffort } from './best-effort.ts';
import { connected, createRedisConnections, createWorkerConnection } from './redis.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createQueues, type Queues, type RetryPolicy } from './queue/queues.ts';
import { createJobHandlers } from './jobs.ts';
import { createRedisStormStore } from './deliver/storm.ts';
import { stormSettingsOf } from './deliver/storm-settings.ts';
import { createStageWorkers, runWorkers, workersReady } from './queue/run-workers.ts';
import { createFluxRevisions, createPullSources } from './sources/pull-sources.ts';
import { createRedisAuditTrail } from './remediate/audit.ts';
import { remediateReceiverFactory } from './remediate/receiver-factory.ts';
import type { Ingest } from './track/ingest.ts';
import type { TrackStore } from './track/redis-store.ts';
import { createIngestStage, createTrackStores } from './track/stores.ts';
import { createFlushIntentMover } from './track/flush-intents.ts';
import { createDataLossWatch } from './track/data-loss.ts';
import { createRedisPreflight } from './track/redis-preflight.ts';
import { redisSettings } from './config/redis-settings.ts';
import { type AdmissionStore, createAdmissionStore } from './track/admission-store.ts';
import { admissionLookupFrom } from './sources/mesh/admission.ts';
import { startGaugeRefresh } from './queue/gauges.ts';
import { createReadiness } from './http/readiness.ts';
import { createListener } from './http/listener.ts';
import { createHttpApp } from './http/routes.ts';
import { createLastSignals } from './track/last-signal.ts';
import { announceExposure } from './http/exposure.ts';
import { type AdmissionEdge, createAdmissionEdge } from './http/admission.ts';
import { loadSenders } from './http/senders.ts';
import { closeWithinGrace, createShutdown } from './shutdown.ts';

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
  /** Who changed a mesh object, as the admission recorder told it (issue #17), shared by every replica. */
  readonly admissionStore: AdmissionStore;
  /** The recorder webhook's HTTPS listener, when MESHDRIFT_ADMISSION is on. */
  readonly admission: AdmissionEdge | undefined;
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
  const { client: redis, queue: queueRedis, worker: workerRedis } = createRedisConnections(redisSettings(env), log);
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
  const { store, history } = stores;
  // Connection errors are already logged once per connection (redis.ts); here at debug, not raw to stderr.
  const onQueueError = (queue: string, err: Error): void => log.debug({ queue, error: err.message }, 'queue connection error');
  // One per process: every best-effort step's failure counted, and logged at most once a minute per step.
  const bestEffort = createBestEffort({ metrics, log, now });
  const queues = createQueues(queueRedis, prefix, opts.deliveryRetry, { onError: onQueueError, bestEffort });
  const audit = createRedisAuditTrail(redis, prefix, { now, maxLen: env.MESHDRIFT_AUDIT_MAX });
  // Every ingest in flight is counted: a shutdown lets them commit before Redis is closed.
  // Flush intents committed with the group states are moved to the flush queue when due (issue #15).
  const flushes = createFlushIntentMover({ redis, keyPrefix: prefix, queues, now, log, bestEffort });
  const inFlight = createIngestStage({ env, stores, flushes, policy: () => policy().current(), metrics, log, now });
  // Each source's last signal per cluster, for the web page's Sources view (issue #21).
  const lastSignals = createLastSignals(redis, prefix, now, { bestEffort });
  const ingest = lastSignals.wrap(inFlight.ingest);
  const stormDefaults = { threshold: env.MESHDRIFT_STORM_THRESHOLD, windowMs: env.MESHDRIFT_STORM_WINDOW };
  const storms = {
    store: createRedisStormStore(redis, prefix, now),
    settingsOf: (receiver: string) => stormSettingsOf(policy().current().receivers, stormDefaults, receiver),
    ...(env.MESHDRIFT_PUBLIC_URL ? { publicUrl: env.MESHDRIFT_PUBLIC_URL } : {}),
    ...(env.ARGOCD_URL ? { argocdUrl: env.ARGOCD_URL } : {}),
  };
  const escalationDefault = (): string[] => {
    const root = policy().current().config.route.receiver;
    return root === undefined ? [] : [root];
  };
  const handlers = createJobHandlers({ queues, notifiers: () => policy().notifiers(), audit, metrics, log, bestEffort, now, storms, escalationDefault });
  const workers = createStageWorkers({
    connection: workerRedis,
    redis,
    prefix,
    stores,
    queues,
    flushes,
    handlers,
    policy: () => policy().current(),
    metrics,
    log,
    now,
  });

  const fluxRevisions = createFluxRevisions(redis, env, metrics, log);
  // Who changed a mesh object, as the admission recorder told it (issue #17); the mesh watch names them too.
  const admissionStore = createAdmissionStore({
    redis,
    keyPrefix: prefix,
    ttlMs: env.MESHDRIFT_ADMISSION_TTL,
    perObject: env.MESHDRIFT_ADMISSION_PER_OBJECT,
    maxRecords: env.MESHDRIFT_ADMISSION_MAX_RECORDS,
    now,
  });
  // Kubernetes watches (the mesh watch among them) and Argo CD API polling, started in start().
  const pulled = createPullSources({
    env,
    ingest,
    fluxRevisions,
    catalog,
    metrics,
    log,
    now,
    admission: admissionLookupFrom(admissionStore, { now, onConfirmed: () => metrics.admissionJoined('confirmed') }),
  });
  // Draining from stop(): new requests get 503 with Connection: close, /readyz fails.
  const shutdown = createShutdown(log);
  const dataLoss = createDataLossWatch({ env, redis, log, now, metrics, policy: () => holder?.current(), sources: pulled, queues, history, bestEffort });
  // Primary, noeviction, AOF reported (issue #20): at start (refuses an unsafe Redis) and at every reconnect.
  const preflight = createRedisPreflight({ redis, log, onResult: (check, state) => metrics.setRedisPreflight(check, state) });
  const ready = createReadiness({ draining: shutdown.draining, redis, sources: pulled, dataLoss, preflight });
  // Sender credentials (throws a ConfigError on a bad MESHDRIFT_SENDERS_FILE or secret).
  const senders = loadSenders(env, opts.processEnv ?? process.env);
  const base = { env, processEnv: opts.processEnv ?? process.env, redis, metrics, log, now };
  const expressApp = createHttpApp(base, {
    ...{ stores, queues, audit, policy, catalog, ingest, fluxRevisions, kube: pulled.kube, ready, senders, lastSignals },
    pollHealth: () => pulled.argoPolling?.health(),
  });
  const listener = createListener(expressApp, shutdown.draining);
  // The recorder admission webhook (issue #17): its own HTTPS listener, off unless MESHDRIFT_ADMISSION.
  const admission = createAdmissionEdge({
    env,
    store: admissionStore,
    ingest,
    catalog,
    metrics,
    log,
    now,
    apps: (seenIn, owner) => pulled.apps.lookup(seenIn, owner),
  });
  let stopGauges: (() => void) | undefined;

  // Graceful stop (SIGTERM, issue #12 item 10), bounded by MESHDRIFT_SHUTDOWN_GRACE (src/shutdown.ts).
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
    admissionStore,
    admission,
    receivers: () => [...policy().notifiers().keys()],
    reloadPolicy: () => policy().reload(),
    inFlight: () => ({ requests: listener.openRequests(), ingests: inFlight.running() }),
    async start() {
      // Secure by default: no endpoint open to anyone unless MESHDRIFT_ALLOW_UNAUTHENTICATED says so.
      // Here, not in a caller, so that every `serve` goes through it; said at every start.
      announceExposure(env, senders, log);
      try {
        const remediate = remediateReceiverFactory({
          audit,
          onRemediation: (action, outcome) => metrics.remediation(action, outcome),
          clusters: env.kubeSources.clusters,
          destinations: env.MESHDRIFT_ARGOCD_DESTINATIONS,
        });
        holder = await loadPolicyWithReceivers({
          ...base,
          consoleOut: opts.consoleOut,
          factories: { remediate },
          stateLostAt: dataLoss.recentLoss,
          bestEffort,
        });
        const loaded = holder;
        shutdown.onStop('policy', async () => loaded.close());
        loaded.watch();
        shutdown.onStop('redis', async () => void (await redis.quit().catch(() => redis.disconnect())));
        shutdown.onStop('queue redis', async () => void (await queueRedis.quit().catch(() => queueRedis.disconnect())));
        await connected(redis);
        await preflight.run();
        preflight.start();
        shutdown.onStop('redis preflight', async () => preflight.stop());
        await connected(queueRedis);
        // Before anything decides: the first measurement must succeed (retried), then it is periodic.
        await clock?.start();
        shutdown.onStop('worker redis', async () => void (await workerRedis.quit().catch(() => workerRedis.disconnect())));
        await connected(workerRedis);
        // Before anything reads or writes: whether Redis still holds what meshdrift wrote (issue #12).
        await dataLoss.check();
        shutdown.onStop('queues', () => queues.close());
        runWorkers(workers, {
          log,
          onStop: shutdown.onStop,
          closeWithinGrace: (close) => closeWithinGrace(shutdown, close),
          // A worker that takes none of its due jobs is replaced (issue #20: Cluster failover).
          watchdog: {
            redis: queueRedis,
            prefix,
            afterMs: env.MESHDRIFT_WORKER_STALL_AFTER,
            newConnection: () => createWorkerConnection(redisSettings(env), log),
            metrics,
            bestEffort,
          },
        });
        flushes.start();
        shutdown.onStop('flush intents', () => flushes.stop());
        shutdown.onStop('in-flight ingests', async () => {
          if (await inFlight.settled(shutdown.drained)) return;
          log.warn({ ingests: inFlight.running() }, 'shutdown grace over: closing Redis under ingests still running');
        });
        await pulled.start(shutdown.onStop);
        await workersReady(workers);
        await listener.listen(env.PORT, env.HOST);
        // stop() has waited for the open requests (up to the grace); what is left is cut.
        shutdown.onStop('http', () => listener.close());
        if (admission) {
          await admission.start();
          // Runs before the Redis cleanups (LIFO): what was queued is recorded within the grace.
          shutdown.onStop('admission', () => admission.stop(Math.max(0, env.MESHDRIFT_SHUTDOWN_GRACE / 2)));
        }
        stopGauges = startGaugeRefresh({ redis, prefix, queues, metrics, log, maintenanceBatch: env.MESHDRIFT_MAINTENANCE_BATCH });
        // Redis data loss: checked at every reconnect and periodically (issue #12 item 9).
        dataLoss.start();
        const { url } = this.address();
        const receivers = [...loaded.notifiers().keys()];
        log.info({ url, policy: loaded.current().source, receivers, cluster: env.MESHDRIFT_CLUSTER, keyPrefix: prefix }, 'meshdrift started');
      } catch (err) {
        await stop();
        throw err;
      }
    },
    stop,
    address: () => listener.address(),
  };
}

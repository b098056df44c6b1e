import type { Redis } from 'ioredis';
import type { Env } from '../config/env.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { SilenceLimits } from '../route/silence.ts';
import { createRedisHistory, type NotificationHistory } from './history.ts';
import { createRedisInhibitSourceStore, type InhibitSourceStore } from './inhibit-sources.ts';
import type { LoadedPolicy } from '../config/load.ts';
import { trackIngestsInFlight, type IngestsInFlight } from './in-flight.ts';
import { createIngest, createRedisOwnerGroupIndex, type IngestDeps, type OwnerGroupIndex } from './ingest.ts';
import { createMemoryBudget, type MemoryBudget } from './memory-budget.ts';
import { createRedisTrackStore, type TrackStore } from './redis-store.ts';
import { createRedisSilenceStore, type SilenceStore } from './silence-store.ts';

/** The tracker's stores on Redis, with the limits the environment sets on them. */
export interface TrackStores {
  store: TrackStore;
  owners: OwnerGroupIndex;
  silences: SilenceStore;
  silenceLimits: SilenceLimits;
  inhibitSources: InhibitSourceStore;
  history: NotificationHistory;
  /** One budget for the work that holds a whole snapshot, group or notification in memory. */
  budget: MemoryBudget;
}

/**
 * Builds the tracker's stores from the environment. A limit that is hit is counted
 * (meshdrift_limit_hits_total) and logged with the setting that bounds it.
 */
export function createTrackStores(deps: { redis: Redis; env: Env; metrics: Metrics; log: Logger; now: () => number }): TrackStores {
  const { redis, env, metrics, log, now } = deps;
  const prefix = env.MESHDRIFT_KEY_PREFIX;
  const store = createRedisTrackStore({
    redis,
    keyPrefix: prefix,
    firingTtlSeconds: Math.ceil(env.MESHDRIFT_FIRING_GROUP_TTL / 1000),
    maxGroups: env.MESHDRIFT_MAX_ALERT_GROUPS,
    maxGroupFindings: env.MESHDRIFT_MAX_GROUP_FINDINGS,
    now,
    onBatch: (batch) => metrics.signalBatch(batch.signals, batch.conflicts),
    onGroupLimit: (groupKey) => {
      metrics.limitHit('alert_groups');
      log.warn({ group: groupKey, max: env.MESHDRIFT_MAX_ALERT_GROUPS }, 'signal refused: the alert group limit is reached (MESHDRIFT_MAX_ALERT_GROUPS)');
    },
    onGroupEvicted: (groupKey) => {
      metrics.limitHit('alert_groups_evicted');
      log.warn(
        { group: groupKey, max: env.MESHDRIFT_MAX_ALERT_GROUPS },
        'alert group limit reached (MESHDRIFT_MAX_ALERT_GROUPS): a resolved group was dropped early to make room',
      );
    },
  });
  const silences = createRedisSilenceStore(redis, prefix, {
    log,
    maxSilences: env.MESHDRIFT_SILENCES_MAX,
    onLimit: () => metrics.limitHit('silences'),
    sweepBatch: env.MESHDRIFT_MAINTENANCE_BATCH,
  });
  const inhibitSources = createRedisInhibitSourceStore(redis, prefix, {
    max: env.MESHDRIFT_MAX_ALERT_GROUPS,
    ttlSeconds: Math.ceil(env.MESHDRIFT_FIRING_GROUP_TTL / 1000),
    onLimit: (dropped) => {
      metrics.limitHit('inhibit_sources');
      log.warn(
        { dropped, max: env.MESHDRIFT_MAX_ALERT_GROUPS },
        'inhibition sources left out: the limit is reached (MESHDRIFT_MAX_ALERT_GROUPS); what they would inhibit is notified',
      );
    },
  });
  return {
    store,
    owners: createRedisOwnerGroupIndex(redis, prefix),
    silences,
    silenceLimits: {
      maxMatchers: env.MESHDRIFT_SILENCE_MAX_MATCHERS,
      maxValueLength: env.MESHDRIFT_SILENCE_MAX_VALUE_LENGTH,
      maxCommentLength: env.MESHDRIFT_SILENCE_MAX_COMMENT_LENGTH,
      maxCreatedByLength: env.MESHDRIFT_SILENCE_MAX_CREATED_BY_LENGTH,
      maxDurationMs: env.MESHDRIFT_SILENCE_MAX_DURATION,
    },
    inhibitSources,
    history: createRedisHistory(redis, prefix, env.MESHDRIFT_HISTORY_MAX),
    budget: createMemoryBudget(env.MESHDRIFT_MAX_FINDINGS_IN_FLIGHT),
  };
}

/**
 * The ingest stage on the tracker's stores, with the bounds the environment sets
 * (MESHDRIFT_MAX_SENDER_SKEW, MESHDRIFT_MAX_SNAPSHOT_FINDINGS, MESHDRIFT_MAX_GROUP_FINDINGS), and
 * every ingest in flight counted: a shutdown lets them commit all their groups before Redis is
 * closed (track/in-flight.ts).
 */
export function createIngestStage(deps: {
  env: Env;
  stores: TrackStores;
  flushes: IngestDeps['flushes'];
  policy: () => Pick<LoadedPolicy, 'classify' | 'inhibitRules'>;
  metrics: Metrics;
  log: Logger;
  now: () => number;
}): IngestsInFlight {
  const { env, stores, policy } = deps;
  const ingestNow = createIngest({
    policy: () => policy().classify,
    store: stores.store,
    flushes: deps.flushes,
    owners: stores.owners,
    inhibition: { rules: () => policy().inhibitRules, sources: stores.inhibitSources },
    metrics: deps.metrics,
    now: deps.now,
    log: deps.log.child({ component: 'ingest' }),
    maxSenderSkewMs: env.MESHDRIFT_MAX_SENDER_SKEW,
    limits: { snapshotFindings: env.MESHDRIFT_MAX_SNAPSHOT_FINDINGS, groupFindings: env.MESHDRIFT_MAX_GROUP_FINDINGS },
    budget: stores.budget,
  });
  return trackIngestsInFlight(ingestNow);
}

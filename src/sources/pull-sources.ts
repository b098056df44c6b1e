import type { Catalog } from '../classify/catalog.ts';
import type { Env } from '../config/env.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Ingest } from '../track/ingest.ts';
import { createArgoCdPolling, type ArgoCdPolling } from './argocd/api-source.ts';
import { createAppIndex, type AppIndex } from './argocd/app-index.ts';
import { createHelmIgnoreIndex, type HelmIgnoreIndex } from './flux/drift-ignore.ts';
import { argoCdPollSettings } from './argocd/poller.ts';
import { createRedisFluxRevisionStore, type FluxRevisionStore } from './flux/revision-store.ts';
import { startLeaderGatedKubeSources, type LeaderGatedKubeSources } from './kube/gated.ts';
import { podNamespace } from './kube/leader.ts';
import type { Redis } from 'ioredis';
import { meshWatchSettings } from './mesh/settings.ts';
import { meshWatchFollowingLeader, startMeshWatch, type LeaderFollowingMeshWatch } from './mesh/watch.ts';
import type { AdmissionLookup } from './mesh/cluster.ts';
import { MESH_CATALOG } from '../classify/catalog.ts';

export interface PullSourcesDeps {
  env: Env;
  ingest: Ingest;
  fluxRevisions: FluxRevisionStore;
  catalog: Catalog;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  /** Admission records of an object (issue #17), for the mesh watch's attributions; optional. */
  admission?: AdmissionLookup;
}

/**
 * The sources meshdrift reads on its own (webhooks are pushed to it): Kubernetes watches and the
 * audit re-list (MESHDRIFT_CLUSTERS; unset: webhooks only) and Argo CD API polling (ARGOCD_URL +
 * ARGOCD_TOKEN). With leader election, one replica (the Lease holder) watches, audits and polls;
 * every replica takes webhooks. Without it, every replica does.
 */
export interface PullSources {
  /** The Kubernetes watches, once started (undefined without MESHDRIFT_CLUSTERS). */
  kube(): LeaderGatedKubeSources | undefined;
  /** Argo CD API polling, when configured. */
  readonly argoPolling: ArgoCdPolling | undefined;
  /** The mesh objects' own watch (issue #16), where it runs. */
  mesh(): LeaderFollowingMeshWatch | undefined;
  /** The Applications the Argo CD watch holds (filled where the watches run: the leader). */
  readonly apps: AppIndex;
  /**
   * After a Redis data loss: re-derives findings from the sources that can list them, where they
   * run here (the leader's audit re-list, an Argo CD API poll now); each logs its outcome.
   */
  rederive(): Promise<unknown>;
  /** Starts what is configured; `onStop` receives what stops each. */
  start(onStop: (name: string, stop: () => Promise<void>) => void): Promise<void>;
}

export function createPullSources(deps: PullSourcesDeps): PullSources {
  const { env, metrics, log } = deps;
  let kube: LeaderGatedKubeSources | undefined;
  let mesh: LeaderFollowingMeshWatch | undefined;
  const apps = createAppIndex({ destinations: env.MESHDRIFT_ARGOCD_DESTINATIONS });
  const helmIgnore = createHelmIgnoreIndex();
  const pollSettings = argoCdPollSettings(env);
  const argoPolling = pollSettings
    ? createArgoCdPolling({ settings: pollSettings, ingest: deps.ingest, log, metrics, now: deps.now, appIndex: apps })
    : undefined;
  return {
    kube: () => kube,
    argoPolling,
    mesh: () => mesh,
    apps,
    rederive: () =>
      Promise.all([
        kube
          ?.audit()
          ?.runOnce()
          .then((r) =>
            log.info({ outcome: r.outcome, signals: r.signals, discovered: r.discovered }, 'after the Redis data loss: Kubernetes audit re-list done'),
          ),
        argoPolling?.pollNow().then((polled) => polled && log.info('after the Redis data loss: Argo CD API poll done')),
        mesh?.current()?.resync(),
      ]),
    async start(onStop) {
      if (env.kubeSources.clusters.length > 0) {
        if (env.MESHDRIFT_MESH_WATCH === 'on') {
          const m = createMeshWatch(deps, apps, helmIgnore);
          mesh = m;
          onStop('mesh watch', () => m.stop());
        }
        const sources = startLeaderGatedKubeSources({
          ...env.kubeSources,
          ingest: deps.ingest,
          appIndex: apps,
          helmIgnore,
          fluxRevisions: deps.fluxRevisions,
          catalog: deps.catalog,
          log,
          now: deps.now,
          onRestart: (info) => metrics.watchRestarted(info.cluster, info.kind),
          downAfterMs: env.MESHDRIFT_SOURCE_DOWN_AFTER,
          leaderElection: env.MESHDRIFT_LEADER_ELECTION
            ? { namespace: env.MESHDRIFT_LEASE_NAMESPACE ?? (await podNamespace('default')), name: env.MESHDRIFT_LEASE_NAME }
            : false,
          audit: { intervalMs: env.MESHDRIFT_AUDIT_INTERVAL, onDiscovered: (n) => metrics.auditDiscovered(n), onRun: (o) => metrics.auditRun(o) },
          onRoleChange: (role) => {
            metrics.setLeader(role === 'leader');
            mesh?.follow(role);
            // The poller follows the watches: on the leader, or everywhere without an election.
            if (role === 'follower') void argoPolling?.stop();
            else argoPolling?.start();
          },
        });
        metrics.setLeaderElection(sources.role() !== 'disabled');
        kube = sources;
        onStop('kubernetes watches', () => sources.stop());
      } else {
        argoPolling?.start();
      }
      if (argoPolling) onStop('argocd api polling', () => argoPolling.stop());
    },
  };
}

/** The mesh watch of MESHDRIFT_CLUSTERS (MESHDRIFT_MESH_*), following the watches' leadership. */
function createMeshWatch(deps: PullSourcesDeps, apps: AppIndex, helmIgnore: HelmIgnoreIndex): LeaderFollowingMeshWatch {
  const { env, metrics, log } = deps;
  return meshWatchFollowingLeader(
    () =>
      startMeshWatch({
        clusters: env.kubeSources.clusters,
        catalog: MESH_CATALOG,
        settings: meshWatchSettings(env),
        ingest: deps.ingest,
        log,
        now: deps.now,
        resyncMs: env.MESHDRIFT_AUDIT_INTERVAL,
        ...(deps.admission ? { admission: deps.admission } : {}),
        apps: (seenIn, owner) => apps.lookup(seenIn, owner),
        helmIgnore: (cluster, owner) => helmIgnore.lookup(cluster, owner),
        metrics: {
          objects: (cluster, kind, count) => metrics.meshObjects(cluster, kind, count),
          state: (cluster, state) => metrics.meshState(cluster, state),
          diffFailed: (cluster) => metrics.meshDiffFailed(cluster),
          capped: (cluster, count) => metrics.meshCapped(cluster, count),
        },
      }),
    log,
  );
}

/** The Flux revision memory (MESHDRIFT_FLUX_REVISION_TTL, MESHDRIFT_FLUX_MAX_SKEW), shared by the webhook and the watches. */
export function createFluxRevisions(redis: Redis, env: Env, metrics: Metrics, log: Logger): FluxRevisionStore {
  return createRedisFluxRevisionStore(redis, env.MESHDRIFT_KEY_PREFIX, {
    ttlSeconds: Math.round(env.MESHDRIFT_FLUX_REVISION_TTL / 1000),
    maxSkewMs: env.MESHDRIFT_FLUX_MAX_SKEW,
    onFutureTimestamp: (claimedMs, nowMs) => {
      log.warn(
        { claimedAheadMs: claimedMs - nowMs, maxSkewMs: env.MESHDRIFT_FLUX_MAX_SKEW },
        'Flux event timestamp past MESHDRIFT_FLUX_MAX_SKEW: counted as receipt time + the skew for the revision memory',
      );
      metrics.limitHit('flux_event_time');
    },
  });
}

import type { KubeConfig } from '@kubernetes/client-node';
import type { Catalog } from '../../classify/catalog.ts';
import type { Logger } from '../../log.ts';
import type { OwnerRef } from '../../model/signal.ts';
import type { Ingest } from '../../track/ingest.ts';
import type { AppIndex } from '../argocd/app-index.ts';
import type { HelmIgnoreIndex } from '../flux/drift-ignore.ts';
import { applicationHandlers } from '../argocd/watch.ts';
import type { FluxRevisionStore } from '../flux/revision-store.ts';
import { chronological } from '../flux/core-event.ts';
import type { FluxEventOutcome } from '../flux/process-event.ts';
import { fluxEventHandlers, helmReleaseHandlers, kustomizationHandlers } from '../flux/watch-handlers.ts';
import type { BackoffPolicy, Delay } from './backoff.ts';
import { kubeConfigFor, type ClusterConfig, type WatchKind } from '../../config/clusters.ts';
import { createInventoryIndex } from './flux-inventory.ts';
import { CUSTOM_RESOURCES, customResourceLister, customResourcePath, eventLister, eventsPath, FLUX_EVENT_COMPONENTS } from './resources.ts';
import { startReachabilityMonitor, type ReachabilityReading } from '../reachability.ts';
import { createSignalQueue } from './signal-queue.ts';
import { slim, slimApplicationSchema, slimEventSchema, slimHelmReleaseSchema, slimKustomizationSchema, type SlimEvent } from './slim.ts';
import { startWatch, type RestartInfo, type WatchedObject, type WatchHandle, type WatchHandlers, type WatchHealth, type WatchTarget } from './watch.ts';

/**
 * The Kubernetes sources of issue #5, composed: per cluster, per kind, per namespace, one informer
 * whose objects become Signals for `ingest`. Each informer lives on its own; a cluster that cannot
 * be reached only makes its own informers retry.
 */

export interface KubeSourcesOptions {
  clusters: readonly ClusterConfig[];
  /** Default: all four. */
  kinds?: readonly WatchKind[];
  /** Default: all namespaces. */
  namespaces?: 'all' | readonly string[];
  /** Label selector for Applications, Kustomizations and HelmReleases. */
  labelSelector?: string;
  ingest: Ingest;
  fluxRevisions: FluxRevisionStore;
  catalog: Pick<Catalog, 'groupOfKind'>;
  log: Logger;
  now?: () => number;
  /** Each informer restart after an error, e.g. `meshdrift_watch_restarts_total{cluster,kind}`. */
  onRestart?: (info: RestartInfo) => void;
  /** Each object left out because it does not parse. */
  onInvalid?: (info: { cluster: string; kind: string; error: string }) => void;
  /** Fed with every watched Application (issue #16: the mesh watch's project, labels, ignoreDifferences). */
  appIndex?: AppIndex;
  /** Fed with every watched HelmRelease's drift-detection ignore rules (the mesh watch honours them). */
  helmIgnore?: HelmIgnoreIndex;
  /** Each watched Flux event's outcome, like meshdrift_signals_total{source="flux-watch"}. */
  onFluxEvent?: (outcome: FluxEventOutcome['outcome']) => void;
  /** Default: `kubeConfigFor`. Tests point it at the fake API server. */
  kubeConfig?: (cluster: ClusterConfig) => KubeConfig;
  /** A source not up for longer than this makes `health().ready` false (default 2 min). */
  downAfterMs?: number;
  delay?: Delay;
  random?: () => number;
  backoff?: BackoffPolicy;
  stableMs?: number;
  listTimeoutMs?: number;
  /** The watch request timeout (default 30 s); see StartWatchOptions.watchTimeoutMs. */
  watchTimeoutMs?: number;
  unservedRecheckMs?: number;
  pageSize?: number;
  /** Ingests running at once, across all informers (default 8). */
  ingestConcurrency?: number;
  /**
   * A cluster down for longer than `downAfterMs` raises its "cluster unreachable" finding, and
   * resolves it when it is up again (sources/reachability.ts). Default on; checked every
   * `everyMs`, by default a quarter of `downAfterMs` between 250 ms and 5 s.
   */
  reachability?: false | { everyMs?: number };
}

export interface ClusterHealth {
  name: string;
  /** `up`: every served kind is up; `down`: none is; `degraded`: some are. */
  state: 'up' | 'degraded' | 'down';
  /** For `down` and `degraded`: since when the oldest of its failing watches is not up. */
  since?: number;
  /** For `down` and `degraded`: the most recent error of a failing watch. */
  lastError?: string;
}

export interface KubeSourcesHealth {
  /** False when some watch has not been up for longer than `downAfterMs`. */
  ready: boolean;
  clusters: ClusterHealth[];
  watches: WatchHealth[];
}

export interface KubeSources {
  stop(): Promise<void>;
  health(): KubeSourcesHealth;
  /**
   * The API group of an object in a watched Kustomization's or HelmRelease's inventory. Pass it to
   * `processFluxEvent` from the webhook too, so webhook change sets get the precise group.
   */
  groupInInventory(cluster: string, owner: OwnerRef, ref: { kind: string; namespace: string; name: string }): string | undefined;
  /** Resolves once every signal seen so far has been ingested (or given up on). */
  idle(): Promise<void>;
}

/**
 * A cluster is reachable when every watch it serves is up, unreachable when none has been for
 * `downAfterMs`; in between (starting, just failed, some kinds failing) the last report stands.
 */
export function clusterReachability(c: ClusterHealth, at: number, downAfterMs: number): ReachabilityReading {
  const base = { cluster: c.name, kind: 'Cluster' as const, name: c.name };
  if (c.state === 'up') return { ...base, reachable: true };
  const since = c.since ?? at;
  if (c.state !== 'down' || at - since < downAfterMs) return { ...base, reachable: undefined };
  const error = c.lastError === undefined ? '' : `: ${c.lastError.length > 200 ? `${c.lastError.slice(0, 199)}…` : c.lastError}`;
  return { ...base, reachable: false, since, detail: `no watch on cluster ${c.name} has worked since ${new Date(since).toISOString()}${error}` };
}

const ALL_KINDS: readonly WatchKind[] = ['applications', 'kustomizations', 'helmreleases', 'events'];

export function startKubeSources(opts: KubeSourcesOptions): KubeSources {
  const now = opts.now ?? Date.now;
  const kinds = opts.kinds ?? ALL_KINDS;
  const namespaces: readonly (string | undefined)[] = opts.namespaces === undefined || opts.namespaces === 'all' ? [undefined] : opts.namespaces;
  const downAfterMs = opts.downAfterMs ?? 120_000;
  const inventory = createInventoryIndex();
  const queue = createSignalQueue({
    log: opts.log,
    ...(opts.ingestConcurrency !== undefined ? { concurrency: opts.ingestConcurrency } : {}),
    ...(opts.delay ? { delay: opts.delay } : {}),
    ...(opts.random ? { random: opts.random } : {}),
  });
  const groupOfKind = (kind: string): string => opts.catalog.groupOfKind(kind);
  const watches: WatchHandle[] = [];
  // Clusters whose KubeConfig could not even be built: reported down, never retried.
  const broken: WatchHealth[] = [];

  for (const cluster of opts.clusters) {
    const log = opts.log.child({ cluster: cluster.name });
    let kc: KubeConfig;
    try {
      kc = (opts.kubeConfig ?? kubeConfigFor)(cluster);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      log.error({ error }, 'cannot build a Kubernetes client for this cluster; its watches are off');
      broken.push({ cluster: cluster.name, kind: 'kubeconfig', namespace: 'all', state: 'down', since: now(), restarts: 0, lists: 0, lastError: error });
      continue;
    }
    const common = { kc, cluster: cluster.name, log, now, ...watchSettings(opts) };
    const fluxDeps = { cluster: cluster.name, ingest: opts.ingest, fluxRevisions: opts.fluxRevisions, groupOfKind, inventory, queue, log, now };
    const start = <T extends WatchedObject>(namespace: string | undefined, target: WatchTarget<T>, handlers: WatchHandlers<T>): void => {
      watches.push(startWatch<T>({ ...common, ...(namespace !== undefined ? { namespace } : {}), target, handlers }));
    };
    const selector = opts.labelSelector !== undefined ? { labelSelector: opts.labelSelector } : {};

    const ctx: KindWatchContext = { opts, cluster: cluster.name, kc, log, now, queue, fluxDeps, selector, start };
    for (const namespace of namespaces) {
      for (const kind of kinds) startKindWatches(ctx, kind, namespace);
    }
  }

  const health = (): KubeSourcesHealth => summarizeHealth([...broken, ...watches.map((w) => w.health())], opts.clusters, now(), downAfterMs);

  const reachability =
    opts.reachability === false
      ? undefined
      : startReachabilityMonitor({
          read: () => health().clusters.map((c) => clusterReachability(c, now(), downAfterMs)),
          ingest: opts.ingest,
          log: opts.log,
          now,
          everyMs: opts.reachability?.everyMs ?? Math.min(5_000, Math.max(250, downAfterMs / 4)),
        });

  return {
    async stop() {
      await reachability?.stop();
      queue.stop();
      await Promise.all(watches.map((w) => w.stop()));
    },
    health,
    groupInInventory: (cluster, owner, ref) => inventory.groupOf(cluster, owner, ref),
    idle: () => queue.idle(),
  };
}

/** What starting one kind's watches in one cluster needs. */
interface KindWatchContext {
  opts: KubeSourcesOptions;
  cluster: string;
  kc: KubeConfig;
  log: Logger;
  now: () => number;
  queue: ReturnType<typeof createSignalQueue>;
  fluxDeps: Parameters<typeof kustomizationHandlers>[0];
  selector: { labelSelector?: string };
  start: <T extends WatchedObject>(namespace: string | undefined, target: WatchTarget<T>, handlers: WatchHandlers<T>) => void;
}

/** Starts the watches of one kind in one namespace (all namespaces when undefined) of one cluster. */
function startKindWatches(c: KindWatchContext, kind: WatchKind, namespace: string | undefined): void {
  switch (kind) {
    case 'applications': {
      const r = CUSTOM_RESOURCES.applications;
      c.start(
        namespace,
        {
          kind,
          path: customResourcePath(r, namespace),
          list: customResourceLister(c.kc, r, namespace),
          slim: (raw) => slim(slimApplicationSchema, raw),
          ...c.selector,
        },
        indexed(c.cluster, c.opts.appIndex, applicationHandlers({ cluster: c.cluster, ingest: c.opts.ingest, queue: c.queue, log: c.log, now: c.now })),
      );
      break;
    }
    case 'kustomizations': {
      const r = CUSTOM_RESOURCES.kustomizations;
      c.start(
        namespace,
        {
          kind,
          path: customResourcePath(r, namespace),
          list: customResourceLister(c.kc, r, namespace),
          slim: (raw) => slim(slimKustomizationSchema, raw),
          ...c.selector,
        },
        kustomizationHandlers(c.fluxDeps),
      );
      break;
    }
    case 'helmreleases': {
      const r = CUSTOM_RESOURCES.helmreleases;
      c.start(
        namespace,
        {
          kind,
          path: customResourcePath(r, namespace),
          list: customResourceLister(c.kc, r, namespace),
          slim: (raw) => slim(slimHelmReleaseSchema, raw),
          ...c.selector,
        },
        indexed(c.cluster, c.opts.helmIgnore, helmReleaseHandlers(c.fluxDeps)),
      );
      break;
    }
    case 'events':
      for (const component of FLUX_EVENT_COMPONENTS) {
        c.start<SlimEvent>(
          namespace,
          {
            kind: `events/${component}`,
            path: eventsPath(namespace),
            list: eventLister(c.kc, namespace),
            slim: (raw) => slim(slimEventSchema, raw),
            // `source` matches source.component, or reportingComponent when that is empty.
            fieldSelector: `source=${component}`,
            order: chronological,
          },
          fluxEventHandlers({ ...c.fluxDeps, ...(c.opts.onFluxEvent ? { onOutcome: c.opts.onFluxEvent } : {}) }),
        );
      }
      break;
  }
}

/** The handlers, feeding an index (the Argo CD apps', the HelmReleases' ignore rules) first when there is one. */
function indexed<T extends { metadata: { namespace?: string | undefined; name: string } }>(
  cluster: string,
  index: { put(cluster: string, obj: T): void; remove(cluster: string, obj: T): void } | undefined,
  handlers: WatchHandlers<T>,
): WatchHandlers<T> {
  if (index === undefined) return handlers;
  return {
    add(app) {
      index.put(cluster, app);
      handlers.add(app);
    },
    update(app) {
      index.put(cluster, app);
      handlers.update(app);
    },
    delete(app) {
      index.remove(cluster, app);
      handlers.delete(app);
    },
  };
}

/** The informer settings every watch shares, from the options given. */
function watchSettings(opts: KubeSourcesOptions) {
  return {
    ...(opts.onRestart ? { onRestart: opts.onRestart } : {}),
    ...(opts.onInvalid ? { onInvalid: opts.onInvalid } : {}),
    ...(opts.delay ? { delay: opts.delay } : {}),
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    ...(opts.stableMs !== undefined ? { stableMs: opts.stableMs } : {}),
    ...(opts.listTimeoutMs !== undefined ? { listTimeoutMs: opts.listTimeoutMs } : {}),
    ...(opts.watchTimeoutMs !== undefined ? { watchTimeoutMs: opts.watchTimeoutMs } : {}),
    ...(opts.unservedRecheckMs !== undefined ? { unservedRecheckMs: opts.unservedRecheckMs } : {}),
    ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}),
  };
}

/** Readiness and per-cluster state from every watch's health (and the clusters with no client), at `at`. */
function summarizeHealth(list: WatchHealth[], clusters: readonly ClusterConfig[], at: number, downAfterMs: number): KubeSourcesHealth {
  const ready = list.every((w) => w.state === 'up' || w.state === 'skipped' || w.state === 'stopped' || at - w.since <= downAfterMs);
  const perCluster = clusters.map((c): ClusterHealth => {
    const mine = list.filter((w) => w.cluster === c.name && w.state !== 'skipped' && w.state !== 'stopped');
    const failing = mine.filter((w) => w.state !== 'up');
    if (failing.length === 0) return { name: c.name, state: 'up' };
    const since = Math.min(...failing.map((w) => w.since));
    const lastError = failing.find((w) => w.lastError !== undefined)?.lastError;
    return { name: c.name, state: failing.length === mine.length ? 'down' : 'degraded', since, ...(lastError !== undefined ? { lastError } : {}) };
  });
  return { ready, clusters: perCluster, watches: list };
}

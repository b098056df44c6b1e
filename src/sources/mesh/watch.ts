import type { KubeConfig } from '@kubernetes/client-node';
import type { CatalogEntry } from '../../classify/catalog.ts';
import { kubeConfigFor, type ClusterConfig } from '../../config/clusters.ts';
import type { Logger } from '../../log.ts';
import type { Ingest } from '../../track/ingest.ts';
import { backoffDelay, sleep, type BackoffPolicy, type Delay } from '../kube/backoff.ts';
import { customResourceLister, customResourcePath } from '../kube/resources.ts';
import { createSignalQueue } from '../kube/signal-queue.ts';
import { startWatch, statusOf, type WatchHandle, type WatchHealth } from '../kube/watch.ts';
import { createMeshCluster, type AdmissionLookup, type AppLookup, type HelmIgnoreLookup, type MeshCluster, type MeshWatchMetrics } from './cluster.ts';
import { discoverMeshResources, type MeshResource } from './discovery.ts';
import type { MeshWatchSettings } from './settings.ts';
import type { SlimMeshObject } from './slim.ts';

/**
 * The watch of the mesh objects themselves (issue #16): per configured cluster, the catalog's kinds
 * the cluster serves (API discovery, looked at again every `rediscoverMs`, so a CRD installed later
 * is picked up and one not installed costs nothing), in the configured namespaces, through the
 * informers of sources/kube/watch.ts (list + watch, slimmed objects, restarts with backoff, 410
 * relists). A kind the service account may not list (403) is skipped with one warning and tried
 * again at the next discovery. Run it on the leader only (sources/pull-sources.ts).
 */

export interface MeshWatchOptions {
  clusters: readonly ClusterConfig[];
  catalog: readonly CatalogEntry[];
  settings: MeshWatchSettings;
  ingest: Ingest;
  log: Logger;
  now?: () => number;
  metrics?: MeshWatchMetrics;
  admission?: AdmissionLookup;
  /** The owning Application as the Argo CD watch knows it (project, labels, ignoreDifferences, its cluster). */
  apps?: AppLookup;
  /** A HelmRelease owner's drift-detection ignore rules, as the HelmRelease watch knows them. */
  helmIgnore?: HelmIgnoreLookup;
  kubeConfig?: (cluster: ClusterConfig) => KubeConfig;
  /** How often discovery runs again (default 10 min); after a failure, sooner, with backoff. */
  rediscoverMs?: number;
  /** How often every owner's watch-only snapshot is sent again (default 5 min). */
  resyncMs?: number;
  delay?: Delay;
  random?: () => number;
  backoff?: BackoffPolicy;
  listTimeoutMs?: number;
  watchTimeoutMs?: number;
  pageSize?: number;
  ingestConcurrency?: number;
}

export interface MeshWatch {
  stop(): Promise<void>;
  watches(): WatchHealth[];
  /** Resolves once every signal so far has been ingested. */
  idle(): Promise<void>;
  /** Sends every owner's watch-only snapshot again now. */
  resync(): void;
  /** Resolves once each cluster's first discovery has started its watches (or failed). */
  discovered(): Promise<void>;
}

interface ClusterRun {
  name: string;
  kc: KubeConfig;
  mesh: MeshCluster;
  watches: Map<string, WatchHandle>;
  forbidden: Set<string>;
}

export function startMeshWatch(opts: MeshWatchOptions): MeshWatch {
  const now = opts.now ?? Date.now;
  const delay = opts.delay ?? sleep;
  const abort = new AbortController();
  const queue = createSignalQueue({
    log: opts.log,
    ...(opts.ingestConcurrency !== undefined ? { concurrency: opts.ingestConcurrency } : {}),
    ...(opts.delay ? { delay: opts.delay } : {}),
    ...(opts.random ? { random: opts.random } : {}),
  });
  const runs: ClusterRun[] = [];
  const firsts: Promise<void>[] = [];
  for (const cluster of opts.clusters) {
    const log = opts.log.child({ cluster: cluster.name, source: 'mesh-watch' });
    let kc: KubeConfig;
    try {
      kc = (opts.kubeConfig ?? kubeConfigFor)(cluster);
    } catch (err) {
      log.error({ error: err instanceof Error ? err.message : String(err) }, 'cannot build a Kubernetes client for this cluster; its mesh watch is off');
      continue;
    }
    const mesh = createMeshCluster({
      cluster: cluster.name,
      settings: opts.settings,
      ingest: opts.ingest,
      queue,
      log,
      now,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      ...(opts.admission ? { admission: opts.admission } : {}),
      ...(opts.apps ? { apps: opts.apps } : {}),
      ...(opts.helmIgnore ? { helmIgnore: opts.helmIgnore } : {}),
    });
    const run: ClusterRun = { name: cluster.name, kc, mesh, watches: new Map(), forbidden: new Set() };
    runs.push(run);
    let first: () => void = () => {};
    firsts.push(new Promise<void>((resolve) => (first = resolve)));
    void discoveryLoop(opts, run, log, { now, delay, signal: abort.signal, first });
  }
  const resyncMs = opts.resyncMs ?? 300_000;
  void (async () => {
    while (!abort.signal.aborted) {
      await delay(resyncMs, abort.signal);
      if (!abort.signal.aborted) for (const r of runs) r.mesh.resync();
    }
  })();

  return {
    async stop() {
      abort.abort();
      queue.stop();
      await Promise.all(runs.flatMap((r) => [...r.watches.values()].map((w) => w.stop())));
    },
    watches: () => runs.flatMap((r) => [...r.watches.values()].map((w) => w.health())),
    idle: () => queue.idle(),
    resync: () => {
      for (const r of runs) r.mesh.resync();
    },
    discovered: () => Promise.all(firsts).then(() => undefined),
  };
}

interface LoopCtx {
  now: () => number;
  delay: Delay;
  signal: AbortSignal;
  first: () => void;
}

/** Discovery now and every `rediscoverMs` (sooner, with backoff, after a failure); new kinds get their watches. */
async function discoveryLoop(opts: MeshWatchOptions, run: ClusterRun, log: Logger, ctx: LoopCtx): Promise<void> {
  let failures = 0;
  while (!ctx.signal.aborted) {
    let wait = opts.rediscoverMs ?? 600_000;
    try {
      const found = await discoverMeshResources(run.kc, opts.catalog, opts.listTimeoutMs ?? 30_000);
      for (const e of found.errors) log.warn({ error: e }, 'mesh API group discovery failed for one group; looking again later');
      if (ctx.signal.aborted) break;
      await startNewWatches(opts, run, found.resources, log, ctx);
      failures = 0;
    } catch (err) {
      wait = Math.min(wait, backoffDelay(failures++, opts.backoff, opts.random));
      log.warn({ error: err instanceof Error ? err.message : String(err), retryInMs: wait }, 'mesh API discovery failed');
    }
    ctx.first();
    await ctx.delay(wait, ctx.signal);
  }
}

/** Starts the informers of the resources not watched yet, after a probe that skips what RBAC forbids. */
async function startNewWatches(opts: MeshWatchOptions, run: ClusterRun, resources: readonly MeshResource[], log: Logger, ctx: LoopCtx): Promise<void> {
  const namespaces = opts.settings.namespaces;
  for (const r of resources) {
    const scopes: (string | undefined)[] = !r.namespaced ? (namespaces === 'all' ? [undefined] : []) : namespaces === 'all' ? [undefined] : [...namespaces];
    for (const namespace of scopes) {
      const key = `${r.group}/${r.kind}/${namespace ?? ''}`;
      if (run.watches.has(key) || ctx.signal.aborted) continue;
      const list = customResourceLister(run.kc, r, namespace);
      try {
        await list({ limit: 1 });
        run.forbidden.delete(key);
      } catch (err) {
        const status = statusOf(err);
        if (status === 403 || status === 401) {
          if (!run.forbidden.has(key))
            log.warn(
              { kind: r.kind, group: r.group, namespace: namespace ?? 'all' },
              'not allowed to list this mesh kind (RBAC); skipped until the next discovery',
            );
          run.forbidden.add(key);
          continue;
        }
        // Anything else is the informer's business (it retries with backoff and reports health).
      }
      run.watches.set(key, startMeshInformer(opts, run, r, namespace, log, ctx.now));
    }
  }
}

function startMeshInformer(
  opts: MeshWatchOptions,
  run: ClusterRun,
  r: MeshResource,
  namespace: string | undefined,
  log: Logger,
  now: () => number,
): WatchHandle {
  const ref = { group: r.group, kind: r.kind };
  return startWatch<SlimMeshObject>({
    kc: run.kc,
    cluster: run.name,
    ...(namespace !== undefined ? { namespace } : {}),
    target: {
      kind: `mesh/${r.group}/${r.kind}`,
      path: customResourcePath(r, namespace),
      list: customResourceLister(run.kc, r, namespace),
      slim: (raw) => run.mesh.slim(raw, ref),
    },
    handlers: run.mesh.handlers(),
    log,
    now,
    ...(opts.delay ? { delay: opts.delay } : {}),
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    ...(opts.listTimeoutMs !== undefined ? { listTimeoutMs: opts.listTimeoutMs } : {}),
    ...(opts.watchTimeoutMs !== undefined ? { watchTimeoutMs: opts.watchTimeoutMs } : {}),
    ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}),
  });
}

/** A mesh watch that follows leadership: started while leading (or with no election), stopped otherwise; starts and stops in order. */
export interface LeaderFollowingMeshWatch {
  follow(role: 'leader' | 'follower' | 'disabled'): void;
  current(): MeshWatch | undefined;
  stop(): Promise<void>;
}

export function meshWatchFollowingLeader(start: () => MeshWatch, log: Logger): LeaderFollowingMeshWatch {
  let running: MeshWatch | undefined;
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  const enqueue = (step: () => Promise<void> | void): void => {
    chain = chain.then(step).catch((err: unknown) => log.error({ error: err instanceof Error ? err.message : String(err) }, 'mesh watch start or stop failed'));
  };
  return {
    follow(role) {
      enqueue(async () => {
        if (!stopped && role !== 'follower' && !running) running = start();
        else if (role === 'follower' && running) {
          const r = running;
          running = undefined;
          await r.stop();
        }
      });
    },
    current: () => running,
    async stop() {
      stopped = true;
      enqueue(async () => {
        const r = running;
        running = undefined;
        await r?.stop();
      });
      await chain;
    },
  };
}

import { oneAtATime } from '../one-at-a-time.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Catalog } from '../../classify/catalog.ts';
import type { Logger } from '../../log.ts';
import type { OwnerRef, Signal } from '../../model/signal.ts';
import { clusterOwnerPath } from '../../model/owner.ts';
import type { Ingest, IngestOutcome } from '../../track/ingest.ts';
import { applicationToSignal } from '../argocd/application.ts';
import { helmReleaseToSignal, kustomizationToSignal } from '../flux/status.ts';
import { sleep, type Delay } from './backoff.ts';
import { kubeConfigFor, type ClusterConfig, type WatchKind } from '../../config/clusters.ts';
import { createInventoryIndex } from './flux-inventory.ts';
import { CUSTOM_RESOURCES, customResourceLister, type CustomResource, type ListPageFn } from './resources.ts';
import { statusOf } from './watch.ts';
import { slim, slimApplicationSchema, slimHelmReleaseSchema, slimKustomizationSchema, type SlimApplication, type SlimKustomization } from './slim.ts';
import { withTimeout } from '../../net/with-timeout.ts';
import { firstLineOf } from '../../model/error-message.ts';

/**
 * The audit cycle (issue #5): every `intervalMs` (default 5 min) a fresh, paginated list of the
 * Applications, Kustomizations and HelmReleases of every cluster (never the informers' cache),
 * each object turned into the snapshot signal the watch would send (same converters, source
 * `audit`) and fed to `ingest`. So an event that a watch or webhook lost hides drift for at most
 * one period, and alerts whose owner is clean again resolve.
 *
 * An audit signal whose ingest answers `tracked` changed tracked state: something the watches
 * and webhooks had missed (`onDiscovered`). An owner listed by the previous run and gone from this
 * one was deleted while its DELETED event was lost: it gets an empty snapshot, which resolves it.
 *
 * Core Events are not audited: they are edge records, not level state; the events watch relists
 * them itself (and processFluxEvent makes that idempotent).
 */

export type AuditKind = Exclude<WatchKind, 'events'>;
export type AuditRunOutcome = 'ok' | 'partial' | 'failed';

export interface AuditRunReport {
  outcome: AuditRunOutcome;
  /** Objects listed, over every cluster and kind. */
  listed: number;
  /** Signals ingested. */
  signals: number;
  /** Signals whose ingest changed tracked state (`tracked`): drift or resolves the sources missed. */
  discovered: number;
  /** Owners gone since the previous run, resolved with an empty snapshot. */
  vanished: number;
  /** `<cluster>/<kind>[/<namespace>]: error` for each list that failed, and each ingest that failed. */
  errors: string[];
  durationMs: number;
}

export interface AuditCycleOptions {
  clusters: readonly ClusterConfig[];
  /** Default: applications, kustomizations, helmreleases ('events' is ignored). */
  kinds?: readonly WatchKind[];
  namespaces?: 'all' | readonly string[];
  labelSelector?: string;
  ingest: Ingest;
  catalog: Pick<Catalog, 'groupOfKind'>;
  log: Logger;
  /** Default 5 min. */
  intervalMs?: number;
  /** Run once right away instead of after the first interval (default false: the watches just listed). */
  runAtStart?: boolean;
  /** Each run's count of discoveries (> 0 only), e.g. `meshdrift_audit_discovered_total`. */
  onDiscovered?: (count: number) => void;
  /** Each run's outcome, e.g. `meshdrift_audit_runs_total{outcome}`. */
  onRun?: (outcome: AuditRunOutcome, report: AuditRunReport) => void;
  kubeConfig?: (cluster: ClusterConfig) => KubeConfig;
  now?: () => number;
  delay?: Delay;
  pageSize?: number;
  listTimeoutMs?: number;
  /** Ingests at once within one run (default 4). */
  ingestConcurrency?: number;
}

export interface AuditCycle {
  /** One full run now (runs never overlap: a call during a run waits for it, then runs). */
  runOnce(): Promise<AuditRunReport>;
  stop(): Promise<void>;
}

const AUDIT_KINDS: readonly AuditKind[] = ['applications', 'kustomizations', 'helmreleases'];

const message = (err: unknown): string => firstLineOf(err, 300);

async function listAll(list: ListPageFn, pageSize: number, timeoutMs: number, labelSelector: string | undefined, what: string): Promise<unknown[]> {
  const items: unknown[] = [];
  let cont: string | undefined;
  do {
    const page = await withTimeout(
      list({ limit: pageSize, ...(cont !== undefined ? { continue: cont } : {}), ...(labelSelector !== undefined ? { labelSelector } : {}) }),
      timeoutMs,
      `list ${what}`,
    );
    items.push(...page.items);
    cont = page.metadata?.continue;
  } while (cont !== undefined);
  return items;
}

/** The summary line of one audit run. */
function logRunDone(log: Logger, report: AuditRunReport): void {
  log.info(
    {
      outcome: report.outcome,
      listed: report.listed,
      signals: report.signals,
      discovered: report.discovered,
      vanished: report.vanished,
      errors: report.errors.length,
      durationMs: report.durationMs,
    },
    'audit run done',
  );
}

/** What the audit remembers of an owner between runs, to resolve it if it vanishes. */
interface Seen {
  owner: OwnerRef;
  observedAt: number;
}

export function startAuditCycle(opts: AuditCycleOptions): AuditCycle {
  const now = opts.now ?? Date.now;
  const delay = opts.delay ?? sleep;
  const intervalMs = opts.intervalMs ?? 300_000;
  const pageSize = opts.pageSize ?? 100;
  const listTimeoutMs = opts.listTimeoutMs ?? 60_000;
  const concurrency = Math.max(1, opts.ingestConcurrency ?? 4);
  const kinds = AUDIT_KINDS.filter((k) => (opts.kinds ?? AUDIT_KINDS).includes(k));
  const namespaces: readonly (string | undefined)[] = opts.namespaces === undefined || opts.namespaces === 'all' ? [undefined] : opts.namespaces;
  const log = opts.log.child({ component: 'audit' });
  const abort = new AbortController();
  const groupOfKind = (kind: string): string => opts.catalog.groupOfKind(kind);
  // Per cluster/kind/namespace scope: the owners the last complete list of it returned.
  const previous = new Map<string, Map<string, Seen>>();
  const kubeConfigs = new Map<string, KubeConfig>();
  let stopped = false;

  const kcOf = (cluster: ClusterConfig): KubeConfig => {
    let kc = kubeConfigs.get(cluster.name);
    if (!kc) {
      kc = (opts.kubeConfig ?? kubeConfigFor)(cluster);
      kubeConfigs.set(cluster.name, kc);
    }
    return kc;
  };

  async function run(): Promise<AuditRunReport> {
    const started = now();
    const report: AuditRunReport = { outcome: 'ok', listed: 0, signals: 0, discovered: 0, vanished: 0, errors: [], durationMs: 0 };
    let scopes = 0;
    let failedScopes = 0;
    for (const cluster of opts.clusters) {
      if (stopped) break;
      let kc: KubeConfig;
      try {
        kc = kcOf(cluster);
      } catch (err) {
        report.errors.push(`${cluster.name}: kubeconfig: ${message(err)}`);
        scopes++;
        failedScopes++;
        continue;
      }
      for (const namespace of namespaces) {
        for (const kind of kinds) {
          if (stopped) break;
          scopes++;
          const resource: CustomResource = CUSTOM_RESOURCES[kind];
          const scope = `${cluster.name}/${kind}${namespace !== undefined ? `/${namespace}` : ''}`;
          let items: unknown[];
          try {
            items = await listAll(customResourceLister(kc, resource, namespace), pageSize, listTimeoutMs, opts.labelSelector, scope);
          } catch (err) {
            // A kind the cluster does not serve is no failure (the watch skips it too).
            if (statusOf(err) === 404) continue;
            failedScopes++;
            report.errors.push(`${scope}: ${message(err)}`);
            log.warn({ scope, error: message(err) }, 'audit list failed');
            continue;
          }
          report.listed += items.length;
          const at = now();
          const signals = signalsOf(cluster.name, kind, items, at, groupOfKind, log);
          const { seen, vanished } = compareWithPrevious(cluster.name, kind, items, signals, previous.get(scope), at);
          report.vanished += vanished.length;
          previous.set(scope, seen);
          await ingestAll(opts.ingest, log, concurrency, () => stopped, [...signals, ...vanished], report);
        }
      }
    }
    report.durationMs = now() - started;
    report.outcome = failedScopes === 0 && report.errors.length === 0 ? 'ok' : failedScopes === scopes && scopes > 0 ? 'failed' : 'partial';
    logRunDone(log, report);
    if (report.discovered > 0) opts.onDiscovered?.(report.discovered);
    opts.onRun?.(report.outcome, report);
    return report;
  }

  // One run at a time: a call during a run waits for it, then runs.
  const runs = oneAtATime(run);
  const runOnce = (): Promise<AuditRunReport> => runs.run();

  const loop = async (): Promise<void> => {
    if (!opts.runAtStart) await delay(intervalMs, abort.signal);
    while (!stopped) {
      try {
        await runOnce();
      } catch (err) {
        log.error({ error: message(err) }, 'audit run failed');
      }
      if (stopped) break;
      await delay(intervalMs, abort.signal);
    }
  };
  const looping = loop();

  return {
    runOnce,
    async stop() {
      if (stopped) return;
      stopped = true;
      abort.abort();
      await looping;
      await runs.idle();
    },
  };
}

/** The signals for one listed scope; objects that do not parse are skipped (and logged). */
function signalsOf(cluster: string, kind: AuditKind, items: unknown[], at: number, groupOfKind: (kind: string) => string, log: Logger): Signal[] {
  const out: Signal[] = [];
  const bad = (error: string): void => log.warn({ cluster, kind, error }, 'listed object does not match the expected shape; left out of the audit');
  switch (kind) {
    case 'applications':
      for (const raw of items) {
        const app = slim<SlimApplication>(slimApplicationSchema, raw);
        if (!app.ok) bad(app.error);
        else out.push(applicationToSignal(app.object, { cluster, source: 'audit', now: at }));
      }
      break;
    case 'kustomizations':
      for (const raw of items) {
        const k = slim<SlimKustomization>(slimKustomizationSchema, raw);
        if (!k.ok) bad(k.error);
        else {
          const signal = kustomizationToSignal(k.object, { cluster, now: at });
          if (signal) out.push({ ...signal, source: 'audit' });
        }
      }
      break;
    case 'helmreleases': {
      const inventory = createInventoryIndex();
      for (const raw of items) {
        const hr = slim<SlimKustomization>(slimHelmReleaseSchema, raw);
        if (!hr.ok) {
          bad(hr.error);
          continue;
        }
        const owner: OwnerRef = { kind: 'HelmRelease', namespace: hr.object.metadata.namespace ?? '', name: hr.object.metadata.name };
        inventory.set(
          cluster,
          owner,
          (hr.object.status?.inventory?.entries ?? []).map((e) => e.id),
        );
        const signal = helmReleaseToSignal(hr.object, { cluster, now: at, groupOfKind, groupInInventory: (ref) => inventory.groupOf(cluster, owner, ref) });
        if (signal) out.push({ ...signal, source: 'audit' });
      }
      break;
    }
  }
  return out;
}

/** Owners in `items` (even those whose status says nothing yet: they still exist). */
function ownersOf(kind: AuditKind, items: unknown[]): OwnerRef[] {
  const k = CUSTOM_RESOURCES[kind].kind;
  const out: OwnerRef[] = [];
  for (const raw of items) {
    const meta = (raw as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
    if (typeof meta?.name === 'string') out.push({ kind: k, namespace: typeof meta.namespace === 'string' ? meta.namespace : '', name: meta.name });
  }
  return out;
}

/** Ingests `signals`, `concurrency` at a time, until `stopped()`; counts them, and what they discovered, in `report`. */
async function ingestAll(ingest: Ingest, log: Logger, concurrency: number, stopped: () => boolean, signals: Signal[], report: AuditRunReport): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < signals.length && !stopped()) {
      const signal = signals[next++]!;
      let result: IngestOutcome;
      try {
        result = await ingest(signal);
      } catch (err) {
        report.errors.push(`${clusterOwnerPath(signal.cluster, signal.owner)}: ingest: ${message(err)}`);
        continue;
      }
      report.signals++;
      if (result.outcome === 'tracked') {
        report.discovered++;
        log.info(
          { cluster: signal.cluster, owner: signal.owner, findings: result.findings },
          'the audit changed tracked state: the watches or webhooks had missed it',
        );
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, signals.length) }, worker));
}

/**
 * What one complete list of a scope saw (each owner with when it was last observed), and an empty
 * snapshot for each owner the previous complete list had and this one has not: deleted, maybe unseen.
 */
function compareWithPrevious(
  cluster: string,
  kind: AuditKind,
  items: unknown[],
  signals: readonly Signal[],
  before: Map<string, Seen> | undefined,
  at: number,
): { seen: Map<string, Seen>; vanished: Signal[] } {
  const seen = new Map<string, Seen>();
  const observedBy = new Map(signals.map((s) => [clusterOwnerPath(cluster, s.owner), s.observedAt]));
  for (const owner of ownersOf(kind, items)) {
    const key = clusterOwnerPath(cluster, owner);
    seen.set(key, { owner, observedAt: observedBy.get(key) ?? before?.get(key)?.observedAt ?? 0 });
  }
  const vanished: Signal[] = [];
  for (const [key, s] of before ?? []) {
    if (seen.has(key)) continue;
    vanished.push({
      source: 'audit',
      cluster,
      owner: s.owner,
      project: '',
      destination: {},
      observedAt: Math.max(at, s.observedAt),
      completeness: 'snapshot',
      resources: [],
    });
  }
  return { seen, vanished };
}

import { z } from 'zod';
import { lenientList } from '../../model/json.ts';
import type { OwnerRef, Signal } from '../../model/signal.ts';
import type { Application } from './application.ts';

/**
 * What the mesh watch and the admission recorder (issue #16) need of the Application that owns a
 * mesh object, from the Applications the Argo CD watch already caches (sources/kube/sources.ts):
 * the project and labels its findings carry (so routes on `project` or app labels match a
 * watch-seen edit as they match Argo CD's own verdict), its `spec.ignoreDifferences`, and which
 * meshdrift cluster Argo CD's findings about it are filed under (one Argo CD deploying into other
 * clusters). Bounded: at most MAX_APPS apps, MAX_RULES rules each, MAX_ENTRIES strings per rule.
 * docs/mesh.md "Argo CD's project, labels and ignoreDifferences".
 */

export const MAX_APPS = 20_000;
export const MAX_RULES = 50;
export const MAX_ENTRIES = 50;
const MAX_LABELS = 64;

const bounded = (max: number) =>
  z
    .array(z.unknown())
    .optional()
    .catch(undefined)
    .transform((a) => (a ?? []).filter((s): s is string => typeof s === 'string' && s.length > 0 && s.length <= max).slice(0, MAX_ENTRIES));

/**
 * One `spec.ignoreDifferences` entry (Argo CD types.go `ResourceIgnoreDifferences`; docs
 * user-guide/diffing.md "Application Level Configuration"). `jqPathExpressions` are kept as a count
 * only: meshdrift does not evaluate jq (docs/mesh.md says what it does instead).
 */
const ignoreRuleSchema = z.object({
  group: z.string().max(253).optional().catch(undefined),
  kind: z.string().min(1).max(253),
  name: z.string().max(253).optional().catch(undefined),
  namespace: z.string().max(253).optional().catch(undefined),
  jsonPointers: bounded(1024),
  managedFieldsManagers: bounded(256),
  jqPathExpressions: bounded(4096).transform((a) => a.length),
});
export type IgnoreRule = z.infer<typeof ignoreRuleSchema>;

/** A malformed entry is dropped, never the app; at most MAX_RULES kept. */
export const ignoreRulesSchema = lenientList(ignoreRuleSchema, MAX_RULES);

/** What one resource takes from the matching rules of its app. */
export interface IgnoreOf {
  /** JSON pointers left out of the comparison. */
  pointers: string[];
  /** Managers whose fields are neither drift nor blamed. */
  managers: string[];
  /** Some matching rule has jq path expressions meshdrift cannot evaluate. */
  jq: boolean;
}

const wildcard = (pattern: string | undefined, value: string): boolean => pattern === undefined || pattern === '' || pattern === '*' || pattern === value;

/**
 * The rules matching one resource, as Argo CD matches them (util/argo/normalizers: group and kind
 * equal or `*`, an empty group the core group; name and namespace, when set, equal).
 */
export function ignoreOf(rules: readonly IgnoreRule[], r: { group: string; kind: string; namespace: string; name: string }): IgnoreOf {
  const out: IgnoreOf = { pointers: [], managers: [], jq: false };
  for (const rule of rules) {
    if (!(rule.group === '*' || (rule.group ?? '') === r.group) || !(rule.kind === '*' || rule.kind === r.kind)) continue;
    if (!wildcard(rule.name, r.name) || !wildcard(rule.namespace, r.namespace)) continue;
    out.pointers.push(...rule.jsonPointers);
    out.managers.push(...rule.managedFieldsManagers);
    if (rule.jqPathExpressions > 0) out.jq = true;
  }
  return out;
}

/** The facts of one Application the mesh watch and the admission recorder use. */
export interface AppFacts {
  /** The meshdrift cluster whose Argo CD watch holds the app: Argo CD's findings about it carry this name. */
  cluster: string;
  project: string;
  labels: Record<string, string>;
  destination: { server?: string; name?: string; namespace?: string };
  ignore: IgnoreRule[];
}

/**
 * The fields of a signal about an object the app owns, as Argo CD's own signal sets them
 * (application.ts applicationToSignal): its cluster, project, labels and destination.
 */
export function appSignalFields(app: AppFacts): Pick<Signal, 'cluster' | 'project' | 'labels' | 'destination'> {
  const d = app.destination;
  return {
    cluster: app.cluster,
    project: app.project,
    labels: app.labels,
    destination: { ...(d.name ? { name: d.name } : d.server ? { name: d.server } : {}), ...(d.namespace ? { namespace: d.namespace } : {}) },
  };
}

/** An Application as the index reads it: application.ts's fields plus the slim ignore rules. */
export type IndexedApplication = Application & { spec?: (NonNullable<Application['spec']> & { ignoreDifferences?: IgnoreRule[] }) | undefined };

export interface AppIndexOptions {
  /**
   * Argo CD destinations (a cluster's name in Argo CD, or its API server URL) → the meshdrift
   * cluster (MESHDRIFT_CLUSTERS name) that is that cluster (MESHDRIFT_ARGOCD_DESTINATIONS). A
   * destination named like a meshdrift cluster needs no entry.
   */
  destinations?: ReadonlyMap<string, string>;
}

export interface AppIndex {
  put(cluster: string, app: IndexedApplication): void;
  remove(cluster: string, app: { metadata: { namespace?: string | undefined; name: string } }): void;
  /**
   * The app that owns an object seen in meshdrift cluster `seenIn`: the one whose destination is
   * that cluster (the same cluster's app deploying in-cluster, or another cluster's app whose
   * destination name or server maps to it); else the same cluster's app of that name; else none.
   */
  lookup(seenIn: string, owner: OwnerRef): AppFacts | undefined;
  size(): number;
}

/** Argo CD's names of the cluster it runs in (`in-cluster`, https://kubernetes.default.svc). */
const IN_CLUSTER_SERVERS = new Set(['https://kubernetes.default.svc', 'https://kubernetes.default.svc/', 'https://kubernetes.default.svc:443']);

const appKey = (namespace: string, name: string): string => `${namespace}/${name}`;

export function createAppIndex(opts: AppIndexOptions = {}): AppIndex {
  // app key → cluster → facts
  const apps = new Map<string, Map<string, AppFacts>>();
  let count = 0;
  const destinations = opts.destinations ?? new Map<string, string>();

  const targetOf = (f: AppFacts): string | undefined => {
    const { server, name } = f.destination;
    if ((name !== undefined && name === 'in-cluster') || (server !== undefined && IN_CLUSTER_SERVERS.has(server))) return f.cluster;
    if (name !== undefined && name !== '') return destinations.get(name) ?? name;
    if (server !== undefined && server !== '') return destinations.get(server) ?? destinations.get(server.replace(/\/+$/, ''));
    return undefined;
  };

  return {
    put(cluster, app) {
      const key = appKey(app.metadata.namespace ?? '', app.metadata.name);
      let byCluster = apps.get(key);
      if (byCluster === undefined) {
        if (count >= MAX_APPS) return;
        apps.set(key, (byCluster = new Map()));
      }
      if (!byCluster.has(cluster)) count++;
      const labels = Object.fromEntries(Object.entries(app.metadata.labels ?? {}).slice(0, MAX_LABELS));
      const d = app.spec?.destination;
      byCluster.set(cluster, {
        cluster,
        project: app.spec?.project || 'default',
        labels,
        destination: {
          ...(d?.server ? { server: d.server } : {}),
          ...(d?.name ? { name: d.name } : {}),
          ...(d?.namespace ? { namespace: d.namespace } : {}),
        },
        ignore: app.spec?.ignoreDifferences ?? [],
      });
    },
    remove(cluster, app) {
      const key = appKey(app.metadata.namespace ?? '', app.metadata.name);
      const byCluster = apps.get(key);
      if (byCluster?.delete(cluster)) count--;
      if (byCluster?.size === 0) apps.delete(key);
    },
    lookup(seenIn, owner) {
      if (owner.kind !== 'Application') return undefined;
      const byCluster = apps.get(appKey(owner.namespace, owner.name));
      if (byCluster === undefined) return undefined;
      const candidates = [...byCluster.values()];
      return candidates.find((f) => targetOf(f) === seenIn) ?? byCluster.get(seenIn);
    },
    size: () => count,
  };
}

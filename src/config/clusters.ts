import { KubeConfig } from '@kubernetes/client-node';

/**
 * The Kubernetes side of the configuration (issue #5): which clusters to watch, which kinds, which
 * namespaces. Three environment variables, parsed by a pure function so `env.ts` (or a test) can
 * report every bad entry at once.
 */

/** Where a cluster's credentials come from. */
export type ClusterAccess = { kind: 'in-cluster' } | { kind: 'kubeconfig'; path: string; context?: string };

export interface ClusterConfig {
  /** The `cluster` label on every finding from this cluster. */
  name: string;
  access: ClusterAccess;
}

export const WATCH_KINDS = ['applications', 'kustomizations', 'helmreleases', 'events'] as const;
export type WatchKind = (typeof WATCH_KINDS)[number];

export interface KubeSourcesConfig {
  /** Empty: no watches (webhooks only). */
  clusters: readonly ClusterConfig[];
  kinds: readonly WatchKind[];
  /** `all`, or the namespaces to watch (one informer per namespace and kind). */
  namespaces: 'all' | readonly string[];
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: string[] };

// A cluster name becomes a label value and part of fingerprints: keep it to what a label allows.
export const CLUSTER_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
// RFC 1123 label, as Kubernetes requires of namespace names.
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const blank = (v: string | undefined): boolean => v === undefined || v.trim() === '';
const splitList = (v: string): string[] => v.split(',').map((s) => s.trim());

/**
 * `MESHDRIFT_CLUSTERS`: comma-separated `name=in-cluster`, `name=/path/kubeconfig` or
 * `name=/path/kubeconfig#context`. Unset or blank: no clusters. The context is what follows the
 * last `#`, so a path may itself hold `#`.
 */
export function parseClusters(text: string | undefined): ParseResult<ClusterConfig[]> {
  if (text === undefined || blank(text)) return { ok: true, value: [] };
  const errors: string[] = [];
  const clusters: ClusterConfig[] = [];
  const seen = new Set<string>();
  splitList(text).forEach((entry, i) => {
    const where = `MESHDRIFT_CLUSTERS entry ${i + 1} "${entry}"`;
    if (entry === '') return void errors.push(`${where}: empty entry (remove the extra comma)`);
    const eq = entry.indexOf('=');
    if (eq === -1) return void errors.push(`${where}: expected name=in-cluster, name=/path/to/kubeconfig or name=/path/to/kubeconfig#context`);
    const name = entry.slice(0, eq).trim();
    const target = entry.slice(eq + 1).trim();
    if (!CLUSTER_NAME.test(name))
      return void errors.push(`${where}: cluster name "${name}" must be 1-63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit`);
    if (seen.has(name)) return void errors.push(`${where}: cluster name "${name}" is listed twice`);
    seen.add(name);
    if (target === 'in-cluster') return void clusters.push({ name, access: { kind: 'in-cluster' } });
    const hash = target.lastIndexOf('#');
    const path = (hash === -1 ? target : target.slice(0, hash)).trim();
    const context = hash === -1 ? undefined : target.slice(hash + 1).trim();
    if (path === '') return void errors.push(`${where}: missing kubeconfig path after "${name}=" (or use ${name}=in-cluster)`);
    if (!path.startsWith('/')) return void errors.push(`${where}: kubeconfig path "${path}" must be absolute (start with /)`);
    if (context !== undefined && context === '')
      return void errors.push(`${where}: empty context after '#' (drop the '#' to use the kubeconfig's current context)`);
    clusters.push({ name, access: context === undefined ? { kind: 'kubeconfig', path } : { kind: 'kubeconfig', path, context } });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: clusters };
}

/** `MESHDRIFT_WATCH`: the kinds to watch; unset or blank means all four. */
export function parseWatchKinds(text: string | undefined): ParseResult<WatchKind[]> {
  if (text === undefined || blank(text)) return { ok: true, value: [...WATCH_KINDS] };
  const errors: string[] = [];
  const kinds: WatchKind[] = [];
  for (const raw of splitList(text)) {
    const kind = raw.toLowerCase();
    if (kind === '') errors.push('MESHDRIFT_WATCH: empty entry (remove the extra comma)');
    else if (!(WATCH_KINDS as readonly string[]).includes(kind)) errors.push(`MESHDRIFT_WATCH: unknown kind "${raw}" (known: ${WATCH_KINDS.join(', ')})`);
    else if (!kinds.includes(kind as WatchKind)) kinds.push(kind as WatchKind);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: kinds };
}

/** `MESHDRIFT_WATCH_NAMESPACES`: unset or blank means all namespaces. */
export function parseWatchNamespaces(text: string | undefined): ParseResult<'all' | string[]> {
  if (text === undefined || blank(text)) return { ok: true, value: 'all' };
  const errors: string[] = [];
  const namespaces: string[] = [];
  for (const ns of splitList(text)) {
    if (ns === '') errors.push('MESHDRIFT_WATCH_NAMESPACES: empty entry (remove the extra comma)');
    else if (!NAMESPACE.test(ns)) errors.push(`MESHDRIFT_WATCH_NAMESPACES: "${ns}" is not a namespace name (lower-case letters, digits and '-', at most 63)`);
    else if (!namespaces.includes(ns)) namespaces.push(ns);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: namespaces };
}

/** All three variables; every error of every variable is reported. */
export function parseKubeSourcesConfig(env: Readonly<Record<string, string | undefined>>): ParseResult<KubeSourcesConfig> {
  const clusters = parseClusters(env.MESHDRIFT_CLUSTERS);
  const kinds = parseWatchKinds(env.MESHDRIFT_WATCH);
  const namespaces = parseWatchNamespaces(env.MESHDRIFT_WATCH_NAMESPACES);
  const errors = [clusters, kinds, namespaces].flatMap((r) => (r.ok ? [] : r.errors));
  if (!clusters.ok || !kinds.ok || !namespaces.ok) return { ok: false, errors };
  return { ok: true, value: { clusters: clusters.value, kinds: kinds.value, namespaces: namespaces.value } };
}

/**
 * A KubeConfig for one cluster. In-cluster reads the service account (KUBERNETES_SERVICE_HOST and
 * the mounted token); a kubeconfig file uses its current context unless one is named. Throws with
 * the cluster's name when the file or context is unusable; the caller marks that cluster down and
 * carries on with the others.
 */
export function kubeConfigFor(cluster: ClusterConfig): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (cluster.access.kind === 'in-cluster') {
      kc.loadFromCluster();
    } else {
      kc.loadFromFile(cluster.access.path);
      const context = cluster.access.context;
      if (context !== undefined) {
        if (!kc.getContexts().some((c) => c.name === context)) {
          throw new Error(
            `context "${context}" not found in ${cluster.access.path} (has: ${
              kc
                .getContexts()
                .map((c) => c.name)
                .join(', ') || 'none'
            })`,
          );
        }
        kc.setCurrentContext(context);
      }
    }
  } catch (err) {
    throw new Error(`cluster "${cluster.name}": ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (kc.getCurrentCluster() === null) throw new Error(`cluster "${cluster.name}": the kubeconfig has no current cluster`);
  return kc;
}

import type { ResourceRef } from '../model/signal.ts';

/**
 * Where a remediation would write, as meshdrift read it itself (issue #22): the Application's
 * `spec.destination` and `spec.project` from the Argo CD API or the Kubernetes API, the Flux
 * object's namespace and the cluster it was read from. Never the webhook's word: a finding's
 * `cluster` label comes from the sender. Pure.
 */
export interface TargetScope {
  /** Argo CD: `spec.destination` as read. */
  destination?: { server?: string | undefined; name?: string | undefined; namespace?: string | undefined };
  /** Argo CD: `spec.project` ("" reads as `default`). */
  project?: string;
  /** Flux: the object's `metadata.namespace` as read. */
  namespace?: string;
}

/** A remediate receiver's allow-lists (policy `clusters`, `projects`, `namespaces`); an unset list allows all. */
export interface ScopeLists {
  clusters?: readonly string[] | undefined;
  projects?: readonly string[] | undefined;
  namespaces?: readonly string[] | undefined;
}

/** How Argo CD names the cluster it runs in. */
const IN_CLUSTER_SERVERS = new Set(['https://kubernetes.default.svc', 'https://kubernetes.default.svc/', 'https://kubernetes.default.svc:443']);

/**
 * The meshdrift cluster (MESHDRIFT_CLUSTERS name) an Argo CD destination is, as the app index maps
 * it (sources/argocd/app-index.ts): `in-cluster` is `home` (the cluster whose API the receiver
 * writes through, `kube.cluster`), else a MESHDRIFT_ARGOCD_DESTINATIONS entry for `in-cluster`,
 * else `in-cluster`; a name or server maps through MESHDRIFT_ARGOCD_DESTINATIONS, else a name is
 * itself and a server is its URL. Undefined when the destination names nothing.
 */
export function destinationCluster(
  d: NonNullable<TargetScope['destination']>,
  destinations: ReadonlyMap<string, string>,
  home: string | undefined,
): string | undefined {
  const { server, name } = d;
  if (name === 'in-cluster' || (server !== undefined && IN_CLUSTER_SERVERS.has(server)))
    return home ?? destinations.get('in-cluster') ?? (server === undefined ? undefined : destinations.get(server)) ?? 'in-cluster';
  if (name !== undefined && name !== '') return destinations.get(name) ?? name;
  if (server !== undefined && server !== '') return destinations.get(server) ?? destinations.get(server.replace(/\/+$/, '')) ?? server;
  return undefined;
}

const listed = (list: readonly string[] | undefined, value: string | undefined): boolean => list === undefined || (value !== undefined && list.includes(value));
const shown = (list: readonly string[]): string => list.join(', ');

/**
 * Why a remediation is outside the receiver's scope, or null when it is inside. `cluster` is the
 * meshdrift cluster the target was found in (Argo CD: its destination, {@link destinationCluster};
 * Flux: the cluster the object was read from); `resources` are what the action would name.
 */
export function outOfScope(
  lists: ScopeLists,
  target: { cluster: string | undefined; project?: string | undefined; namespace: string | undefined; resources: readonly ResourceRef[] },
): string | null {
  if (!listed(lists.clusters, target.cluster))
    return `its destination cluster is ${target.cluster ?? 'unknown'}, not one of the receiver's clusters (${shown(lists.clusters ?? [])})`;
  if (!listed(lists.projects, target.project))
    return `its project is ${target.project ?? 'unknown'}, not one of the receiver's projects (${shown(lists.projects ?? [])})`;
  if (lists.namespaces !== undefined) {
    if (!listed(lists.namespaces, target.namespace))
      return `its namespace is ${target.namespace === undefined || target.namespace === '' ? 'unset' : target.namespace}, not one of the receiver's namespaces (${shown(lists.namespaces)})`;
    const outside = target.resources.filter((r) => r.namespace !== '' && !lists.namespaces?.includes(r.namespace));
    if (outside.length > 0)
      return `it would name ${outside.length} resource(s) in namespaces outside the receiver's (${shown([...new Set(outside.map((r) => r.namespace))].slice(0, 5))})`;
  }
  return null;
}

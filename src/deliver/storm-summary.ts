import type { Notification, StormSummary } from '../model/alert-group.ts';
import { highestSeverity } from '../model/severity.ts';
import { STORM_OWNER_KIND, type StormMember, type StormRecord } from './storm.ts';

// What a drift storm's summary says (deliver/storm.ts): its headline, its counts, and the one
// notification each receiver renders of it.

const count = (n: number): string => n.toLocaleString('en-US');

/** "1 resource", "2 resources", "1,412 resources". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

/** The one value, when one value is all there is; else undefined. */
function only(values: Iterable<string | undefined>): string | undefined {
  const set = new Set(values);
  if (set.size !== 1) return undefined;
  const [v] = set;
  return v;
}

/** A storm's counts over its members firing now. */
export interface StormCounts {
  groups: number;
  apps: number;
  resources: number;
  critical: number;
  clusters: Set<string>;
}

export function stormCounts(members: Iterable<StormMember>): StormCounts {
  const ms = [...members];
  return {
    groups: ms.length,
    apps: new Set(ms.map((m) => m.owner)).size,
    resources: ms.reduce((a, m) => a + m.firing, 0),
    critical: ms.reduce((a, m) => a + m.critical, 0),
    clusters: new Set(ms.map((m) => m.cluster)),
  };
}

const shortRevision = (r: string): string => r.slice(0, 12);

/** What the cause adds to a headline: " after revision abc123", " (one cluster)", " at once". */
function causeWords(r: StormRecord, cluster: string | undefined, clusters: number): string {
  const where = cluster !== undefined ? `in ${cluster}` : `in ${plural(clusters, 'cluster')}`;
  switch (r.cause.kind) {
    case 'revision':
      return `${where} after revision ${shortRevision(r.cause.revision)}`;
    case 'cluster':
      return `in cluster ${r.cause.cluster}`;
    case 'burst':
      return `at once ${where} (no one revision or cluster)`;
  }
}

/**
 * "1,412 resources in 387 apps drifted in prod-eu after revision abc123, 12 critical"; by cause:
 * "… drifted in cluster prod-eu, …" or "… drifted at once in 3 clusters (no one revision or
 * cluster), …". Resolved: "Drift storm over: all 387 groups resolved (after revision abc123)".
 */
export function stormHeadline(r: StormRecord, resolved: boolean): string {
  const c = stormCounts(r.members.values());
  const tail =
    r.cause.kind === 'revision' ? ` (after revision ${shortRevision(r.cause.revision)})` : r.cause.kind === 'cluster' ? ` (cluster ${r.cause.cluster})` : '';
  if (resolved) return r.joined === 1 ? `Drift storm over: its 1 group resolved${tail}` : `Drift storm over: all ${count(r.joined)} groups resolved${tail}`;
  const cluster = only(c.clusters);
  return `${plural(c.resources, 'resource')} in ${plural(c.apps, 'app')} drifted ${causeWords(r, cluster, c.clusters.size)}, ${count(c.critical)} critical`;
}

/** Where a storm's members are listed: the API path, absolute when meshdrift's public URL is known. */
export function stormHref(id: string, publicUrl: string | undefined): string {
  const path = `/api/v1/storms/${encodeURIComponent(id)}`;
  return publicUrl === undefined || publicUrl === '' ? path : `${publicUrl.replace(/\/+$/, '')}${path}`;
}

function summaryOf(r: StormRecord, resolved: boolean, publicUrl: string | undefined): StormSummary {
  const c = stormCounts(r.members.values());
  const cluster = r.cause.kind === 'cluster' ? r.cause.cluster : only(c.clusters);
  return {
    id: r.id,
    cause: r.cause.kind,
    ...(r.cause.kind === 'revision' ? { revision: r.cause.revision } : {}),
    ...(cluster === undefined ? {} : { cluster }),
    headline: stormHeadline(r, resolved),
    groups: c.groups,
    joined: r.joined,
    apps: c.apps,
    resources: c.resources,
    critical: c.critical,
    clusters: c.clusters.size,
    href: stormHref(r.id, publicUrl),
  };
}

/** The summary notification of a storm: sent through the receiver's own `send` (one message, updated in place). */
export function stormNotification(r: StormRecord, seq: number, at: number, resolved: boolean, publicUrl?: string): Notification {
  const ms = [...r.members.values()];
  const clusters = new Set(ms.map((m) => m.cluster));
  const sample = r.sample.map((f) => (resolved ? { ...f, status: 'resolved' as const, resolvedAt: at } : f));
  const tool = only(ms.map((m) => m.tool));
  const storm = summaryOf(r, resolved, publicUrl);
  return {
    groupKey: `storm/${r.receiver}/${r.id}`,
    seq,
    reason: resolved ? 'resolved' : seq === 1 ? 'first' : 'new-findings',
    status: resolved ? 'resolved' : 'firing',
    labels: {
      cluster: only(clusters) ?? (r.cause.kind === 'cluster' ? r.cause.cluster : plural(clusters.size, 'cluster')),
      tool: tool === 'flux' || tool === 'meshdrift' ? tool : 'argocd',
      owner: { kind: STORM_OWNER_KIND, namespace: '', name: storm.headline },
      project: '',
      receiver: r.receiver,
      groupBy: { storm: r.id, cause: r.cause.kind, groups: String(ms.length) },
    },
    severity: highestSeverity(resolved ? r.sample.map((f) => f.severity) : ms.map((m) => m.severity)),
    firing: resolved ? [] : sample,
    resolved: resolved ? sample : [],
    at,
    firstSeen: r.startedAt,
    storm,
  };
}

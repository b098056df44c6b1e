import type { HistoryEntry } from '../../track/history.ts';

/**
 * History (issue #21): resolved incidents of the last N days from the notification history, how
 * often each app and author drifted, and the same figures as the metrics: time to the first
 * notification (meshdrift_time_to_notify_seconds, MTTD) and first seen to resolved
 * (meshdrift_time_to_resolve_seconds), here per incident (alert group episode). Pure.
 */

export interface HistoryIncident {
  groupKey: string;
  cluster: string;
  owner: string;
  severity: string;
  firstSeen: number;
  notifiedAt?: number;
  resolvedAt?: number;
  resources: string[];
  authors: string[];
  notifications: number;
}

export interface HistoryView {
  days: number;
  q: string;
  /** Resolved incidents in the window that match `q`, newest first (at most MAX_INCIDENTS). */
  incidents: HistoryIncident[];
  resolved: number;
  byApp: Array<{ key: string; count: number }>;
  byAuthor: Array<{ key: string; count: number }>;
  /** Median ms, over the incidents in the window (all, not only the matching ones). */
  mttdMs?: number;
  ttrMs?: number;
  /** How far back the stored history reaches (its oldest entry). */
  oldest?: number;
}

export const MAX_INCIDENTS = 200;
const TOP = 15;

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function top(counts: Map<string, number>): Array<{ key: string; count: number }> {
  return [...counts.entries()]
    .map(([key, count]) => ({ key, count }))
    .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
    .slice(0, TOP);
}

/** Incidents from entries (any order): one per group and episode (its firstSeen). */
export function incidentsOf(entries: readonly HistoryEntry[]): HistoryIncident[] {
  const byEpisode = new Map<string, HistoryIncident>();
  for (const e of [...entries].sort((a, b) => a.at - b.at)) {
    const id = `${e.groupKey}\u0000${e.firstSeen}`;
    let i = byEpisode.get(id);
    if (i === undefined) {
      i = {
        groupKey: e.groupKey,
        cluster: e.labels.cluster,
        owner: `${e.labels.owner.kind} ${e.labels.owner.namespace}/${e.labels.owner.name}`,
        severity: e.severity,
        firstSeen: e.firstSeen,
        resources: [],
        authors: [],
        notifications: 0,
      };
      byEpisode.set(id, i);
    }
    i.notifications++;
    if (e.status === 'firing' && i.notifiedAt === undefined) i.notifiedAt = e.at;
    if (e.status === 'resolved') i.resolvedAt = e.at;
    for (const f of e.findings) {
      const name = `${f.resource.kind} ${f.resource.namespace}/${f.resource.name}`;
      if (!i.resources.includes(name) && i.resources.length < 20) i.resources.push(name);
    }
    for (const a of e.authors ?? []) if (!i.authors.includes(a)) i.authors.push(a);
  }
  return [...byEpisode.values()];
}

export function buildHistory(entries: readonly HistoryEntry[], days: number, q: string, now: number): HistoryView {
  const since = now - days * 86_400_000;
  const all = incidentsOf(entries).filter((i) => (i.resolvedAt ?? i.notifiedAt ?? i.firstSeen) >= since);
  const needle = q.trim().toLowerCase();
  const hit = (i: HistoryIncident): boolean =>
    needle === '' || [i.cluster, i.owner, ...i.resources, ...i.authors].some((s) => s.toLowerCase().includes(needle));
  const resolved = all.filter((i) => i.resolvedAt !== undefined);
  const byApp = new Map<string, number>();
  const byAuthor = new Map<string, number>();
  for (const i of all) {
    byApp.set(`${i.cluster} › ${i.owner}`, (byApp.get(`${i.cluster} › ${i.owner}`) ?? 0) + 1);
    for (const a of i.authors) byAuthor.set(a, (byAuthor.get(a) ?? 0) + 1);
  }
  const mttd = median(all.flatMap((i) => (i.notifiedAt === undefined ? [] : [i.notifiedAt - i.firstSeen])));
  const ttr = median(resolved.flatMap((i) => (i.resolvedAt === undefined ? [] : [i.resolvedAt - i.firstSeen])));
  const oldest = entries.length === 0 ? undefined : Math.min(...entries.map((e) => e.at));
  return {
    days,
    q,
    incidents: resolved
      .filter(hit)
      .sort((a, b) => (b.resolvedAt ?? 0) - (a.resolvedAt ?? 0))
      .slice(0, MAX_INCIDENTS),
    resolved: resolved.length,
    byApp: top(byApp),
    byAuthor: top(byAuthor),
    ...(mttd === undefined ? {} : { mttdMs: mttd }),
    ...(ttr === undefined ? {} : { ttrMs: ttr }),
    ...(oldest === undefined ? {} : { oldest }),
  };
}

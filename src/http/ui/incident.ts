import { attributionText, changeText, changeSourceText, kindWithGroup } from '../../deliver/evidence.ts';
import { findingLinks, groupMatchers, type LinkContext } from '../../deliver/links.ts';
import type { GroupLabels, TrackedFinding } from '../../model/alert-group.ts';
import { findingLabels } from '../../model/finding.ts';
import { severityRank } from '../../model/severity.ts';
import { compileSilences, type Silence } from '../../route/silence.ts';
import { matchesAll, printMatcher } from '../../route/matcher.ts';
import type { AuditRecord } from '../../remediate/audit.ts';
import type { GroupState } from '../../track/group-state.ts';
import type { HistoryEntry } from '../../track/history.ts';
import { isAck } from './silences-view.ts';

/**
 * An incident (one alert group) as the incident page and GET /ui/api/incidents/{key} show it: its
 * findings with the change list (redacted at the source, as in the messages) and who changed what,
 * links out, and a timeline from first seen to resolved. Pure.
 */

export interface IncidentFinding {
  fingerprint: string;
  api: string;
  namespace: string;
  name: string;
  severity: string;
  state: string;
  status: 'firing' | 'resolved';
  firstSeen: number;
  detail?: string;
  changes?: { source: string; lines: string[]; omitted: number };
  changedBy: string[];
  links: { argocd?: string; commit?: string };
  /** Tracked but kept out of notifications by the policy (`notify_non_mesh: false`, issue #19). */
  unnotified?: 'non-mesh';
}

export interface TimelineEvent {
  at: number;
  kind: 'seen' | 'notification' | 'remediation' | 'action' | 'silence' | 'resolved';
  what: string;
  by?: string;
  detail?: string;
}

export interface Incident {
  groupKey: string;
  labels?: GroupLabels;
  status: 'firing' | 'resolved' | 'unknown';
  firstSeen?: number;
  findings: IncidentFinding[];
  timeline: TimelineEvent[];
  /** Matchers for "silence this incident" (cluster and owner). */
  matchers: string[];
  /** An active acknowledgement (a short silence made by "Acknowledge") covering every firing finding. */
  ack?: { silenceId: string; until: number; by: string };
}

/** Events kept on one timeline; the oldest beyond it are left out (and counted). */
export const MAX_TIMELINE = 500;

function findingView(f: TrackedFinding, links: LinkContext | undefined): IncidentFinding {
  const l = findingLinks(f, links);
  return {
    fingerprint: f.fingerprint,
    api: kindWithGroup(f.resource),
    namespace: f.resource.namespace,
    name: f.resource.name,
    severity: f.severity,
    state: f.state,
    status: f.status,
    firstSeen: f.firstSeen,
    ...(f.detail === undefined ? {} : { detail: f.detail }),
    ...(f.changes === undefined
      ? {}
      : { changes: { source: changeSourceText(f.changes.source), lines: f.changes.changes.map(changeText), omitted: Math.max(0, f.changes.omitted ?? 0) } }),
    changedBy: (f.attribution ?? []).map(attributionText),
    links: { ...(l.argocd === undefined ? {} : { argocd: l.argocd }), ...(l.commit === undefined ? {} : { commit: l.commit }) },
    ...(f.unnotified === undefined ? {} : { unnotified: f.unnotified }),
  };
}

/**
 * The acknowledgement covering the group now: an active ack silence matching every firing finding
 * (the one that ends last when several do). None when nothing fires: there is nothing to acknowledge.
 */
export function activeAck(group: GroupState | null, silences: readonly Silence[], now: number): Incident['ack'] {
  const firing = Object.values(group?.findings ?? {})
    .filter((f) => f.status === 'firing')
    .map((f) => findingLabels(f));
  if (firing.length === 0) return undefined;
  const acks = silences.filter(isAck);
  let best: Incident['ack'];
  for (const s of compileSilences(acks)) {
    if (s.startsAt > now || s.endsAt <= now || !firing.every((l) => matchesAll(s.matchers, l))) continue;
    if (best !== undefined && best.until >= s.endsAt) continue;
    best = { silenceId: s.id, until: s.endsAt, by: acks.find((x) => x.id === s.id)?.createdBy ?? '' };
  }
  return best;
}

/** Labels of what a history entry names, enough to match silences made on the page or in Slack. */
function entryLabels(e: HistoryEntry): Array<Record<string, string>> {
  return e.findings.map((f) => ({
    cluster: e.labels.cluster,
    tool: e.labels.tool,
    project: e.labels.project,
    owner_kind: e.labels.owner.kind,
    owner_namespace: e.labels.owner.namespace,
    owner: e.labels.owner.name,
    group: f.resource.group,
    kind: f.resource.kind,
    namespace: f.resource.namespace,
    name: f.resource.name,
    state: f.state,
    severity: f.severity,
  }));
}

function auditEvent(r: AuditRecord): TimelineEvent {
  const target = r.resources.length === 0 ? '' : ` on ${r.resources.map((x) => `${x.kind} ${x.namespace}/${x.name}`).join(', ')}`;
  const kind = r.kind === 'remediation' ? 'remediation' : 'action';
  const what =
    r.kind === 'remediation'
      ? `remediation ${r.action}${r.dryRun ? ' (dry run)' : ''}: ${r.outcome}${target}`
      : r.kind === 'slack-action'
        ? `Slack button ${r.action}: ${r.outcome}`
        : r.kind === 'web'
          ? `web page ${r.action}`
          : `PagerDuty ${r.action}: ${r.outcome}`;
  return { at: r.at, kind, what, by: r.actor, detail: r.reason };
}

function silenceEvents(silences: readonly Silence[], labelSets: ReadonlyArray<Record<string, string>>, now: number): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  for (const s of compileSilences(silences)) {
    if (!labelSets.some((l) => matchesAll(s.matchers, l))) continue;
    const full = silences.find((x) => x.id === s.id);
    if (full === undefined) continue;
    out.push({ at: Date.parse(full.createdAt), kind: 'silence', what: `silence ${full.id} created`, by: full.createdBy, detail: full.comment });
    if (s.endsAt <= now) out.push({ at: s.endsAt, kind: 'silence', what: `silence ${full.id} ended` });
  }
  return out;
}

export interface IncidentSources {
  group: GroupState | null;
  history: readonly HistoryEntry[];
  audit: readonly AuditRecord[];
  silences: readonly Silence[];
  links?: LinkContext;
  now: number;
}

/** The incident of `groupKey` from what is known of it; `null` when nothing is. */
export function buildIncident(groupKey: string, src: IncidentSources): Incident | null {
  const history = src.history.filter((e) => e.groupKey === groupKey);
  const fingerprints = new Set([...Object.keys(src.group?.findings ?? {}), ...history.flatMap((e) => e.findings.map((f) => f.fingerprint))]);
  const audit = src.audit.filter((r) => r.groupKey === groupKey || r.fingerprints.some((f) => fingerprints.has(f)));
  if (src.group === null && history.length === 0 && audit.length === 0) return null;
  const labels = src.group?.labels ?? history[0]?.labels;
  const firstSeen = src.group?.firstSeen ?? (history.length > 0 ? Math.min(...history.map((e) => e.firstSeen)) : undefined);
  const findings = Object.values(src.group?.findings ?? {})
    .sort((a, b) => severityRank(a.severity) - severityRank(b.severity) || a.resource.name.localeCompare(b.resource.name))
    .map((f) => findingView(f, src.links));
  const labelSets = [...Object.values(src.group?.findings ?? {}).map((f) => findingLabels(f)), ...history.flatMap(entryLabels)];
  const timeline: TimelineEvent[] = [
    ...(firstSeen === undefined ? [] : [{ at: firstSeen, kind: 'seen' as const, what: 'first seen' }]),
    ...history.map((e) => ({
      at: e.at,
      kind: e.status === 'resolved' ? ('resolved' as const) : ('notification' as const),
      what: e.status === 'resolved' ? `resolved: notification #${e.seq} sent` : `notification #${e.seq} sent (${e.reason})`,
      detail: `${e.firing} firing, ${e.resolved} resolved${labels?.receiver === undefined ? '' : ` · receiver ${labels.receiver}`}`,
    })),
    ...audit.map(auditEvent),
    ...silenceEvents(src.silences, labelSets, src.now),
  ].sort((a, b) => a.at - b.at);
  const latest = history.reduce<HistoryEntry | undefined>((a, e) => (a === undefined || e.at > a.at ? e : a), undefined);
  const ack = activeAck(src.group, src.silences, src.now);
  const status =
    src.group === null ? (latest?.status ?? 'unknown') : Object.values(src.group.findings).some((f) => f.status === 'firing') ? 'firing' : 'resolved';
  return {
    groupKey,
    ...(labels === undefined ? {} : { labels }),
    status,
    ...(firstSeen === undefined ? {} : { firstSeen }),
    findings,
    timeline: timeline.slice(-MAX_TIMELINE),
    ...(ack === undefined ? {} : { ack }),
    matchers: labels === undefined ? [] : groupMatchers(labels).map(printMatcher),
  };
}

import { createHash } from 'node:crypto';
import type { Notification, StormSummary, TrackedFinding } from '../../model/alert-group.ts';
import { withEscalation, withStorm } from './storm.ts';
import { severityRank, type Severity } from '../../model/severity.ts';
import { type AttributionView, attributionView, type ChangeListView, changeListView, kindWithGroup } from '../evidence.ts';
import { groupAnnotations, runbookOf } from '../annotations-view.ts';
import { argocdAppUrl, type FindingLinks, findingLinks, type LinkContext, shortRevision, silenceUrl } from '../links.ts';
// Every string from the cluster goes through the one sanitiser (one line, nothing hidden, bounded).
import { plainLine } from '../text.ts';

/** PagerDuty's alert severities (Events API v2 `payload.severity`). */
export type PagerDutySeverity = 'critical' | 'error' | 'warning' | 'info';

/** One finding as listed in `custom_details`. */
export interface PagerDutyFindingDetail {
  kind: string;
  /** API group; absent for the core group. */
  group?: string;
  /** The kind with its group (`AuthorizationPolicy.security.istio.io`): meshes' kinds never look alike. */
  api: string;
  namespace: string;
  name: string;
  state: string;
  severity: Severity;
  category: string;
  mesh: string;
  detail?: string;
  revision?: string;
  /** What changed, field by field (redacted at the source; `omitted` counts what is not listed). */
  changes?: ChangeListView;
  /** Who changed it and when; `text` says whether it is a person or a tool. */
  changed_by?: AttributionView[];
  /** The Argo CD app and the commit of `revision`, when they can be built. */
  links?: FindingLinks;
  /** The policy rules' annotations of this finding (summary, description, runbook_url, team, own keys). */
  annotations?: Record<string, string>;
}

export interface PagerDutyPayload {
  summary: string;
  source: string;
  severity: PagerDutySeverity;
  timestamp: string;
  component: string;
  group: string;
  class: string;
  custom_details: {
    status: Notification['status'];
    reason: Notification['reason'];
    seq: number;
    cluster: string;
    tool: string;
    project: string;
    owner: Notification['labels']['owner'];
    group_key: string;
    first_seen: string;
    firing_count: number;
    resolved_count: number;
    firing: PagerDutyFindingDetail[];
    resolved: PagerDutyFindingDetail[];
    /** Findings left out of `firing`/`resolved` to keep the event small; 0 when all are listed. */
    omitted: number;
    /** The annotations of the group's most severe finding (deliver/annotations-view.ts), when it has any. */
    annotations?: Record<string, string>;
    /** A silence of this group in meshdrift's web UI (MESHDRIFT_PUBLIC_URL), while firing. */
    silence_url?: string;
    /** A drift storm's summary only: its id, cause and counts (deliver/pagerduty/storm.ts). */
    storm?: StormSummary;
  };
}

/** An Events API v2 event (`POST /v2/enqueue`). */
export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  client: 'meshdrift';
  links?: Array<{ href: string; text: string }>;
  payload: PagerDutyPayload;
}

/** An Events API v2 `acknowledge` event: only the routing and dedup keys (no payload). */
export interface PagerDutyAcknowledgeEvent {
  routing_key: string;
  event_action: 'acknowledge';
  dedup_key: string;
  client: 'meshdrift';
}

/**
 * The acknowledge of an alert group's PagerDuty alert: same routing key and dedup key as its
 * trigger (PagerDuty applies it to the open alert only, and drops it after a resolve).
 */
export function renderPagerDutyAcknowledge(groupKey: string, routingKey: string): PagerDutyAcknowledgeEvent {
  return { routing_key: routingKey, event_action: 'acknowledge', dedup_key: pagerDutyDedupKey(groupKey), client: 'meshdrift' };
}

/** PagerDuty's limits, and the budget meshdrift keeps under them. */
export const PAGERDUTY_LIMITS = {
  summary: 1024,
  dedupKey: 255,
  /** PagerDuty rejects events over 512 KB; Alertmanager drops details above 512,000 bytes. */
  event: 512_000,
  /**
   * What the finding lists may take, in UTF-8 bytes of JSON. Half the event limit: the rest of the
   * event is small and capped, so the whole stays far from PagerDuty's limit whatever the input.
   */
  findings: 256_000,
} as const;

// Kubernetes names are ≤253; free-text detail comes from the source and is the only unbounded field.
const MAX_FIELD = 253;
const MAX_DETAIL = 256;
const MAX_LABEL = 200;

const SEVERITY_MAP: Record<Severity, PagerDutySeverity> = {
  critical: 'critical',
  high: 'error',
  medium: 'warning',
  low: 'info',
  info: 'info',
};

/** meshdrift severity → PagerDuty severity (critical→critical, high→error, medium→warning, else info). */
export function pagerDutySeverity(severity: Severity): PagerDutySeverity {
  return SEVERITY_MAP[severity];
}

/**
 * The dedup key of an alert group. Stable per group, so a resolve closes what the trigger opened;
 * PagerDuty opens a new alert for a trigger after a resolve, so reusing it across episodes is fine.
 * Hashed (like Alertmanager's `key.Hash()`) so its length never depends on the group key.
 */
export function pagerDutyDedupKey(groupKey: string): string {
  return `meshdrift-${createHash('sha256').update(groupKey).digest('hex')}`;
}

/**
 * Renders one notification as one PagerDuty event: firing → `trigger`, resolved → `resolve`, with
 * the group's dedup key. Findings are listed most severe first in `custom_details`, cut to a byte
 * budget (with `omitted` counting the rest). Pure.
 */
export function renderPagerDutyEvent(n: Notification, routingKey: string, links?: LinkContext): PagerDutyEvent {
  const event = renderGroupEvent(n, routingKey, links);
  if (n.escalation !== undefined) return withEscalation(event, n, n.escalation);
  return n.storm === undefined ? event : withStorm(event, n, n.storm);
}

function renderGroupEvent(n: Notification, routingKey: string, links: LinkContext | undefined): PagerDutyEvent {
  const firing = [...n.firing].sort(bySeverityThenIdentity);
  const resolved = [...n.resolved].sort(bySeverityThenIdentity);
  const detail = (f: TrackedFinding): PagerDutyFindingDetail => findingDetail(f, links);
  const listed = fitFindings(firing.map(detail), resolved.map(detail), PAGERDUTY_LIMITS.findings);
  // The class names what kind of drift this is: the category of the most severe finding.
  const lead = firing[0] ?? resolved[0];
  const eventLinks = eventLinksOf(n, lead, links);
  const annotations = annotationsView(groupAnnotations(n));
  const silence = n.status === 'firing' ? silenceUrl(links?.publicUrl, n.labels) : undefined;

  return {
    routing_key: routingKey,
    event_action: n.status === 'firing' ? 'trigger' : 'resolve',
    dedup_key: pagerDutyDedupKey(n.groupKey),
    client: 'meshdrift',
    ...(eventLinks.length === 0 ? {} : { links: eventLinks }),
    payload: {
      summary: summaryOf(n, firing),
      source: plainLine(n.labels.cluster, MAX_LABEL),
      severity: pagerDutySeverity(n.severity),
      timestamp: new Date(n.at).toISOString(),
      component: plainLine(ownerPath(n.labels.owner, '/'), MAX_LABEL * 2),
      group: n.labels.tool,
      class: lead?.category ?? 'non-mesh',
      custom_details: {
        status: n.status,
        reason: n.reason,
        seq: n.seq,
        cluster: plainLine(n.labels.cluster, MAX_LABEL),
        tool: n.labels.tool,
        project: plainLine(n.labels.project, MAX_LABEL),
        owner: {
          kind: plainLine(n.labels.owner.kind, MAX_FIELD),
          namespace: plainLine(n.labels.owner.namespace, MAX_FIELD),
          name: plainLine(n.labels.owner.name, MAX_FIELD),
        },
        group_key: plainLine(n.groupKey, MAX_LABEL),
        first_seen: new Date(n.firstSeen).toISOString(),
        firing_count: firing.length,
        resolved_count: resolved.length,
        firing: listed.firing,
        resolved: listed.resolved,
        omitted: firing.length + resolved.length - listed.firing.length - listed.resolved.length,
        ...(annotations === undefined ? {} : { annotations }),
        ...(silence === undefined ? {} : { silence_url: silence }),
      },
    },
  };
}

function summaryOf(n: Notification, firing: TrackedFinding[]): string {
  const where = `${ownerPath(n.labels.owner, ' ')} on ${n.labels.cluster}`;
  if (n.status === 'resolved') {
    return plainLine(`[RESOLVED] ${where}: drifted mesh resources back in sync (was ${n.severity.toUpperCase()})`, PAGERDUTY_LIMITS.summary);
  }
  const count = `${firing.length} drifted mesh ${firing.length === 1 ? 'resource' : 'resources'}`;
  const what = firing.map((f) => `${kindWithGroup(f.resource)} ${resourcePath(f)}`).join(', ');
  const text = `[${n.severity.toUpperCase()}] ${count} in ${where}${what === '' ? '' : `: ${what}`}`;
  // Cut to one line: PagerDuty shows the summary as the alert's title.
  return plainLine(text.replace(/\s+/g, ' '), PAGERDUTY_LIMITS.summary);
}

const text = (s: string): string => plainLine(s, MAX_DETAIL);

function findingDetail(f: TrackedFinding, ctx: LinkContext | undefined): PagerDutyFindingDetail {
  const links = findingLinks(f, ctx);
  return {
    kind: plainLine(f.resource.kind, MAX_FIELD),
    ...(f.resource.group === '' ? {} : { group: plainLine(f.resource.group, MAX_FIELD) }),
    api: plainLine(kindWithGroup(f.resource), MAX_FIELD * 2),
    namespace: plainLine(f.resource.namespace, MAX_FIELD),
    name: plainLine(f.resource.name, MAX_FIELD),
    state: f.state,
    severity: f.severity,
    category: f.category,
    mesh: plainLine(f.mesh, MAX_FIELD),
    ...(f.detail === undefined || f.detail === '' ? {} : { detail: plainLine(f.detail, MAX_DETAIL) }),
    ...(f.revision === undefined ? {} : { revision: plainLine(f.revision, MAX_FIELD) }),
    ...(f.changes === undefined ? {} : { changes: changeListView(f.changes, text) }),
    ...(f.attribution === undefined || f.attribution.length === 0 ? {} : { changed_by: f.attribution.map((a) => attributionView(a, text)) }),
    ...(links.argocd === undefined && links.commit === undefined ? {} : { links }),
    ...(f.annotations === undefined ? {} : { annotations: annotationsView(f.annotations) ?? {} }),
  };
}

/** Most characters of one annotation value in an event (a finding's list stays within its budget). */
const MAX_ANNOTATION = 500;

// Annotations as PagerDuty shows them: one line each, nothing hidden, bounded; undefined when none.
function annotationsView(a: Readonly<Record<string, string>>): Record<string, string> | undefined {
  const entries = Object.entries(a);
  return entries.length === 0 ? undefined : Object.fromEntries(entries.map(([k, v]) => [plainLine(k, 63), plainLine(v, MAX_ANNOTATION)]));
}

// Takes firing findings first, then resolved ones, while their JSON fits the byte budget. Every
// entry is capped (≈1.5 KB, up to ≈25 KB with 20 changes and 5 writers: model/forensics.ts), so
// the cut is never far below the budget.
function fitFindings(
  firing: PagerDutyFindingDetail[],
  resolved: PagerDutyFindingDetail[],
  budget: number,
): { firing: PagerDutyFindingDetail[]; resolved: PagerDutyFindingDetail[] } {
  let used = 0;
  const take = (list: PagerDutyFindingDetail[]): PagerDutyFindingDetail[] => {
    const out: PagerDutyFindingDetail[] = [];
    for (const d of list) {
      const size = Buffer.byteLength(JSON.stringify(d)) + 1;
      if (used + size > budget) break;
      used += size;
      out.push(d);
    }
    return out;
  };
  const shownFiring = take(firing);
  // Once a firing finding did not fit, no resolved one is listed: firing ones matter more.
  const shownResolved = shownFiring.length === firing.length ? take(resolved) : [];
  return { firing: shownFiring, resolved: shownResolved };
}

// The event's links (PagerDuty shows them on the incident): the app in Argo CD, the commit of the
// most severe finding's revision, its rule's runbook, and a silence of the group (while firing).
function eventLinksOf(n: Notification, lead: TrackedFinding | undefined, ctx: LinkContext | undefined): Array<{ href: string; text: string }> {
  const { owner, tool } = n.labels;
  const out: Array<{ href: string; text: string }> = [];
  const app = tool === 'argocd' ? argocdAppUrl(ctx?.argocdUrl, owner) : undefined;
  if (app !== undefined) out.push({ href: app, text: plainLine(`Argo CD: ${ownerPath(owner, ' ')}`, MAX_LABEL) });
  const commit = lead === undefined ? undefined : findingLinks(lead, ctx).commit;
  if (commit !== undefined && lead?.revision !== undefined) out.push({ href: commit, text: plainLine(`Commit ${shortRevision(lead.revision)}`, MAX_LABEL) });
  const runbook = runbookOf(groupAnnotations(n));
  if (runbook !== undefined) out.push({ href: runbook, text: 'Runbook' });
  const silence = n.status === 'firing' ? silenceUrl(ctx?.publicUrl, n.labels) : undefined;
  if (silence !== undefined) out.push({ href: silence, text: 'Silence this group in meshdrift' });
  return out;
}

function ownerPath(owner: Notification['labels']['owner'], sep: ' ' | '/'): string {
  const path = owner.namespace === '' ? owner.name : `${owner.namespace}/${owner.name}`;
  return `${owner.kind}${sep}${path}`;
}

function resourcePath(f: TrackedFinding): string {
  return f.resource.namespace === '' ? f.resource.name : `${f.resource.namespace}/${f.resource.name}`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function bySeverityThenIdentity(a: TrackedFinding, b: TrackedFinding): number {
  return (
    severityRank(a.severity) - severityRank(b.severity) ||
    compareText(a.resource.kind, b.resource.kind) ||
    compareText(a.resource.namespace, b.resource.namespace) ||
    compareText(a.resource.name, b.resource.name)
  );
}

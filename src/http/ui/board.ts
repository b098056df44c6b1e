import { kindWithGroup } from '../../deliver/evidence.ts';
import type { TrackedFinding } from '../../model/alert-group.ts';
import { findingLabels } from '../../model/finding.ts';
import { severityRank, type Severity } from '../../model/severity.ts';
import { findInhibition, type CompiledInhibitRule, type InhibitionSource } from '../../route/inhibit.ts';
import { compileMatcher, printMatcher, type Matcher, type MatcherSpec } from '../../route/matcher.ts';
import { silencedBy, type CompiledSilence } from '../../route/silence.ts';
import type { GroupState } from '../../track/group-state.ts';

/**
 * The board (issue #21): every finding of the active alert groups with where it stands, filtered
 * by matchers, counted per label value, and paged, all on the server: the browser only ever gets
 * one page (at most {@link MAX_PAGE} rows), whatever the number of findings. Pure.
 */

/** Where a finding stands, as the board says it. */
export const UI_STATUSES = [
  'pending',
  'firing',
  'not-notified',
  'silenced',
  'inhibited',
  'acknowledged',
  'remediating',
  'resolved-awaiting-verify',
  'resolved',
] as const;
export type UiStatus = (typeof UI_STATUSES)[number];

/** Labels only the board has (never on a finding, so never in a silence made from a filter). */
export const BOARD_ONLY_LABELS = ['status', 'receiver'] as const;

/** Labels counted per value in the filter bar, in this order; policy labels follow. */
const COUNTED = ['status', 'severity', 'cluster', 'owner', 'namespace', 'kind', 'state', 'category', 'mesh', 'project', 'receiver', 'tool'] as const;
/** Values shown per counted label (the most frequent), and policy label names counted. */
export const TOP_VALUES = 12;
const MAX_EXTRA_LABELS = 10;
export const MAX_PAGE = 500;

export interface BoardRow {
  groupKey: string;
  fingerprint: string;
  cluster: string;
  tool: string;
  owner: { kind: string; namespace: string; name: string };
  project: string;
  resource: { group: string; kind: string; namespace: string; name: string };
  /** The kind with its API group (`AuthorizationPolicy.security.istio.io`). */
  api: string;
  severity: Severity;
  /** The drift state (OutOfSync, Edited, …). */
  state: string;
  status: UiStatus;
  /** The silence id, the inhibit rule and source, or the remediation that explains `status`. */
  because?: string;
  firstSeen: number;
  route?: string;
  receivers: string[];
  /** Tracked but kept out of notifications by the policy (`notify_non_mesh: false`, issue #19). */
  unnotified?: 'non-mesh';
}

export interface StormLine {
  id: string;
  receiver: string;
  headline: string;
  /** Active groups of the storm on the board, and their findings. */
  groups: number;
  findings: number;
  /** The first member groups (for the line's details). */
  sample: Array<{ groupKey: string; cluster: string; owner: string }>;
}

export interface BoardView {
  /** Findings on the board before and after the filters. */
  total: number;
  matched: number;
  page: number;
  pages: number;
  limit: number;
  rows: BoardRow[];
  counts: Array<{ label: string; values: Array<{ value: string; count: number }>; more: number }>;
  storms: StormLine[];
  filters: string[];
  /** The storm the board is opened on, if any. */
  storm?: string;
  /** The board read its most groups (MESHDRIFT_UI_MAX_GROUPS): newer groups than these were left out. */
  truncated?: number;
}

export interface BoardInput {
  groups: readonly GroupState[];
  silences: readonly CompiledSilence[];
  /** The silences that are acknowledgements (ack = a short silence), by id: until when and by whom. */
  acks: ReadonlyMap<string, { until: number; by: string }>;
  rules: readonly CompiledInhibitRule[];
  sources: readonly InhibitionSource[];
  /** The latest remediation outcome per fingerprint (from the audit trail). */
  remediation: ReadonlyMap<string, { outcome: string; at: number }>;
  /** Storms still firing: their members by group key. */
  storms: ReadonlyArray<{ id: string; receiver: string; headline: string; members: ReadonlySet<string> }>;
  now: number;
  /** Set when the read stopped at this many groups (MESHDRIFT_UI_MAX_GROUPS). */
  truncatedAt?: number;
}

export interface BoardQuery {
  filters: MatcherSpec[];
  page: number;
  limit: number;
  /** Open one storm: only its member groups. */
  storm?: string;
  /** Show storm members one by one instead of one line per storm. */
  expandStorms: boolean;
}

const isoMinute = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`;

function statusOf(f: TrackedFinding, g: GroupState, input: BoardInput, labels: Record<string, string>): { status: UiStatus; because?: string } {
  const rem = input.remediation.get(f.fingerprint);
  if (f.status === 'resolved') {
    return rem?.outcome === 'performed' ? { status: 'resolved-awaiting-verify', because: 'remediation performed, verify pending' } : { status: 'resolved' };
  }
  const silence = silencedBy(labels, input.silences, input.now);
  if (silence !== null) {
    const ack = input.acks.get(silence);
    return ack === undefined ? { status: 'silenced', because: silence } : { status: 'acknowledged', because: `until ${isoMinute(ack.until)}, by ${ack.by}` };
  }
  const inhibition = input.sources.length > 0 ? findInhibition(labels, input.sources, input.rules, f.fingerprint) : null;
  if (inhibition !== null) return { status: 'inhibited', because: `${inhibition.rule} by ${inhibition.sourceId}` };
  if (f.unnotified !== undefined) return { status: 'not-notified', because: `tracked, not notified: ${f.unnotified}` };
  if (rem?.outcome === 'performed' || rem?.outcome === 'deferred') return { status: 'remediating', because: `remediation ${rem.outcome}` };
  const told = g.lastNotification?.firing.some((n) => n.fingerprint === f.fingerprint) ?? false;
  return told ? { status: 'firing' } : { status: 'pending', because: 'not notified yet (group_wait or pending_for)' };
}

interface Entry {
  row: BoardRow;
  labels: Record<string, string>;
}

function entriesOf(input: BoardInput): Entry[] {
  const out: Entry[] = [];
  for (const g of input.groups) {
    for (const f of Object.values(g.findings)) {
      const labels = findingLabels(f);
      const { status, because } = statusOf(f, g, input, labels);
      out.push({
        labels: { ...labels, status },
        row: {
          groupKey: g.groupKey,
          fingerprint: f.fingerprint,
          cluster: f.cluster,
          tool: f.tool,
          owner: { kind: f.owner.kind, namespace: f.owner.namespace, name: f.owner.name },
          project: f.project,
          resource: { group: f.resource.group, kind: f.resource.kind, namespace: f.resource.namespace, name: f.resource.name },
          api: kindWithGroup(f.resource),
          severity: f.severity,
          state: f.state,
          status,
          ...(because === undefined ? {} : { because }),
          firstSeen: f.firstSeen,
          ...(g.labels.route === undefined ? {} : { route: g.labels.route }),
          receivers: f.receivers,
          ...(f.unnotified === undefined ? {} : { unnotified: f.unnotified }),
        },
      });
    }
  }
  return out;
}

/** Whether every filter matches; `receiver` matches when any of the finding's receivers does. */
function matches(e: Entry, filters: readonly Matcher[]): boolean {
  for (const m of filters) {
    if (m.name === 'receiver') {
      const rs = e.row.receivers.length === 0 ? [''] : e.row.receivers;
      if (!rs.some((r) => m.matches({ receiver: r }))) return false;
    } else if (!m.matches(e.labels)) return false;
  }
  return true;
}

// Code-unit order, not localeCompare (much slower over 10,000 rows): stable and the same everywhere.
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const order = (a: BoardRow, b: BoardRow): number =>
  cmp(a.cluster, b.cluster) ||
  cmp(a.owner.name, b.owner.name) ||
  cmp(a.owner.namespace, b.owner.namespace) ||
  cmp(a.groupKey, b.groupKey) ||
  severityRank(a.severity) - severityRank(b.severity) ||
  cmp(a.api, b.api) ||
  cmp(a.resource.namespace, b.resource.namespace) ||
  cmp(a.resource.name, b.resource.name);

function countsOf(entries: readonly Entry[]): BoardView['counts'] {
  const extra = new Set<string>();
  const perLabel = new Map<string, Map<string, number>>();
  const add = (label: string, value: string) => {
    let m = perLabel.get(label);
    if (m === undefined) perLabel.set(label, (m = new Map()));
    m.set(value, (m.get(value) ?? 0) + 1);
  };
  const known = new Set<string>([...COUNTED, 'owner_kind', 'owner_namespace', 'group', 'name']);
  for (const e of entries) {
    for (const label of COUNTED) {
      if (label === 'receiver') for (const r of e.row.receivers) add(label, r);
      else add(label, e.labels[label] ?? '');
    }
    for (const [k, v] of Object.entries(e.labels)) {
      if (known.has(k)) continue;
      if (!extra.has(k) && extra.size >= MAX_EXTRA_LABELS) continue;
      extra.add(k);
      add(k, v);
    }
  }
  return [...COUNTED, ...[...extra].sort()].flatMap((label) => {
    const m = perLabel.get(label);
    if (m === undefined) return [];
    const values = [...m.entries()].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || cmp(a.value, b.value));
    return [{ label, values: values.slice(0, TOP_VALUES), more: Math.max(0, values.length - TOP_VALUES) }];
  });
}

const STORM_SAMPLE = 20;

/** The board for one query: filter, count, fold storms into one line each, sort, page. */
export function buildBoard(input: BoardInput, q: BoardQuery): BoardView {
  const compiled = q.filters.map(compileMatcher);
  const all = entriesOf(input);
  let matched = all.filter((e) => matches(e, compiled));
  const storms: StormLine[] = [];
  const opened = q.storm === undefined ? undefined : input.storms.find((s) => s.id === q.storm);
  if (q.storm !== undefined) matched = opened === undefined ? [] : matched.filter((e) => opened.members.has(e.row.groupKey));
  // Counted before storms fold: the filter bar counts every finding the filters leave, folded or not.
  const counts = countsOf(matched);
  if (q.storm === undefined && !q.expandStorms) {
    for (const s of input.storms) {
      const inStorm = matched.filter((e) => s.members.has(e.row.groupKey));
      if (inStorm.length === 0) continue;
      const groups = new Map<string, BoardRow>();
      for (const e of inStorm) if (!groups.has(e.row.groupKey)) groups.set(e.row.groupKey, e.row);
      storms.push({
        id: s.id,
        receiver: s.receiver,
        headline: s.headline,
        groups: groups.size,
        findings: inStorm.length,
        sample: [...groups.values()].slice(0, STORM_SAMPLE).map((r) => ({ groupKey: r.groupKey, cluster: r.cluster, owner: r.owner.name })),
      });
      matched = matched.filter((e) => !s.members.has(e.row.groupKey));
    }
  }
  const rows = matched.map((e) => e.row).sort(order);
  const limit = Math.min(MAX_PAGE, Math.max(1, q.limit));
  const pages = Math.max(1, Math.ceil(rows.length / limit));
  const page = Math.min(Math.max(1, q.page), pages);
  return {
    total: all.length,
    matched: rows.length + storms.reduce((n, s) => n + s.findings, 0),
    page,
    pages,
    limit,
    rows: rows.slice((page - 1) * limit, page * limit),
    counts,
    storms,
    filters: q.filters.map(printMatcher),
    ...(q.storm === undefined ? {} : { storm: q.storm }),
    ...(input.truncatedAt === undefined ? {} : { truncated: input.truncatedAt }),
  };
}

import { z } from 'zod';
import type { TrackedFinding } from '../model/alert-group.ts';
import { categorySchema, type Category } from '../model/finding.ts';
import { severitySchema, type Severity } from '../model/severity.ts';
import type { GroupState } from './group-state.ts';

/**
 * Firing findings right now, by severity, mesh and category (`meshdrift_active_findings`), kept
 * exact in Redis by the same compare-and-set commit that changes a group (track/redis-store.ts):
 * each commit carries the difference between the group's firing findings before and after, and
 * the counts are read by every replica, so all replicas report the same numbers.
 *
 * What counts is a distinct finding, not a copy per group: a route with `continue: true` puts one
 * drifted resource in several groups (Slack and PagerDuty), and that is still one drift. A
 * reference count per (fingerprint, severity|mesh|category) says in how many groups it fires with
 * those labels; the finding counts once while that is above zero. If two groups hold it with
 * different severities (between the commits of one signal, or until a snapshot reaches a group a
 * policy change no longer routes it to), it counts once under each: that is what the alerts show.
 *
 * Pure: the keys of the counts, the delta of one commit, and the recount from group states that
 * the bookkeeping must always equal.
 */

export interface ActiveFindingsLabels {
  severity: Severity;
  mesh: string;
  category: Category;
}

export interface ActiveFindingsCount extends ActiveFindingsLabels {
  count: number;
}

/**
 * The field of the counts hash: `severity|mesh|category`. Severity and category are enums without
 * `|`, so the first and last `|` delimit the mesh even if a mesh name were to contain one.
 */
export function countField(f: Pick<TrackedFinding, 'severity' | 'mesh' | 'category'>): string {
  return `${f.severity}|${f.mesh}|${f.category}`;
}

/** The labels of a counts field, validated (the hash is outside input); null if malformed. */
export function parseCountField(field: string): ActiveFindingsLabels | null {
  const first = field.indexOf('|');
  const last = field.lastIndexOf('|');
  if (first < 0 || last <= first) return null;
  const severity = severitySchema.safeParse(field.slice(0, first));
  const category = categorySchema.safeParse(field.slice(last + 1));
  if (!severity.success || !category.success) return null;
  return { severity: severity.data, mesh: field.slice(first + 1, last), category: category.data };
}

const countsHashSchema = z.record(z.string(), z.string().regex(/^\d+$/, 'a non-negative integer'));

/**
 * The counts hash as read from Redis (HGETALL), validated: a field or value that does not parse is
 * an error that names it, never a silently wrong gauge.
 */
export function parseActiveFindings(hash: unknown): ActiveFindingsCount[] {
  const parsed = countsHashSchema.safeParse(hash);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`active findings counts: field ${JSON.stringify(issue?.path.join('.') ?? '?')} is not ${issue?.message ?? 'valid'}`);
  }
  return Object.entries(parsed.data).map(([field, value]) => {
    const labels = parseCountField(field);
    if (labels === null) throw new Error(`active findings counts: field ${JSON.stringify(field)} is not severity|mesh|category`);
    return { ...labels, count: Number(value) };
  });
}

/** One reference of a finding in one group, added (+1) or dropped (-1) by a commit. */
export interface ActiveFindingDelta {
  fingerprint: string;
  /** {@link countField} of the finding's labels in that group. */
  field: string;
  delta: 1 | -1;
}

function firingRefs(state: Pick<GroupState, 'findings'> | null): Map<string, { fingerprint: string; field: string }> {
  const refs = new Map<string, { fingerprint: string; field: string }>();
  for (const f of Object.values(state?.findings ?? {})) {
    if (f.status !== 'firing') continue;
    const field = countField(f);
    refs.set(`${f.fingerprint}|${field}`, { fingerprint: f.fingerprint, field });
  }
  return refs;
}

/**
 * What one commit of a group changes in the reference counts: a finding that starts firing, or
 * fires with other labels (severity raised or lowered by policy), adds a reference; one that
 * resolves, changes labels or leaves with the group (deleted by a flush) drops one. Applied only if
 * the commit's compare-and-set succeeds, so `prev` is exactly what was stored.
 */
export function activeFindingsDelta(prev: Pick<GroupState, 'findings'> | null, next: Pick<GroupState, 'findings'> | null): ActiveFindingDelta[] {
  const before = firingRefs(prev);
  const after = firingRefs(next);
  const deltas: ActiveFindingDelta[] = [];
  for (const [key, ref] of before) if (!after.has(key)) deltas.push({ ...ref, delta: -1 });
  for (const [key, ref] of after) if (!before.has(key)) deltas.push({ ...ref, delta: 1 });
  return deltas;
}

/** The counts recomputed from the groups' states: the reference the Redis bookkeeping must equal. */
export function countActiveFindings(states: Iterable<GroupState>): Map<string, number> {
  const distinct = new Set<string>();
  for (const state of states) for (const key of firingRefs(state).keys()) distinct.add(key);
  const counts = new Map<string, number>();
  for (const key of distinct) {
    const field = key.slice(key.indexOf('|') + 1);
    counts.set(field, (counts.get(field) ?? 0) + 1);
  }
  return counts;
}

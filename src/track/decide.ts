import type { GroupLabels, Notification, NotifyReason, TrackedFinding } from '../model/alert-group.ts';
import type { Finding } from '../model/finding.ts';
import { highestSeverity, severityRank } from '../model/severity.ts';
import type { GroupState } from './group-state.ts';

/**
 * The tracker's decisions, pure: (previous state, input, now, timing) → next state. Redis only
 * stores what these return (track/redis-store.ts); every rule about dedup and timing lives here.
 */

export interface Timing {
  /** Wait before the first notification of a group, to batch what drifts together. */
  groupWaitMs: number;
  /** Minimum time between two notifications of the same group. */
  groupIntervalMs: number;
}

export interface SignalInput {
  groupKey: string;
  labels: GroupLabels;
  findings: readonly Finding[];
  completeness: 'snapshot' | 'partial';
  observedAt: number;
}

export interface ApplyResult {
  /** null when there is nothing to keep (a clean snapshot for a group we never tracked). */
  next: GroupState | null;
  /** Something a notification would show changed: findings appeared, changed state or resolved. */
  changed: boolean;
  /** Findings that start firing with this signal (for metrics). */
  opened: TrackedFinding[];
  resolved: number;
  /** Set when the signal is older than the newest snapshot already applied. */
  stale: boolean;
  /** The state differs from `prev` and must be written (a superset of `changed`). */
  dirty: boolean;
}

function emptyState(input: SignalInput, now: number): GroupState {
  return {
    v: 1,
    groupKey: input.groupKey,
    labels: input.labels,
    findings: {},
    firstSeen: now,
    lastSnapshotAt: 0,
    flushSeq: 0,
    pendingFlush: null,
    handledFlushSeq: 0,
    lastNotification: null,
  };
}

/** Merges one signal's findings into a group. A snapshot resolves what it no longer lists. */
export function applySignal(prev: GroupState | null, input: SignalInput, now: number, timing: Timing): ApplyResult {
  if (prev && input.completeness === 'snapshot' && input.observedAt < prev.lastSnapshotAt) {
    return { next: prev, changed: false, opened: [], resolved: 0, stale: true, dirty: false };
  }
  const base = prev ?? emptyState(input, now);
  const findings: Record<string, TrackedFinding> = { ...base.findings };
  const opened: TrackedFinding[] = [];
  let changed = false;
  let dirty = false;
  let resolved = 0;

  const firingBefore = Object.values(base.findings).some((f) => f.status === 'firing');
  for (const f of input.findings) {
    const existing = findings[f.fingerprint];
    if (!existing || existing.status === 'resolved') {
      const tracked: TrackedFinding = { ...f, firstSeen: now, lastSeen: now, status: 'firing' };
      findings[f.fingerprint] = tracked;
      opened.push(tracked);
      changed = true;
      continue;
    }
    const material = existing.state !== f.state || existing.severity !== f.severity;
    if (material || existing.detail !== f.detail) {
      findings[f.fingerprint] = { ...existing, ...f, firstSeen: existing.firstSeen, lastSeen: now, status: 'firing' };
      changed ||= material;
      dirty = true;
    }
  }

  if (input.completeness === 'snapshot') {
    const present = new Set(input.findings.map((f) => f.fingerprint));
    for (const [fp, f] of Object.entries(findings)) {
      if (f.status === 'firing' && !present.has(fp)) {
        findings[fp] = { ...f, status: 'resolved', resolvedAt: now };
        changed = true;
        resolved++;
      }
    }
  }

  if (!prev && opened.length === 0) return { next: null, changed: false, opened, resolved, stale: false, dirty: false };

  const lastSnapshotAt = input.completeness === 'snapshot' ? Math.max(base.lastSnapshotAt, input.observedAt) : base.lastSnapshotAt;
  dirty ||= changed || lastSnapshotAt !== base.lastSnapshotAt || prev === null;
  if (!dirty) return { next: prev, changed, opened, resolved, stale: false, dirty };
  let next: GroupState = { ...base, labels: input.labels, findings, lastSnapshotAt };
  // A new episode starts when a quiet group fires again.
  if (!firingBefore && opened.length > 0 && (base.lastNotification === null || base.lastNotification.status === 'resolved')) {
    next = { ...next, firstSeen: now };
  }
  if (changed && next.pendingFlush === null) next = scheduleFlush(next, now, timing);
  return { next, changed, opened, resolved, stale: false, dirty };
}

/**
 * When the next notification decision is due: group_wait after a quiet group starts firing,
 * otherwise group_interval after the last notification (Alertmanager's timers).
 */
export function scheduleFlush(state: GroupState, now: number, timing: Timing): GroupState {
  const last = state.lastNotification;
  const dueAt =
    last === null || last.status === 'resolved' ? now + timing.groupWaitMs : Math.max(now, last.at + timing.groupIntervalMs);
  const seq = state.flushSeq + 1;
  return { ...state, flushSeq: seq, pendingFlush: { seq, dueAt } };
}

function firingOf(state: GroupState): TrackedFinding[] {
  return Object.values(state.findings).filter((f) => f.status === 'firing');
}

/**
 * Whether a notification is due, and why (Alertmanager's DedupStage.needsUpdate in drift terms):
 * compare what fires now with what the last notification said.
 */
export function decide(state: GroupState): NotifyReason {
  const firing = firingOf(state);
  const last = state.lastNotification;
  if (firing.length === 0) return last !== null && last.status === 'firing' ? 'resolved' : 'none';
  if (last === null || last.status === 'resolved') return 'first';
  const before = new Map(last.firing.map((f) => [f.fingerprint, f]));
  if (firing.some((f) => !before.has(f.fingerprint))) return 'new-findings';
  if (firing.some((f) => severityRank(f.severity) < severityRank(before.get(f.fingerprint)?.severity ?? 'info'))) {
    return 'severity-raised';
  }
  const now = new Set(firing.map((f) => f.fingerprint));
  if (last.firing.some((f) => !now.has(f.fingerprint))) return 'some-resolved';
  return 'none';
}

export interface FlushResult {
  /** null: delete the group (nothing firing, nothing left to announce). */
  next: GroupState | null;
  notification: Notification | null;
}

const BY_SEVERITY = (a: TrackedFinding, b: TrackedFinding): number =>
  severityRank(a.severity) - severityRank(b.severity) ||
  a.resource.kind.localeCompare(b.resource.kind) ||
  a.resource.namespace.localeCompare(b.resource.namespace) ||
  a.resource.name.localeCompare(b.resource.name);

/**
 * Commits a flush: builds the notification (if any) and the state after it. Resolved findings are
 * dropped once announced. Findings Flux already reverted (Corrected) are announced once, then
 * resolve by themselves: a follow-up flush announces that.
 */
export function flush(state: GroupState, flushSeq: number, now: number, timing: Timing): FlushResult {
  const reason = decide(state);
  const firing = firingOf(state).sort(BY_SEVERITY);
  const resolvedNow = Object.values(state.findings).filter((f) => f.status === 'resolved');
  const base: GroupState = { ...state, pendingFlush: null, handledFlushSeq: flushSeq };

  if (reason === 'none') {
    const findings = Object.fromEntries(firing.map((f) => [f.fingerprint, f]));
    if (firing.length === 0 && (state.lastNotification === null || state.lastNotification.status === 'resolved')) {
      // Resolved before anyone was told (within group_wait): nothing to say, nothing to keep.
      return { next: state.lastNotification === null ? null : { ...base, findings }, notification: null };
    }
    return { next: { ...base, findings }, notification: null };
  }

  const lastFiring = new Set(state.lastNotification?.status === 'firing' ? state.lastNotification.firing.map((f) => f.fingerprint) : []);
  // Announce as resolved only what an earlier notification announced as firing.
  const resolved = resolvedNow.filter((f) => lastFiring.has(f.fingerprint)).sort(BY_SEVERITY);
  const status = firing.length > 0 ? 'firing' : 'resolved';
  const notification: Notification = {
    groupKey: state.groupKey,
    seq: (state.lastNotification?.seq ?? 0) + 1,
    reason,
    status,
    labels: state.labels,
    severity: highestSeverity((status === 'firing' ? firing : resolved).map((f) => f.severity)),
    firing,
    resolved,
    at: now,
    firstSeen: state.firstSeen,
  };

  const findings: Record<string, TrackedFinding> = {};
  let selfResolved = false;
  for (const f of firing) {
    if (f.state === 'Corrected') {
      findings[f.fingerprint] = { ...f, status: 'resolved', resolvedAt: now };
      selfResolved = true;
    } else {
      findings[f.fingerprint] = f;
    }
  }
  let next: GroupState = { ...base, findings, lastNotification: notification };
  if (selfResolved) next = scheduleFlush(next, now, timing);
  return { next, notification };
}

/**
 * The part of a group's notification that concerns one receiver: only the findings its routes sent
 * there. null when none concern it (nothing to deliver). Status and severity follow that subset,
 * so a pager whose only finding resolved gets a resolve while the group still fires elsewhere.
 */
export function notificationFor(n: Notification, receiver: string): Notification | null {
  const mine = (f: TrackedFinding) => f.receivers.includes(receiver);
  const firing = n.firing.filter(mine);
  const resolved = n.resolved.filter(mine);
  if (firing.length === 0 && resolved.length === 0) return null;
  if (firing.length === n.firing.length && resolved.length === n.resolved.length) return n;
  const status = firing.length > 0 ? 'firing' : 'resolved';
  return { ...n, firing, resolved, status, severity: highestSeverity((status === 'firing' ? firing : resolved).map((f) => f.severity)) };
}

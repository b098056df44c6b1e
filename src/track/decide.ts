import { findingEndedAt, type GroupLabels, type Notification, type NotifyReason, type TrackedFinding } from '../model/alert-group.ts';
import type { Finding } from '../model/finding.ts';
import { highestSeverity, severityRank } from '../model/severity.ts';
import type { DriftState, GitOpsTool, OwnerRef } from '../model/signal.ts';
import { ownerPath } from '../model/owner.ts';
import type { GroupState, SnapshotRecord, Timing } from './group-state.ts';

export type { SnapshotRecord, Timing };

/**
 * The tracker's decisions, pure: (previous state, input, now) → next state. Redis only stores what
 * these return (track/redis-store.ts); every rule about dedup, timers, flap suppression and muting
 * lives here, with Alertmanager's meanings (group_wait, group_interval, repeat_interval) plus
 * pending_for.
 */

/** The owner a signal speaks for: a snapshot resolves only this owner's findings in a group. */
export interface SignalScope {
  cluster: string;
  tool: GitOpsTool;
  owner: OwnerRef;
  /** A snapshot that speaks for only some of the owner's findings (Signal.covers). */
  covers?: { kinds?: readonly string[] | undefined; states?: readonly DriftState[] | undefined } | undefined;
}

/**
 * States only meshdrift's own mesh watch can see (issue #16): a GitOps tool's snapshot says nothing
 * about them (Argo CD calls a shadow-drifted object Synced), so only a snapshot that names them in
 * `covers.states` (the mesh watch's own) resolves them.
 */
export const WATCH_ONLY_STATES: ReadonlySet<DriftState> = new Set<DriftState>(['Shadow', 'NotInEffect', 'Unmanaged']);

function covered(f: TrackedFinding, scope: SignalScope): boolean {
  const c = scope.covers;
  if (c?.states === undefined && WATCH_ONLY_STATES.has(f.state)) return false;
  if (!c) return true;
  return (c.kinds === undefined || c.kinds.includes(f.resource.kind)) && (c.states === undefined || c.states.includes(f.state));
}

/**
 * The newest write to the object its evidence names (managedFields or admission time, cluster
 * clock). A snapshot whose tool compared at or before it (Argo CD `reconciledAt`) has not seen that
 * write, so its "Synced" cannot resolve what the mesh watch saw.
 */
function lastWriteAt(f: Pick<Finding, 'attribution'>): number | undefined {
  const times = (f.attribution ?? []).map((a) => a.at).filter((t): t is number => t !== undefined);
  return times.length > 0 ? Math.max(...times) : undefined;
}

/** Whether a signal carries evidence (changes, attribution) the stored finding does not hold yet. */
function newEvidence(existing: Finding, f: Finding): boolean {
  return (
    (f.changes !== undefined && JSON.stringify(f.changes) !== JSON.stringify(existing.changes)) ||
    (f.attribution !== undefined && JSON.stringify(f.attribution) !== JSON.stringify(existing.attribution))
  );
}

/**
 * How long a group remembers a reverted (Corrected) finding after the notification that told it
 * resolved. A revert is often reported twice, by sources whose event ids differ (so the Flux event
 * dedup, sources/flux/process-event.ts fluxEventId, cannot tell): the mesh watch sees the write
 * back at once and kustomize-controller's change set (or a HelmRelease's DriftCorrected) follows,
 * through notification-controller, which retries a failed delivery for minutes; a second Alert
 * forwards the same event, a core Event is relisted (the API server keeps Events 1 h by default).
 * A report of a revert observed before the finding resolved is that same revert (applySignal):
 * for this long after the all-clear it opens no second episode; after it, the group forgets.
 */
export const REVERT_MEMORY_MS = 3_600_000;

/** A finding told resolved that its group still remembers at `now` (REVERT_MEMORY_MS). */
const rememberedAt = (f: TrackedFinding, now: number): boolean => f.rememberedUntil !== undefined && now < f.rememberedUntil;

/**
 * A report of a revert observed before the finding resolved (the watch's and then Flux's report of
 * one revert): already accounted for, while the resolve is held and while the group remembers it
 * after the all-clear. A revert observed later is a new edit reverted again: a new episode.
 */
function accountedRevert(existing: TrackedFinding | undefined, f: Finding, observedAt: number, now: number): boolean {
  if (existing?.status !== 'resolved' || f.state !== 'Corrected' || (existing.resolvedAt ?? 0) < observedAt) return false;
  return existing.rememberedUntil === undefined || rememberedAt(existing, now);
}

export interface SignalInput {
  groupKey: string;
  /** Absent for a group the owner had findings in but this signal routes nothing to: kept as stored. */
  labels?: GroupLabels;
  timing?: Timing;
  /** This group's findings from the signal (already carrying this groupKey and receiver). */
  findings: readonly Finding[];
  completeness: 'snapshot' | 'partial';
  scope: SignalScope;
  /** When, by meshdrift's clock (told times already bounded to the receipt: track/ingest.ts). */
  observedAt: number;
  /**
   * Every finding the whole snapshot still reports for its owner, in whatever group (by
   * fingerprint). A firing finding this group no longer receives but which the snapshot reports
   * unchanged (same state and severity) is kept firing here instead of resolved: see applySignal.
   */
  reported?: ReadonlyMap<string, Finding>;
  /**
   * meshdrift read this itself (watch, re-list, API poll) rather than being told it (webhook).
   * Absent: told.
   */
  observed?: boolean;
  /** When the tool compared live with Git (Argo CD reconciledAt), for a snapshot (model/signal.ts comparedAt). */
  comparedAt?: number;
}

/** What a signal needs of the last notification: when, and whether it said firing or resolved. */
export type LastTold = Pick<Notification, 'status' | 'at'>;

/**
 * What applySignal reads of a group: its state, where `findings` may hold only the findings the
 * signal names and (for a snapshot) its owner's, `snapshots` only that owner's record, and the last
 * notification only when and what it said (track/group-layout.ts reads no more for a signal).
 * `firingUnread`: firing findings exist that are not in `findings`. A whole GroupState is a view.
 */
export type SignalView = Omit<GroupState, 'lastNotification'> & { lastNotification: LastTold | null; firingUnread?: boolean };

export interface ApplyResult<S extends SignalView = GroupState> {
  /** null when there is nothing to keep (a clean snapshot for a group we never tracked). */
  next: S | null;
  /** Something a notification would show changed: findings appeared, changed state or resolved. */
  changed: boolean;
  /** Findings that start firing with this signal (for metrics). */
  opened: TrackedFinding[];
  resolved: number;
  /** Findings this signal resolved (for the inhibition source index). */
  resolvedFindings: TrackedFinding[];
  /** Set when the signal is older than the newest snapshot already applied. */
  stale: boolean;
  /** The state differs from `prev` and must be written (a superset of `changed`). */
  dirty: boolean;
}

/**
 * Firing, and to be told: a finding the policy keeps out of notifications (`unnotified`: non-mesh
 * drift) is tracked and listed but neither told nor keeps its group from being told resolved.
 */
export function firingToTell(f: TrackedFinding): boolean {
  return f.status === 'firing' && f.unnotified === undefined;
}

export function inScope(f: TrackedFinding, scope: SignalScope): boolean {
  return (
    f.cluster === scope.cluster &&
    f.tool === scope.tool &&
    f.owner.kind === scope.owner.kind &&
    f.owner.namespace === scope.owner.namespace &&
    f.owner.name === scope.owner.name
  );
}

/**
 * The record a group keeps of an owner's last snapshot. A bare number (a state written by the
 * previous version) is a told time, bounded by `now`: a time from the future, stored by a version
 * that believed senders, holds nothing back.
 */
export function snapshotRecordOf(state: Pick<GroupState, 'snapshots' | 'snapshotRecords'>, owner: string, now: number): SnapshotRecord | undefined {
  const rec = state.snapshotRecords?.[owner];
  if (rec) return rec;
  const at = state.snapshots[owner];
  return at === undefined ? undefined : { at: Math.min(at, now), observed: false };
}

/**
 * Whether a snapshot is older than the one applied last for its owner (then it is stale: it
 * changes nothing). What meshdrift observes beats what it is told:
 * - an observed snapshot is stale only behind a later *observed* one (both timed by the shared
 *   clock); a told snapshot (a webhook) never holds back an observation, whatever time it claimed;
 * - a told snapshot is stale behind any later snapshot, told or observed.
 */
export function isStaleSnapshot(prev: SnapshotRecord | undefined, incoming: SnapshotRecord): boolean {
  if (!prev) return false;
  if (incoming.observed && !prev.observed) return false;
  return incoming.at < prev.at;
}

function emptyState(input: SignalInput, now: number): GroupState {
  if (!input.labels || !input.timing) throw new Error(`group ${input.groupKey}: a new group needs labels and timing`);
  return {
    v: 1,
    groupKey: input.groupKey,
    createdAt: now,
    labels: input.labels,
    timing: input.timing,
    findings: {},
    firstSeen: now,
    snapshots: {},
    snapshotRecords: {},
    flushSeq: 0,
    pendingFlush: null,
    handledFlushSeq: 0,
    lastNotification: null,
  };
}

const evidenceOf = (f: Finding): Pick<Finding, 'changes' | 'attribution'> => ({
  ...(f.changes !== undefined ? { changes: f.changes } : {}),
  ...(f.attribution !== undefined ? { attribution: f.attribution } : {}),
});

function sameTiming(a: Timing, b: Timing): boolean {
  return (
    a.groupWaitMs === b.groupWaitMs &&
    a.groupIntervalMs === b.groupIntervalMs &&
    a.repeatIntervalMs === b.repeatIntervalMs &&
    a.pendingForMs === b.pendingForMs &&
    a.resolveWaitMs === b.resolveWaitMs
  );
}

/** Merges one signal's findings into a group. A snapshot resolves what it no longer lists, for its owner. */
export function applySignal(prev: GroupState | null, input: SignalInput, now: number): ApplyResult<GroupState>;
export function applySignal(prev: SignalView | null, input: SignalInput, now: number): ApplyResult<SignalView>;
export function applySignal<S extends SignalView>(prev: S | null, input: SignalInput, now: number): ApplyResult<S> {
  const owner = ownerPath(input.scope);
  const incoming: SnapshotRecord = { at: input.observedAt, observed: input.observed === true };
  // A snapshot of some states only (the mesh watch's) is ordered by its own queue, not against the
  // owner's record: it neither is held back by an Argo CD or Flux snapshot nor holds them back.
  const ordered = input.completeness === 'snapshot' && input.scope.covers?.states === undefined;
  if (prev && ordered && isStaleSnapshot(snapshotRecordOf(prev, owner, now), incoming)) {
    return { next: prev, changed: false, opened: [], resolved: 0, resolvedFindings: [], stale: true, dirty: false };
  }
  if (!prev && input.findings.length === 0) return { next: null, changed: false, opened: [], resolved: 0, resolvedFindings: [], stale: false, dirty: false };
  // A new group's state is whole: a view of every kind.
  const base: S = prev ?? (emptyState(input, now) as S);
  const timing = input.timing ?? base.timing;
  const findings: Record<string, TrackedFinding> = { ...base.findings };
  const opened: TrackedFinding[] = [];
  let changed = false;
  let dirty = false;
  let resolved = 0;
  const resolvedFindings: TrackedFinding[] = [];

  const firingBefore = base.firingUnread === true || Object.values(base.findings).some(firingToTell);
  for (const f of input.findings) {
    const existing = findings[f.fingerprint];
    // A revert the watch saw before the finding resolved is already accounted for: no second episode.
    if (accountedRevert(existing, f, input.observedAt, now)) continue;
    if (!existing || existing.status === 'resolved') {
      const tracked: TrackedFinding = { ...f, firstSeen: now, lastSeen: now, status: 'firing' };
      findings[f.fingerprint] = tracked;
      opened.push(tracked);
      changed = true;
      continue;
    }
    // A watch-only state (Shadow, NotInEffect) never replaces what a GitOps tool (or a watch-seen
    // edit) reported about the same object: the stronger verdict stands until it resolves.
    const weaker = WATCH_ONLY_STATES.has(f.state) && !WATCH_ONLY_STATES.has(existing.state);
    // Whether it is notified changed (a policy reload: notify_non_mesh) is news too.
    const material = !weaker && (existing.state !== f.state || existing.severity !== f.severity || existing.unnotified !== f.unnotified);
    if (material || (!weaker && existing.detail !== f.detail) || newEvidence(existing, f)) {
      // Evidence (changes, attribution) a later signal lacks is kept: `f` has no such key then.
      // Whether it is notified is the signal's own (the policy in force), never kept from before.
      const { unnotified: _before, ...kept } = existing;
      const merged = weaker ? { ...existing, ...evidenceOf(f) } : { ...kept, ...f };
      findings[f.fingerprint] = { ...merged, firstSeen: existing.firstSeen, lastSeen: now, status: 'firing' };
      changed ||= material;
      dirty = true;
    }
  }

  if (input.completeness === 'snapshot') {
    const present = new Set(input.findings.map((f) => f.fingerprint));
    for (const [fp, f] of Object.entries(findings)) {
      if (f.status === 'firing' && !present.has(fp) && inScope(f, input.scope) && covered(f, input.scope)) {
        // Only the routing moved it (a policy reload: a route edited, group_by or a receiver
        // changed; or the owner's labels that routes match on): the finding is still drifted, unchanged, and told in its new group. Resolving it here
        // would send this group's receivers a false "resolved" (issue #12), and a PagerDuty
        // incident or a Slack message would say the drift is over while it stands. It stays
        // firing here, told no more than before (repeats), and resolves here truthfully with the
        // first snapshot that no longer reports it. A finding whose state or severity changed
        // is news for this group: it resolves here as before (e.g. it left a pager route by no
        // longer being critical).
        const still = input.reported?.get(fp);
        if (still !== undefined && still.state === f.state && still.severity === f.severity) continue;
        // The tool compared before the write the mesh watch saw: its "in sync" is about the object before it.
        const wrote = lastWriteAt(f);
        if (input.comparedAt !== undefined && wrote !== undefined && input.comparedAt <= wrote) continue;
        findings[fp] = { ...f, status: 'resolved', resolvedAt: now };
        changed = true;
        resolved++;
        resolvedFindings.push(f);
      }
    }
  }

  // An accepted snapshot becomes the owner's record (the old number too, for older replicas).
  let snapshots = base.snapshots;
  let snapshotRecords = base.snapshotRecords;
  const kept = base.snapshotRecords?.[owner];
  if (ordered && (kept === undefined || kept.at !== incoming.at || kept.observed !== incoming.observed)) {
    snapshots = { ...base.snapshots, [owner]: incoming.at };
    snapshotRecords = { ...base.snapshotRecords, [owner]: incoming };
  }
  // A group adopted under a new route identity (track/grouping.ts adoptGroups) takes it on.
  const route = input.labels?.route;
  const relabel = route !== undefined && route !== base.labels.route;
  dirty ||= changed || relabel || snapshots !== base.snapshots || prev === null || !sameTiming(base.timing, timing);
  if (!dirty) return { next: prev, changed, opened, resolved, resolvedFindings, stale: false, dirty };
  let next: S = {
    ...base,
    timing,
    findings,
    snapshots,
    ...(snapshotRecords ? { snapshotRecords } : {}),
    ...(relabel ? { labels: { ...base.labels, route } } : {}),
  };
  // A new episode starts when a quiet group fires again.
  if (!firingBefore && opened.length > 0 && (base.lastNotification === null || base.lastNotification.status === 'resolved')) {
    next = { ...next, firstSeen: now, labels: input.labels ?? base.labels };
  }
  if (changed) {
    // Unread firing findings (a view of part of the group) keep it firing: this signal cannot have
    // resolved them. A Corrected one does not: told before, it resolves at the flush (flush
    // settleReverted), so it is a resolve, due as one; never told, that flush finds it news and
    // holds it for the group_interval tick (decide), as before.
    const firing = base.firingUnread === true || Object.values(findings).some((f) => firingToTell(f) && f.state !== 'Corrected');
    next = scheduleFlush(next, changeDueAt(next, now, firing));
  }
  return { next, changed, opened, resolved, resolvedFindings, stale: false, dirty };
}

/**
 * The route's resolve_wait. A state written before resolve_wait existed has none: its all-clear
 * waits for group_interval, as that version would have sent it.
 */
export function resolveWaitOf(timing: Timing): number {
  return timing.resolveWaitMs ?? timing.groupIntervalMs;
}

/**
 * When a change should be decided (pure; the flush scheduler calls it with the state after the
 * change): group_wait after a quiet group starts firing, otherwise group_interval after the last
 * notification (Alertmanager's timers). A group that fires again soon after its resolve was sent
 * still waits for group_interval, as Alertmanager's group (which outlives the resolve) does: a flap
 * between two ticks is then never sent (bench/flapping.ts).
 * `firing`: whether anything in the group still fires after the change. When nothing does (the
 * last finding told firing resolved), the all-clear is due after resolve_wait, or at the
 * group_interval tick if that comes first: a resolve is told promptly, not up to group_interval
 * late (Alertmanager waits for its tick; prometheus/alertmanager#1510 asks for this). A finding
 * that drifts again within resolve_wait cancels the all-clear (the flush finds it firing).
 */
export function changeDueAt(state: Pick<SignalView, 'lastNotification' | 'timing'>, now: number, firing = true): number {
  const { timing } = state;
  const last = state.lastNotification;
  if (last === null) return now + timing.groupWaitMs;
  if (last.status === 'resolved') return Math.max(now + timing.groupWaitMs, last.at + timing.groupIntervalMs);
  const tick = Math.max(now, last.at + timing.groupIntervalMs);
  return firing ? tick : Math.min(tick, now + resolveWaitOf(timing));
}

/**
 * Schedules a flush at `dueAt` unless one is already due by then. An earlier need replaces a later
 * one (a new seq; the old job finds itself stale), so a far repeat never delays a change.
 */
export function scheduleFlush<S extends Pick<GroupState, 'flushSeq' | 'pendingFlush'>>(state: S, dueAt: number): S {
  if (state.pendingFlush !== null && state.pendingFlush.dueAt <= dueAt) return state;
  const seq = state.flushSeq + 1;
  return { ...state, flushSeq: seq, pendingFlush: { seq, dueAt } };
}

/** Why a firing finding is held back from notifications right now, and until when (if known). */
export interface Mute {
  muted: boolean;
  /** When it may change (silence end, interval boundary); undefined: re-check at group_interval. */
  until?: number | undefined;
}

export interface FlushContext {
  now: number;
  /** Silences and inhibition, decided outside (they need Redis); default: nothing muted. */
  mute?: (f: TrackedFinding) => Mute;
  /** The route is in a mute time interval (or outside its active ones) until `until`. */
  routeMuted?: Mute;
}

export interface Decision {
  reason: NotifyReason;
  /** Firing findings that may be told now (drifted for pending_for, not muted). */
  notifiable: TrackedFinding[];
  /** Findings announced firing before that have resolved since. */
  resolvedToAnnounce: TrackedFinding[];
  /** When to look again even if nothing changes (pending_for ends, a mute ends, repeat). */
  wakeAt: number | null;
}

const BY_SEVERITY = (a: TrackedFinding, b: TrackedFinding): number =>
  severityRank(a.severity) - severityRank(b.severity) ||
  a.resource.kind.localeCompare(b.resource.kind) ||
  a.resource.namespace.localeCompare(b.resource.namespace) ||
  a.resource.name.localeCompare(b.resource.name);

const earliest = (a: number | null, b: number | undefined | null): number | null => (b == null ? a : a === null ? b : Math.min(a, b));

/**
 * Whether a notification is due, and why (Alertmanager's DedupStage.needsUpdate in drift terms):
 * compare what may be told now with what the last notification said.
 */
export function decide(state: GroupState, ctx: FlushContext): Decision {
  const { now } = ctx;
  const last = state.lastNotification;
  const announced = new Map(last?.status === 'firing' ? last.firing.map((f) => [f.fingerprint, f]) : []);
  let wakeAt: number | null = null;
  const notifiable: TrackedFinding[] = [];
  for (const f of Object.values(state.findings)) {
    if (!firingToTell(f)) continue;
    const ripe = f.firstSeen + state.timing.pendingForMs;
    if (now < ripe) {
      wakeAt = earliest(wakeAt, ripe);
      continue;
    }
    const mute = ctx.mute?.(f);
    if (mute?.muted) {
      // Look again when the mute ends, and at least every group_interval: a silence can be
      // expired early and an inhibiting finding can resolve in another group at any time.
      wakeAt = earliest(wakeAt, Math.min(mute.until ?? Number.POSITIVE_INFINITY, now + Math.max(state.timing.groupIntervalMs, 1000)));
      continue;
    }
    notifiable.push(f);
  }
  notifiable.sort(BY_SEVERITY);
  const resolvedToAnnounce = Object.values(state.findings)
    .filter((f) => f.status === 'resolved' && announced.has(f.fingerprint))
    .sort(BY_SEVERITY);

  if (ctx.routeMuted?.muted) {
    return {
      reason: 'none',
      notifiable,
      resolvedToAnnounce,
      wakeAt: earliest(wakeAt, ctx.routeMuted.until ?? now + Math.max(state.timing.groupIntervalMs, 1000)),
    };
  }

  let reason: NotifyReason = 'none';
  const firingNow = Object.values(state.findings).some(firingToTell);
  if (notifiable.length === 0) {
    // Everything told before has resolved: the group is over. (Findings merely muted or pending
    // keep the group open and are not announced as resolved.)
    if (last?.status === 'firing' && !firingNow) reason = 'resolved';
    else if (resolvedToAnnounce.length > 0) reason = 'some-resolved';
  } else if (last === null || last.status === 'resolved') {
    reason = 'first';
  } else if (notifiable.some((f) => !announced.has(f.fingerprint))) {
    reason = 'new-findings';
  } else if (notifiable.some((f) => severityRank(f.severity) < severityRank(announced.get(f.fingerprint)?.severity ?? 'info'))) {
    reason = 'severity-raised';
  } else if (resolvedToAnnounce.length > 0) {
    reason = 'some-resolved';
  } else if (now - last.at >= state.timing.repeatIntervalMs) {
    reason = 'repeat';
  }
  // Only the all-clear may come sooner than group_interval after the last notification (resolve_wait):
  // a change to a group still firing waits for the tick, also when a flush is due before it (an
  // all-clear that a new drift cancelled, the end of a mute).
  const tick = last === null ? 0 : last.at + state.timing.groupIntervalMs;
  if ((reason === 'new-findings' || reason === 'severity-raised' || reason === 'some-resolved') && now < tick) {
    return { reason: 'none', notifiable, resolvedToAnnounce, wakeAt: earliest(wakeAt, tick) };
  }
  return { reason, notifiable, resolvedToAnnounce, wakeAt };
}

/**
 * When a group's drift ended, by meshdrift's clock: the latest resolve among its resolved findings
 * (when the snapshot that no longer listed it was applied), not when the all-clear is sent. Drift
 * Flux had already reverted (Corrected) ended by the time it was last reported. `fallback` when
 * nothing says (a state from an older version). Each finding's end is model/alert-group.ts
 * findingEndedAt, the one rule the receivers' per-alert end times use too.
 */
export function driftEndedAt(findings: readonly TrackedFinding[], fallback: number): number {
  let ended: number | undefined;
  for (const f of findings) {
    if (f.status !== 'resolved' || f.resolvedAt === undefined) continue;
    const at = findingEndedAt(f, fallback);
    ended = ended === undefined ? at : Math.max(ended, at);
  }
  return Math.min(ended ?? fallback, fallback);
}

export interface FlushResult {
  /** null: delete the group (nothing firing, nothing left to announce). */
  next: GroupState | null;
  notification: Notification | null;
}

/**
 * Findings the last notification told firing that a later signal reported reverted by the tool
 * (Corrected: a Flux change set, the mesh watch's revert): resolved now, so this flush announces
 * them as any resolve (the all-clear, or some-resolved beside findings still firing). Their drift
 * ended when the revert was reported (model/alert-group.ts findingEndedAt: lastSeen), and a later
 * report of the same revert opens no new episode while the resolve is held, nor for
 * REVERT_MEMORY_MS after it was told (applySignal).
 */
function settleReverted(state: GroupState, now: number): GroupState {
  const last = state.lastNotification;
  if (last?.status !== 'firing') return state;
  const told = new Set(last.firing.map((f) => f.fingerprint));
  let findings: Record<string, TrackedFinding> | undefined;
  for (const [fp, f] of Object.entries(state.findings)) {
    if (f.status !== 'firing' || f.state !== 'Corrected' || !told.has(fp)) continue;
    findings ??= { ...state.findings };
    findings[fp] = { ...f, status: 'resolved', resolvedAt: now };
  }
  return findings === undefined ? state : { ...state, findings };
}

/** The group's findings but the reverts remembered from an earlier notification: no part of the drift that ends now. */
const episodeFindings = (state: GroupState): TrackedFinding[] => Object.values(state.findings).filter((f) => f.rememberedUntil === undefined);

/**
 * The findings a group keeps after a notification: the firing ones (a Corrected one told now
 * resolves by itself: `selfResolved`), and reverts (Corrected) told resolved, remembered for
 * REVERT_MEMORY_MS (now, or by an earlier notification and not over yet). Other resolved ones are
 * announced now (or were never told) and dropped.
 */
function keptAfterNotification(state: GroupState, d: Decision, now: number): { findings: Record<string, TrackedFinding>; selfResolved: boolean } {
  const findings: Record<string, TrackedFinding> = {};
  let selfResolved = false;
  const told = new Set(d.notifiable.map((f) => f.fingerprint));
  const announced = new Set(d.resolvedToAnnounce.map((f) => f.fingerprint));
  for (const f of Object.values(state.findings)) {
    if (f.status !== 'firing') {
      if (f.state === 'Corrected' && announced.has(f.fingerprint)) findings[f.fingerprint] = { ...f, rememberedUntil: now + REVERT_MEMORY_MS };
      else if (rememberedAt(f, now)) findings[f.fingerprint] = f;
    } else if (f.state === 'Corrected' && told.has(f.fingerprint)) {
      findings[f.fingerprint] = { ...f, status: 'resolved', resolvedAt: now };
      selfResolved = true;
    } else {
      findings[f.fingerprint] = f;
    }
  }
  return { findings, selfResolved };
}

/**
 * Commits a flush: builds the notification (if any) and the state after it. Resolved findings are
 * dropped once announced, reverted ones REVERT_MEMORY_MS after (keptAfterNotification: a flush
 * then drops them). Findings Flux already reverted (Corrected) are announced once, then resolve by
 * themselves: a follow-up flush announces that. A finding told before it was reported
 * Corrected resolves at this flush (settleReverted). While the group fires, the next flush is
 * scheduled for the repeat (or earlier, for pending or muted findings).
 */
export function flush(stored: GroupState, flushSeq: number, ctx: FlushContext): FlushResult {
  const { now } = ctx;
  const state = settleReverted(stored, now);
  const d = decide(state, ctx);
  const base: GroupState = { ...state, pendingFlush: null, handledFlushSeq: flushSeq };
  const announcedIds = new Set(d.resolvedToAnnounce.map((f) => f.fingerprint));

  if (d.reason === 'none') {
    // Keep firing findings, resolved ones still owed an announcement (they wait for a change), and
    // reverts told resolved that the group still remembers.
    const remembered = Object.fromEntries(Object.entries(state.findings).filter(([, f]) => rememberedAt(f, now)));
    const findings = Object.fromEntries(
      Object.entries(state.findings).filter(([fp, f]) => f.status === 'firing' || announcedIds.has(fp) || remembered[fp] !== undefined),
    );
    const firing = Object.values(findings).some((f) => f.status === 'firing');
    if (!firing && announcedIds.size === 0 && (state.lastNotification === null || state.lastNotification.status === 'resolved')) {
      // Resolved before anyone was told (within group_wait or pending_for): nothing to keep.
      return { next: state.lastNotification === null ? null : { ...base, findings: remembered }, notification: null };
    }
    let next: GroupState = { ...base, findings };
    if (d.wakeAt !== null) next = scheduleFlush(next, d.wakeAt);
    else if (state.lastNotification?.status === 'firing' && firing) next = scheduleFlush(next, state.lastNotification.at + state.timing.repeatIntervalMs);
    return { next, notification: null };
  }

  const status = d.notifiable.length > 0 ? 'firing' : 'resolved';
  const notification: Notification = {
    groupKey: state.groupKey,
    seq: (state.lastNotification?.seq ?? 0) + 1,
    reason: d.reason,
    status,
    labels: state.labels,
    severity: highestSeverity((status === 'firing' ? d.notifiable : d.resolvedToAnnounce).map((f) => f.severity)),
    firing: d.notifiable,
    resolved: d.resolvedToAnnounce,
    at: now,
    firstSeen: state.firstSeen,
    ...(status === 'resolved' ? { resolvedAt: driftEndedAt(episodeFindings(state), now) } : {}),
  };

  const { findings, selfResolved } = keptAfterNotification(state, d, now);
  let next: GroupState = { ...base, findings, lastNotification: notification };
  if (selfResolved) {
    const firing = Object.values(findings).some(firingToTell);
    next = scheduleFlush(next, changeDueAt(next, now, firing));
  }
  if (d.wakeAt !== null) next = scheduleFlush(next, Math.max(d.wakeAt, now + state.timing.groupIntervalMs));
  if (status === 'firing') next = scheduleFlush(next, now + state.timing.repeatIntervalMs);
  return { next, notification };
}

import { describe, expect, it } from 'vitest';
import type { TrackedFinding } from '../../../src/model/alert-group.ts';
import type { Finding } from '../../../src/model/finding.ts';
import type { Severity } from '../../../src/model/severity.ts';
import type { DriftState } from '../../../src/model/signal.ts';
import { applySignal, changeDueAt, decide, driftEndedAt, flush, resolveWaitOf, type FlushContext, type SignalInput } from '../../../src/track/decide.ts';
import { groupStateSchema, type GroupState, type Timing } from '../../../src/track/group-state.ts';

const timing: Timing = { groupWaitMs: 10_000, groupIntervalMs: 300_000, repeatIntervalMs: 4 * 3_600_000, pendingForMs: 0 };
const owner = { kind: 'Application', namespace: 'argocd', name: 'app' };
const labels = { cluster: 'prod', tool: 'argocd' as const, owner, project: 'p', route: 'route', receiver: 'console', groupBy: {} };
const scope = { cluster: 'prod', tool: 'argocd' as const, owner };

function finding(name: string, severity: Severity = 'high', state: DriftState = 'Modified', ownerName = 'app'): Finding {
  return {
    fingerprint: `fp-${ownerName}-${name}`,
    groupKey: 'g1',
    cluster: 'prod',
    tool: 'argocd',
    owner: { ...owner, name: ownerName },
    project: 'p',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'ns', name },
    state,
    category: 'traffic',
    mesh: 'istio',
    severity,
    receivers: ['console'],
    reasons: [],
    observedAt: 0,
  };
}

function input(findings: Finding[], completeness: 'snapshot' | 'partial' = 'snapshot', observedAt = 0, t: Timing = timing, ownerName = 'app'): SignalInput {
  return { groupKey: 'g1', labels, timing: t, findings, completeness, scope: { ...scope, owner: { ...owner, name: ownerName } }, observedAt };
}

const at = (now: number): FlushContext => ({ now });

/** Applies, then runs the pending flush at its due time. */
function applyAndFlush(prev: GroupState | null, findings: Finding[], now: number, completeness: 'snapshot' | 'partial' = 'snapshot', t: Timing = timing) {
  const applied = applySignal(prev, input(findings, completeness, 0, t), now);
  const state = applied.next;
  if (!state?.pendingFlush) return { state, notification: null, applied };
  const result = flush(state, state.pendingFlush.seq, at(state.pendingFlush.dueAt));
  return { state: result.next, notification: result.notification, applied };
}

describe('applySignal', () => {
  it('a clean snapshot for an unknown group keeps nothing', () => {
    expect(applySignal(null, input([]), 1000)).toMatchObject({ next: null, changed: false, dirty: false });
  });

  it('a first finding schedules a flush after group_wait', () => {
    const r = applySignal(null, input([finding('a')]), 1000);
    expect(r.changed).toBe(true);
    expect(r.opened).toHaveLength(1);
    expect(r.next?.pendingFlush).toEqual({ seq: 1, dueAt: 11_000 });
  });

  it('the same signal again changes nothing and writes nothing (dedup)', () => {
    const first = applySignal(null, input([finding('a')]), 1000);
    const again = applySignal(first.next, input([finding('a')]), 2000);
    expect(again).toMatchObject({ changed: false, dirty: false, opened: [] });
    expect(again.next).toBe(first.next);
  });

  it('a snapshot resolves what it no longer lists; a partial event does not', () => {
    const first = applySignal(null, input([finding('a'), finding('b')]), 1000);
    expect(applySignal(first.next, input([finding('a')], 'partial'), 2000).resolved).toBe(0);
    const snapshot = applySignal(first.next, input([finding('a')]), 2000);
    expect(snapshot.resolved).toBe(1);
    expect(snapshot.next?.findings['fp-app-b']?.status).toBe('resolved');
  });

  it("a snapshot resolves only its own owner's findings in a group spanning owners", () => {
    const a = applySignal(null, input([finding('x', 'high', 'Modified', 'app')]), 1000).next;
    const both = applySignal(a, input([finding('y', 'high', 'Modified', 'other')], 'snapshot', 0, timing, 'other'), 1000).next;
    const cleanOther = applySignal(both, input([], 'snapshot', 1, timing, 'other'), 2000);
    expect(cleanOther.resolved).toBe(1);
    expect(cleanOther.next?.findings['fp-app-x']?.status).toBe('firing');
  });

  it('a snapshot that covers only some findings (a Flux status condition) leaves the others firing', () => {
    const corrected = applySignal(null, input([finding('vs', 'medium', 'Corrected')], 'partial'), 1000).next;
    const readyTrue = applySignal(corrected, { ...input([], 'snapshot', 5), scope: { ...scope, covers: { kinds: ['Kustomization'] } } }, 2000);
    expect(readyTrue.resolved).toBe(0);
    const uncovered = applySignal(corrected, input([], 'snapshot', 5), 2000);
    expect(uncovered.resolved).toBe(1);
  });

  it("ignores a snapshot older than the owner's newest one", () => {
    const first = applySignal(null, input([finding('a')], 'snapshot', 5000), 1000);
    const old = applySignal(first.next, input([], 'snapshot', 4000), 2000);
    expect(old.stale).toBe(true);
    expect(old.next?.findings['fp-app-a']?.status).toBe('firing');
  });

  it('after a notification, a change waits group_interval; an earlier need replaces a later flush', () => {
    const { state } = applyAndFlush(null, [finding('a')], 0);
    expect(state?.pendingFlush?.dueAt).toBe(10_000 + timing.repeatIntervalMs); // the repeat
    const more = applySignal(state, input([finding('a'), finding('b')]), 20_000);
    expect(more.next?.pendingFlush?.dueAt).toBe(10_000 + 300_000);
    expect(more.next?.pendingFlush?.seq).toBe((state?.pendingFlush?.seq ?? 0) + 1);
  });

  it('a group firing again soon after its resolve waits for group_interval, not group_wait (no flap gets through between ticks)', () => {
    const fired = applyAndFlush(null, [finding('a')], 0).state;
    const resolvedState = applySignal(fired, input([]), 20_000).next as GroupState;
    const resolved = flush(resolvedState, resolvedState.pendingFlush?.seq ?? 0, at(310_000));
    expect(resolved.notification?.reason).toBe('resolved');
    // Drifts again 30 s after the resolve went out: due at the next tick, not after group_wait.
    const again = applySignal(resolved.next, input([finding('a')]), 340_000).next as GroupState;
    expect(again.pendingFlush?.dueAt).toBe(310_000 + timing.groupIntervalMs);
    // ...and if it flaps back before that tick, nothing is sent at all.
    const flapped = applySignal(again, input([]), 350_000).next as GroupState;
    expect(flush(flapped, flapped.pendingFlush?.seq ?? 0, at(610_000)).notification).toBeNull();
    // Long after a resolve, a new drift is a new incident: group_wait again.
    const later = applySignal(resolved.next, input([finding('b')]), 5_000_000).next as GroupState;
    expect(later.pendingFlush?.dueAt).toBe(5_000_000 + timing.groupWaitMs);
  });

  it('changes or an attribution a later signal brings are stored, not news; a signal without them keeps them', () => {
    const first = applySignal(null, input([finding('a')]), 1000);
    const changes = { source: 'argocd-managed-resources' as const, changes: [{ path: 'spec.http[0].route[0].weight', before: '90', after: '0' }] };
    const told = applySignal(first.next, input([{ ...finding('a'), changes }]), 2000);
    expect(told).toMatchObject({ changed: false, dirty: true, opened: [] });
    expect(told.next?.findings['fp-app-a']?.changes).toEqual(changes);
    expect(told.next?.pendingFlush).toEqual(first.next?.pendingFlush);
    const without = applySignal(told.next, input([finding('a')]), 3000);
    expect(without).toMatchObject({ changed: false, dirty: false });
    expect(without.next?.findings['fp-app-a']?.changes).toEqual(changes);
    expect(applySignal(told.next, input([{ ...finding('a'), changes }]), 3000)).toMatchObject({ dirty: false });
    const who = [{ kind: 'tool' as const, who: 'kubectl-edit', source: 'managedFields' as const }];
    const attributed = applySignal(told.next, input([{ ...finding('a'), attribution: who }]), 4000);
    expect(attributed).toMatchObject({ changed: false, dirty: true });
    expect(attributed.next?.findings['fp-app-a']).toMatchObject({ changes, attribution: who });
  });

  it('a policy reload that changes the timers is written', () => {
    const first = applySignal(null, input([finding('a')]), 1000);
    const reloaded = applySignal(first.next, input([finding('a')], 'snapshot', 0, { ...timing, groupWaitMs: 1 }), 2000);
    expect(reloaded.dirty).toBe(true);
    expect(reloaded.next?.timing.groupWaitMs).toBe(1);
  });
});

describe('decide and flush', () => {
  it('first → new-findings → severity-raised → some-resolved → resolved, each with the next seq', () => {
    const steps: Array<[Finding[], string]> = [
      [[finding('a')], 'first'],
      [[finding('a'), finding('b')], 'new-findings'],
      [[finding('a', 'critical'), finding('b')], 'severity-raised'],
      [[finding('a', 'critical')], 'some-resolved'],
      [[], 'resolved'],
    ];
    let state: GroupState | null = null;
    let now = 0;
    steps.forEach(([findings, reason], i) => {
      const r = applyAndFlush(state, findings, now);
      expect(r.notification?.reason).toBe(reason);
      expect(r.notification?.seq).toBe(i + 1);
      state = r.state;
      now += 1_000_000;
    });
    const last = state as GroupState | null;
    expect(last?.lastNotification?.status).toBe('resolved');
    expect(last && Object.keys(last.findings)).toEqual([]);
    expect(last?.pendingFlush).toBeNull();
  });

  it('repeat_interval re-notifies a group still drifted, and keeps doing so', () => {
    const { state } = applyAndFlush(null, [finding('a')], 0);
    const due = state?.pendingFlush;
    expect(due?.dueAt).toBe(10_000 + timing.repeatIntervalMs);
    const repeat = flush(state as GroupState, due?.seq ?? 0, at(due?.dueAt ?? 0));
    expect(repeat.notification).toMatchObject({ reason: 'repeat', seq: 2, status: 'firing' });
    expect(repeat.next?.pendingFlush?.dueAt).toBe((due?.dueAt ?? 0) + timing.repeatIntervalMs);
  });

  it('a group resolved within group_wait is never notified, and is deleted', () => {
    const applied = applySignal(null, input([finding('a')]), 0);
    const state = applySignal(applied.next, input([]), 5000).next as GroupState;
    expect(decide(state, at(10_000)).reason).toBe('none');
    expect(flush(state, state.pendingFlush?.seq ?? 0, at(10_000))).toEqual({ next: null, notification: null });
  });

  it('pending_for: a flap (drift, resolve, drift within pending_for) sends nothing; a drift that stays is sent once ripe', () => {
    const t = { ...timing, pendingForMs: 60_000 };
    let state = applySignal(null, input([finding('a')], 'snapshot', 0, t), 0).next as GroupState;
    // group_wait elapses; the finding is not ripe yet: nothing is sent, a wake-up is set.
    let r = flush(state, state.pendingFlush?.seq ?? 0, at(10_000));
    expect(r.notification).toBeNull();
    expect(r.next?.pendingFlush?.dueAt).toBe(60_000);
    // It resolves before it is ripe: never sent, nor its resolve.
    state = applySignal(r.next, input([], 'snapshot', 1, t), 30_000).next as GroupState;
    r = flush(state, state.pendingFlush?.seq ?? 0, at(state.pendingFlush?.dueAt ?? 0));
    expect(r).toEqual({ next: null, notification: null });
    // Drifts again and stays: sent once ripe (60 s after it appeared again).
    state = applySignal(null, input([finding('a')], 'snapshot', 2, t), 40_000).next as GroupState;
    r = flush(state, state.pendingFlush?.seq ?? 0, at(50_000));
    expect(r.notification).toBeNull();
    const ripe = r.next as GroupState;
    expect(ripe.pendingFlush?.dueAt).toBe(100_000);
    expect(flush(ripe, ripe.pendingFlush?.seq ?? 0, at(100_000)).notification).toMatchObject({ reason: 'first' });
  });

  it('muted (silenced/inhibited) findings are held back and looked at again when the mute ends', () => {
    const state = applySignal(null, input([finding('a'), finding('b', 'critical')]), 0).next as GroupState;
    const mute = (f: TrackedFinding) => ({ muted: f.resource.name === 'b', until: 50_000 });
    const r = flush(state, state.pendingFlush?.seq ?? 0, { now: 10_000, mute });
    expect(r.notification?.firing.map((f) => f.resource.name)).toEqual(['a']);
    expect(r.next?.pendingFlush?.dueAt).toBe(10_000 + timing.groupIntervalMs); // max(mute end, group_interval)
    // Everything muted: nothing to send.
    const allMuted = applySignal(null, input([finding('c')]), 0).next as GroupState;
    expect(flush(allMuted, allMuted.pendingFlush?.seq ?? 0, { now: 10_000, mute: () => ({ muted: true, until: 99_000 }) })).toMatchObject({
      notification: null,
    });
    // When the silence ends the finding is new to the receivers.
    const later = flush(r.next as GroupState, r.next?.pendingFlush?.seq ?? 0, at(400_000));
    expect(later.notification).toMatchObject({ reason: 'new-findings' });
  });

  it('a muted route sends nothing and wakes at the end of the mute', () => {
    const state = applySignal(null, input([finding('a')]), 0).next as GroupState;
    const r = flush(state, state.pendingFlush?.seq ?? 0, { now: 10_000, routeMuted: { muted: true, until: 3_600_000 } });
    expect(r.notification).toBeNull();
    expect(r.next?.pendingFlush?.dueAt).toBe(3_600_000);
  });

  it('notifies resolved findings only if they were announced as firing', () => {
    const { state } = applyAndFlush(null, [finding('a')], 0);
    const withB = applySignal(state, input([finding('a'), finding('b')]), 1000).next;
    const withoutB = applySignal(withB, input([finding('a')]), 2000).next as GroupState;
    expect(decide(withoutB, at(3000)).reason).toBe('none');
  });

  it('orders findings most severe first in the notification', () => {
    const { notification } = applyAndFlush(null, [finding('low', 'low'), finding('crit', 'critical'), finding('mid', 'medium')], 0);
    expect(notification?.firing.map((f) => f.resource.name)).toEqual(['crit', 'mid', 'low']);
    expect(notification?.severity).toBe('critical');
  });

  it('Corrected findings are announced once, then resolve by themselves in a follow-up flush', () => {
    const first = applyAndFlush(null, [finding('a', 'medium', 'Corrected')], 0, 'partial');
    expect(first.notification).toMatchObject({ reason: 'first', status: 'firing' });
    const state = first.state as GroupState;
    expect(state.findings['fp-app-a']?.status).toBe('resolved');
    const followUp = flush(state, state.pendingFlush?.seq ?? 0, at(400_000));
    expect(followUp.notification).toMatchObject({ reason: 'resolved', status: 'resolved', seq: 2 });
    expect(followUp.notification?.resolved.map((f) => f.fingerprint)).toEqual(['fp-app-a']);
  });

  it('the same Corrected report again after its resolve opens nothing; a revert reported after the resolve starts a new episode', () => {
    const first = applyAndFlush(null, [finding('a', 'medium', 'Corrected')], 0, 'partial');
    const s = first.state as GroupState;
    const resolved = flush(s, s.pendingFlush?.seq ?? 0, at(400_000)).next;
    // The revert reported at 0 (told at 10 s), reported again (test/unit/track/revert-memory.test.ts).
    expect(applyAndFlush(resolved, [finding('a', 'medium', 'Corrected')], 500_000, 'partial').applied.opened).toHaveLength(0);
    const later = applySignal(resolved, input([finding('a', 'medium', 'Corrected')], 'partial', 450_000), 500_000).next as GroupState;
    const again = flush(later, later.pendingFlush?.seq ?? 0, at(later.pendingFlush?.dueAt ?? 0));
    expect(again.notification).toMatchObject({ reason: 'first', seq: 3 });
  });
});

function withoutTiming({ timing: _timing, ...rest }: SignalInput): SignalInput {
  return rest;
}

describe('resolve_wait: a fully resolved group is told promptly (issue #19)', () => {
  const tr: Timing = { ...timing, resolveWaitMs: 30_000 };
  const fire = (findings: Finding[], now: number, t: Timing = tr) => applyAndFlush(null, findings, now, 'snapshot', t).state as GroupState;
  const apply = (state: GroupState | null, findings: Finding[], now: number, t: Timing = tr) =>
    applySignal(state, input(findings, 'snapshot', 0, t), now).next as GroupState;
  const runDue = (state: GroupState) => flush(state, state.pendingFlush?.seq ?? 0, at(state.pendingFlush?.dueAt ?? 0));

  it('the all-clear is due resolve_wait after the last finding resolved, and carries when the drift ended', () => {
    const fired = fire([finding('a'), finding('b')], 0); // told at 10 s
    // a resolves at 1m: b still fires, so that change waits for the group_interval tick.
    const partly = apply(fired, [finding('b')], 60_000);
    expect(partly.pendingFlush?.dueAt).toBe(10_000 + timing.groupIntervalMs);
    const some = runDue(partly);
    expect(some.notification).toMatchObject({ reason: 'some-resolved', at: 310_000 });
    // b resolves at 5m50s: nothing fires any more: due resolve_wait later, not at the next tick (610 s).
    const ended = 350_000;
    const clean = apply(some.next, [], ended);
    expect(clean.pendingFlush?.dueAt).toBe(ended + 30_000);
    const told = runDue(clean);
    expect(told.notification).toMatchObject({ reason: 'resolved', status: 'resolved', at: ended + 30_000, resolvedAt: ended, firstSeen: 0 });
    expect(told.notification?.resolved.map((f) => f.resource.name)).toEqual(['b']);
    expect(told.next?.pendingFlush).toBeNull();
  });

  it('the group_interval tick is used when it comes before resolve_wait', () => {
    const fired = fire([finding('a')], 0);
    const clean = apply(fired, [], 300_000); // the tick is at 310 s, resolve_wait would end at 330 s
    expect(clean.pendingFlush?.dueAt).toBe(310_000);
    expect(runDue(clean).notification).toMatchObject({ reason: 'resolved', resolvedAt: 300_000 });
  });

  it('a drift back within resolve_wait cancels the all-clear; a new finding then still waits for the tick', () => {
    const fired = fire([finding('a')], 0);
    const clean = apply(fired, [], 60_000);
    expect(clean.pendingFlush?.dueAt).toBe(90_000);
    // a drifts again at 70 s: at 90 s nothing is news, nothing is sent.
    const back = apply(clean, [finding('a')], 70_000);
    const quiet = runDue(back);
    expect(quiet.notification).toBeNull();
    // b appears instead at 70 s: the flush at 90 s holds it until group_interval after the last notification.
    const other = apply(clean, [finding('b')], 70_000);
    expect(other.pendingFlush?.dueAt).toBe(90_000);
    const held = runDue(other);
    expect(held.notification).toBeNull();
    expect(held.next?.pendingFlush?.dueAt).toBe(10_000 + timing.groupIntervalMs);
    expect(runDue(held.next as GroupState).notification).toMatchObject({ reason: 'new-findings', at: 310_000 });
  });

  it('a group firing again after its all-clear went out still waits for group_interval', () => {
    const fired = fire([finding('a')], 0);
    const resolved = runDue(apply(fired, [], 60_000));
    expect(resolved.notification).toMatchObject({ reason: 'resolved', at: 90_000 });
    const again = apply(resolved.next, [finding('a')], 100_000);
    expect(again.pendingFlush?.dueAt).toBe(90_000 + timing.groupIntervalMs);
  });

  it('drift Flux already reverted (Corrected) is all-clear resolve_wait after it was told, and lasted until it was last reported', () => {
    const first = applyAndFlush(null, [finding('a', 'medium', 'Corrected')], 0, 'partial', tr);
    expect(first.notification).toMatchObject({ reason: 'first', at: 10_000 });
    const state = first.state as GroupState;
    expect(state.pendingFlush?.dueAt).toBe(10_000 + 30_000);
    expect(runDue(state).notification).toMatchObject({ reason: 'resolved', resolvedAt: 0 });
  });

  it('a state written before resolve_wait (a rolling upgrade) reads, and tells its all-clear at group_interval as before', () => {
    const fired = fire([finding('a')], 0, timing);
    const stored = groupStateSchema.parse(JSON.parse(JSON.stringify(fired)));
    expect(stored.timing).toEqual({ groupWaitMs: 10_000, groupIntervalMs: 300_000, repeatIntervalMs: 4 * 3_600_000, pendingForMs: 0 });
    expect(resolveWaitOf(stored.timing)).toBe(timing.groupIntervalMs);
    // A signal that routes nothing to the group keeps the stored timers: the old due time.
    const clean = applySignal(stored, withoutTiming(input([], 'snapshot', 0, timing)), 60_000).next as GroupState;
    expect(clean.pendingFlush?.dueAt).toBe(310_000);
    // A signal from this version brings the route's resolve_wait, and the timing is rewritten.
    const now = applySignal(stored, input([], 'snapshot', 0, tr), 60_000);
    expect(now.next?.timing.resolveWaitMs).toBe(30_000);
    expect(now.next?.pendingFlush?.dueAt).toBe(90_000);
  });

  it('changeDueAt is a pure function of the last notification, the timers and whether anything still fires', () => {
    const last = (status: 'firing' | 'resolved', at: number) => ({ lastNotification: { status, at }, timing: tr });
    expect(changeDueAt({ lastNotification: null, timing: tr }, 1000)).toBe(11_000);
    expect(changeDueAt(last('firing', 0), 1000)).toBe(300_000);
    expect(changeDueAt(last('firing', 0), 1000, false)).toBe(31_000);
    expect(changeDueAt(last('firing', 0), 299_000, false)).toBe(300_000);
    expect(changeDueAt(last('resolved', 0), 1000)).toBe(300_000);
  });
});

describe('a finding told drifted, then reported reverted (Corrected), resolves at the flush its change scheduled', () => {
  const tr: Timing = { ...timing, resolveWaitMs: 30_000 };
  const corrected = (name = 'a'): Finding => finding(name, 'medium', 'Corrected');
  const apply = (state: GroupState | null, findings: Finding[], now: number, completeness: 'snapshot' | 'partial' = 'partial') =>
    applySignal(state, input(findings, completeness, now, tr), now).next as GroupState;
  const runDue = (state: GroupState, ctx: Omit<FlushContext, 'now'> = {}) =>
    flush(state, state.pendingFlush?.seq ?? 0, { ...ctx, now: state.pendingFlush?.dueAt ?? 0 });
  /** `names` told firing at 10 s (group_wait); the next flush is the repeat. */
  const told = (...names: string[]): GroupState => {
    const findings = names.map((n) => finding(n));
    return applyAndFlush(null, findings, 0, 'snapshot', tr).state as GroupState;
  };
  const names = (fs: readonly TrackedFinding[] | undefined) => fs?.map((f) => f.resource.name);

  it('alone in its group: the all-clear comes resolve_wait after the revert was reported, and ends the drift then', () => {
    const reverted = apply(told('a'), [corrected()], 60_000);
    // Not the group_interval tick (310 s), let alone the repeat (4 h).
    expect(reverted.pendingFlush?.dueAt).toBe(90_000);
    const r = runDue(reverted);
    expect(r.notification).toMatchObject({ reason: 'resolved', status: 'resolved', seq: 2, at: 90_000, resolvedAt: 60_000, firstSeen: 0, firing: [] });
    expect(r.notification?.resolved.map((f) => [f.resource.name, f.state, f.lastSeen, f.resolvedAt])).toEqual([['a', 'Corrected', 60_000, 90_000]]);
    // Remembered a while (a late second report of this revert opens nothing), nothing scheduled for it.
    expect(Object.values(r.next?.findings ?? {}).map((f) => [f.resource.name, f.status])).toEqual([['a', 'resolved']]);
    expect(r.next?.pendingFlush).toBeNull();
  });

  it('beside findings still firing: told resolved at the group_interval tick, with the others firing', () => {
    const reverted = apply(told('a', 'b'), [corrected()], 60_000);
    expect(reverted.pendingFlush?.dueAt).toBe(310_000);
    const r = runDue(reverted);
    expect(r.notification).toMatchObject({ reason: 'some-resolved', status: 'firing', at: 310_000 });
    expect(names(r.notification?.firing)).toEqual(['b']);
    expect(names(r.notification?.resolved)).toEqual(['a']);
    expect(Object.values(r.next?.findings ?? {}).map((f) => [f.resource.name, f.status])).toEqual([
      ['a', 'resolved'],
      ['b', 'firing'],
    ]);
    expect(r.next?.pendingFlush?.dueAt).toBe(310_000 + timing.repeatIntervalMs);
  });

  it('held by a mute time interval: resolved at the flush (the same revert reported again opens nothing), told when the mute ends', () => {
    const reverted = apply(told('a'), [corrected()], 60_000);
    const held = runDue(reverted, { routeMuted: { muted: true, until: 3_600_000 } });
    expect(held.notification).toBeNull();
    expect(held.next?.findings['fp-app-a']).toMatchObject({ status: 'resolved', state: 'Corrected', lastSeen: 60_000, resolvedAt: 90_000 });
    expect(held.next?.pendingFlush?.dueAt).toBe(3_600_000);
    // kustomize-controller reports the revert the mesh watch reported first: no second episode.
    const again = applySignal(held.next, input([corrected()], 'partial', 70_000, tr), 100_000);
    expect(again.opened).toHaveLength(0);
    const r = runDue(again.next as GroupState);
    expect(r.notification).toMatchObject({ reason: 'resolved', at: 3_600_000, resolvedAt: 60_000 });
  });

  it('never told (it turned Corrected within group_wait): still told once as drifted, then resolves by itself', () => {
    const reverted = apply(apply(null, [finding('a')], 0), [corrected()], 5_000);
    expect(reverted.pendingFlush?.dueAt).toBe(10_000);
    const first = runDue(reverted);
    expect(first.notification).toMatchObject({ reason: 'first', status: 'firing' });
    expect(first.notification?.firing.map((f) => f.state)).toEqual(['Corrected']);
    expect(runDue(first.next as GroupState).notification).toMatchObject({ reason: 'resolved', at: 40_000, resolvedAt: 5_000 });
  });

  it('after a flap (resolved, drifted again within resolve_wait): the all-clear follows the revert', () => {
    const gone = apply(told('a'), [], 60_000, 'snapshot');
    const back = apply(gone, [finding('a')], 70_000);
    const quiet = runDue(back); // at 90 s: the drift is back, nothing is news
    expect(quiet.notification).toBeNull();
    const reverted = apply(quiet.next, [corrected()], 100_000);
    expect(reverted.pendingFlush?.dueAt).toBe(130_000);
    expect(runDue(reverted).notification).toMatchObject({ reason: 'resolved', at: 130_000, resolvedAt: 100_000 });
  });
});

describe('driftEndedAt', () => {
  const tracked = (name: string, over: Partial<TrackedFinding>): TrackedFinding => ({
    ...finding(name),
    firstSeen: 0,
    lastSeen: 0,
    status: 'resolved',
    ...over,
  });
  it.each<[string, TrackedFinding[], number]>([
    ['the latest resolve', [tracked('a', { resolvedAt: 5_000 }), tracked('b', { resolvedAt: 7_000 })], 7_000],
    ['firing ones do not count', [tracked('a', { resolvedAt: 5_000 }), tracked('b', { status: 'firing' })], 5_000],
    ['Corrected: when last reported', [tracked('a', { state: 'Corrected', lastSeen: 2_000, resolvedAt: 9_000 })], 2_000],
    ['nothing known: the fallback', [tracked('a', {})], 10_000],
    ['never after the fallback', [tracked('a', { resolvedAt: 20_000 })], 10_000],
  ])('%s', (_name, findings, expected) => {
    expect(driftEndedAt(findings, 10_000)).toBe(expected);
  });
});

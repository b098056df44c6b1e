import { describe, expect, it } from 'vitest';
import type { TrackedFinding } from '../../../src/model/alert-group.ts';
import type { Finding } from '../../../src/model/finding.ts';
import type { Severity } from '../../../src/model/severity.ts';
import type { DriftState } from '../../../src/model/signal.ts';
import { applySignal, decide, flush, type FlushContext, type SignalInput } from '../../../src/track/decide.ts';
import type { GroupState, Timing } from '../../../src/track/group-state.ts';

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

  it('the same Corrected event again after its resolve starts a new episode', () => {
    const first = applyAndFlush(null, [finding('a', 'medium', 'Corrected')], 0, 'partial');
    const s = first.state as GroupState;
    const resolved = flush(s, s.pendingFlush?.seq ?? 0, at(400_000)).next;
    const again = applyAndFlush(resolved, [finding('a', 'medium', 'Corrected')], 500_000, 'partial');
    expect(again.notification).toMatchObject({ reason: 'first', seq: 3 });
  });
});

import { describe, expect, it } from 'vitest';
import type { Finding } from '../../../src/model/finding.ts';
import type { Severity } from '../../../src/model/severity.ts';
import type { DriftState } from '../../../src/model/signal.ts';
import { applySignal, decide, flush, type SignalInput, type Timing } from '../../../src/track/decide.ts';
import type { GroupState } from '../../../src/track/group-state.ts';

const timing: Timing = { groupWaitMs: 10_000, groupIntervalMs: 300_000 };
const labels = { cluster: 'prod', tool: 'argocd' as const, owner: { kind: 'Application', namespace: 'argocd', name: 'app' }, project: 'p' };

function finding(name: string, severity: Severity = 'high', state: DriftState = 'Modified'): Finding {
  return {
    fingerprint: `fp-${name}`,
    groupKey: 'g1',
    cluster: 'prod',
    tool: 'argocd',
    owner: labels.owner,
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

function input(findings: Finding[], completeness: 'snapshot' | 'partial' = 'snapshot', observedAt = 0): SignalInput {
  return { groupKey: 'g1', labels, findings, completeness, observedAt };
}

/** Applies then flushes, returning the state after the flush and the notification. */
function applyAndFlush(prev: GroupState | null, findings: Finding[], now: number, completeness: 'snapshot' | 'partial' = 'snapshot') {
  const applied = applySignal(prev, input(findings, completeness), now, timing);
  const state = applied.next;
  if (!state?.pendingFlush) return { state, notification: null, applied };
  const result = flush(state, state.pendingFlush.seq, state.pendingFlush.dueAt, timing);
  return { state: result.next, notification: result.notification, applied };
}

describe('applySignal', () => {
  it('a clean snapshot for an unknown group keeps nothing', () => {
    const r = applySignal(null, input([]), 1000, timing);
    expect(r).toMatchObject({ next: null, changed: false, dirty: false });
  });

  it('a first finding schedules a flush after group_wait', () => {
    const r = applySignal(null, input([finding('a')]), 1000, timing);
    expect(r.changed).toBe(true);
    expect(r.opened).toHaveLength(1);
    expect(r.next?.pendingFlush).toEqual({ seq: 1, dueAt: 11_000 });
  });

  it('the same signal again changes nothing and writes nothing (dedup)', () => {
    const first = applySignal(null, input([finding('a')]), 1000, timing);
    const again = applySignal(first.next, input([finding('a')]), 2000, timing);
    expect(again).toMatchObject({ changed: false, dirty: false, opened: [] });
    expect(again.next).toBe(first.next);
  });

  it('a snapshot resolves what it no longer lists; a partial event does not', () => {
    const first = applySignal(null, input([finding('a'), finding('b')]), 1000, timing);
    const partial = applySignal(first.next, input([finding('a')], 'partial'), 2000, timing);
    expect(partial.resolved).toBe(0);
    const snapshot = applySignal(first.next, input([finding('a')]), 2000, timing);
    expect(snapshot.resolved).toBe(1);
    expect(snapshot.next?.findings['fp-b']?.status).toBe('resolved');
  });

  it('ignores a snapshot older than one already applied', () => {
    const first = applySignal(null, input([finding('a')], 'snapshot', 5000), 1000, timing);
    const old = applySignal(first.next, input([], 'snapshot', 4000), 2000, timing);
    expect(old.stale).toBe(true);
    expect(old.next?.findings['fp-a']?.status).toBe('firing');
  });

  it('after a notification, the next flush waits group_interval', () => {
    const { state } = applyAndFlush(null, [finding('a')], 0);
    const more = applySignal(state, input([finding('a'), finding('b')]), 20_000, timing);
    expect(more.next?.pendingFlush?.dueAt).toBe(10_000 + 300_000);
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
  });

  it('a group resolved within group_wait is never notified, and is deleted', () => {
    const applied = applySignal(null, input([finding('a')]), 0, timing);
    const resolved = applySignal(applied.next, input([]), 5000, timing);
    const state = resolved.next as GroupState;
    expect(decide(state)).toBe('none');
    const result = flush(state, state.pendingFlush?.seq ?? 0, 10_000, timing);
    expect(result).toEqual({ next: null, notification: null });
  });

  it('notifies the resolved findings only if they were announced as firing', () => {
    const { state } = applyAndFlush(null, [finding('a')], 0);
    // b appears and disappears between two flushes: never announced, so not announced resolved.
    const withB = applySignal(state, input([finding('a'), finding('b')]), 1000, timing).next;
    const withoutB = applySignal(withB, input([finding('a')]), 2000, timing).next as GroupState;
    expect(decide(withoutB)).toBe('none');
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
    expect(state.findings['fp-a']?.status).toBe('resolved');
    expect(state.pendingFlush).not.toBeNull();
    const followUp = flush(state, state.pendingFlush?.seq ?? 0, 400_000, timing);
    expect(followUp.notification).toMatchObject({ reason: 'resolved', status: 'resolved', seq: 2 });
    expect(followUp.notification?.resolved.map((f) => f.fingerprint)).toEqual(['fp-a']);
  });

  it('the same Corrected event again after its resolve starts a new episode', () => {
    const first = applyAndFlush(null, [finding('a', 'medium', 'Corrected')], 0, 'partial');
    const s = first.state as GroupState;
    const resolved = flush(s, s.pendingFlush?.seq ?? 0, 400_000, timing).next;
    const again = applyAndFlush(resolved, [finding('a', 'medium', 'Corrected')], 500_000, 'partial');
    expect(again.notification).toMatchObject({ reason: 'first', seq: 3 });
  });
});

import { describe, expect, it } from 'vitest';
import type { Finding } from '../../../src/model/finding.ts';
import type { Attribution, ChangeList } from '../../../src/model/forensics.ts';
import type { DriftState } from '../../../src/model/signal.ts';
import { applySignal, flush, type SignalInput } from '../../../src/track/decide.ts';
import type { GroupState, Timing } from '../../../src/track/group-state.ts';

/**
 * Issue #16 in the tracker: what the mesh watch saw (changes, attribution) survives the GitOps
 * tool's later verdict on the same finding; Argo CD's stale "Synced" does not resolve a watch-seen
 * edit; the watch-only states neither override nor get resolved by a tool's verdict.
 */

const timing: Timing = { groupWaitMs: 10_000, groupIntervalMs: 300_000, repeatIntervalMs: 4 * 3_600_000, pendingForMs: 0 };
const owner = { kind: 'Application', namespace: 'argocd', name: 'reviews' };
const labels = { cluster: 'prod', tool: 'argocd' as const, owner, project: 'p', route: 'route', receiver: 'console', groupBy: {} };
const scope = { cluster: 'prod', tool: 'argocd' as const, owner };

const EDIT_AT = Date.parse('2026-12-04T14:03:00Z');
const changes: ChangeList = { source: 'snapshot', changes: [{ path: 'spec.http[0].route[0].weight', before: '90', after: '50' }] };
const attribution: Attribution[] = [
  { kind: 'tool', who: 'kubectl-edit', operation: 'Update', at: EDIT_AT, source: 'managedFields', paths: ['spec.http[0].route[0].weight'] },
];

function finding(state: DriftState, extra: Partial<Finding> = {}): Finding {
  return {
    fingerprint: 'fp-reviews',
    groupKey: 'g1',
    cluster: 'prod',
    tool: 'argocd',
    owner,
    project: 'p',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews' },
    state,
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    receivers: ['console'],
    reasons: [],
    observedAt: 0,
    ...extra,
  };
}

function input(findings: Finding[], completeness: 'snapshot' | 'partial', observedAt: number, extra: Partial<SignalInput> = {}): SignalInput {
  return { groupKey: 'g1', labels, timing, findings, completeness, scope, observedAt, observed: true, ...extra };
}

const watchEdit = (now: number): GroupState => {
  const next = applySignal(null, input([finding('Modified', { changes, attribution })], 'partial', now), now).next;
  if (!next) throw new Error('no state');
  return next;
};

describe('evidence from the mesh watch on one finding', () => {
  it("Argo CD's later OutOfSync (no evidence) keeps the watch's changes and attribution, and is no news", () => {
    const s0 = watchEdit(EDIT_AT + 1_000);
    const r = applySignal(s0, input([finding('Modified')], 'snapshot', EDIT_AT + 180_000, { comparedAt: EDIT_AT + 170_000 }), EDIT_AT + 180_000);
    const f = r.next?.findings['fp-reviews'];
    expect(f?.changes).toEqual(changes);
    expect(f?.attribution).toEqual(attribution);
    expect(r.changed).toBe(false);
  });

  it('a later signal with new evidence replaces the stored one (written, not notified)', () => {
    const s0 = watchEdit(EDIT_AT + 1_000);
    const newer: ChangeList = { source: 'snapshot', changes: [{ path: 'spec.http[0].route[0].weight', before: '90', after: '10' }] };
    const r = applySignal(s0, input([finding('Modified', { changes: newer })], 'partial', EDIT_AT + 5_000), EDIT_AT + 5_000);
    expect(r.dirty).toBe(true);
    expect(r.changed).toBe(false);
    expect(r.next?.findings['fp-reviews']?.changes).toEqual(newer);
    expect(r.next?.findings['fp-reviews']?.attribution).toEqual(attribution);
  });

  it('a stale Argo CD snapshot (compared before the edit) does not resolve the watch-seen edit; a later comparison does', () => {
    const s0 = watchEdit(EDIT_AT + 1_000);
    // Read after the edit, but Argo CD compared at 14:02:30: it has not seen the edit.
    const stale = applySignal(s0, input([], 'snapshot', EDIT_AT + 2_000, { comparedAt: EDIT_AT - 30_000 }), EDIT_AT + 2_000);
    expect(stale.resolved).toBe(0);
    expect(stale.next?.findings['fp-reviews']?.status).toBe('firing');
    // Same second as the edit: not proof it saw it either.
    const same = applySignal(stale.next ?? s0, input([], 'snapshot', EDIT_AT + 3_000, { comparedAt: EDIT_AT }), EDIT_AT + 3_000);
    expect(same.resolved).toBe(0);
    // Compared after the edit and Synced: it was reverted (or Argo CD ignores it): resolved.
    const fresh = applySignal(same.next ?? s0, input([], 'snapshot', EDIT_AT + 200_000, { comparedAt: EDIT_AT + 190_000 }), EDIT_AT + 200_000);
    expect(fresh.resolved).toBe(1);
  });

  it('the stale snapshot neither resolves nor re-fires: one notification for the whole episode', () => {
    let state: GroupState | null = watchEdit(EDIT_AT + 1_000);
    const notes: string[] = [];
    const step = (i: SignalInput, now: number): void => {
      state = applySignal(state, i, now).next;
      if (state?.pendingFlush && state.pendingFlush.dueAt <= now) {
        const r = flush(state, state.pendingFlush.seq, { now });
        state = r.next;
        if (r.notification) notes.push(`${r.notification.reason}:${r.notification.firing.map((f) => f.state).join(',')}`);
      }
    };
    step(input([], 'snapshot', EDIT_AT + 2_000, { comparedAt: EDIT_AT - 30_000 }), EDIT_AT + 20_000);
    step(input([finding('Modified')], 'snapshot', EDIT_AT + 180_000, { comparedAt: EDIT_AT + 175_000 }), EDIT_AT + 180_000);
    expect(notes).toEqual(['first:Modified']);
  });

  it("a watch-seen revert (Corrected) older than the finding's resolve does not open it again", () => {
    const s0 = watchEdit(EDIT_AT + 1_000);
    const resolved = applySignal(s0, input([], 'snapshot', EDIT_AT + 60_000, { comparedAt: EDIT_AT + 50_000 }), EDIT_AT + 60_000).next;
    const late = applySignal(resolved, input([finding('Corrected', { changes, attribution })], 'partial', EDIT_AT + 40_000), EDIT_AT + 61_000);
    expect(late.opened).toHaveLength(0);
    expect(late.next?.findings['fp-reviews']?.status).toBe('resolved');
    // A newer Corrected (another episode) does open.
    const newer = applySignal(resolved, input([finding('Corrected')], 'partial', EDIT_AT + 70_000), EDIT_AT + 70_000);
    expect(newer.opened).toHaveLength(1);
  });
});

describe('watch-only states (Shadow, NotInEffect, Unmanaged)', () => {
  const meshSnapshot = (findings: Finding[], at: number): SignalInput =>
    input(findings, 'snapshot', at, { scope: { ...scope, covers: { states: ['Shadow', 'NotInEffect'] } } });

  it('an Argo CD snapshot that does not list a Shadow finding leaves it firing', () => {
    const s0 = applySignal(null, meshSnapshot([finding('Shadow', { attribution })], 1_000), 1_000).next;
    const r = applySignal(s0, input([], 'snapshot', 2_000), 2_000);
    expect(r.resolved).toBe(0);
    expect(r.next?.findings['fp-reviews']?.status).toBe('firing');
  });

  it("the mesh watch's snapshot without it resolves it, and never an Argo CD verdict of the same owner", () => {
    const modified = { ...finding('Modified'), fingerprint: 'fp-other', resource: { ...finding('Modified').resource, name: 'other' } };
    const s0 = applySignal(null, input([modified], 'snapshot', 1_000), 1_000).next;
    const s1 = applySignal(s0, meshSnapshot([finding('Shadow')], 2_000), 2_000).next;
    const r = applySignal(s1, meshSnapshot([], 3_000), 3_000);
    expect(r.resolved).toBe(1);
    expect(r.next?.findings['fp-reviews']?.status).toBe('resolved');
    expect(r.next?.findings['fp-other']?.status).toBe('firing');
  });

  it("the mesh watch's snapshots are not held back by the owner's Argo CD snapshot record, nor hold it back", () => {
    const s0 = applySignal(null, input([finding('Modified')], 'snapshot', 5_000), 5_000).next;
    const mesh = applySignal(s0, meshSnapshot([], 4_000), 6_000);
    expect(mesh.stale).toBe(false);
    const argo = applySignal(mesh.next, input([], 'snapshot', 5_500), 7_000);
    expect(argo.stale).toBe(false);
    expect(argo.resolved).toBe(1);
  });

  it("a Shadow report does not replace a tool's Modified verdict on the same object", () => {
    const s0 = applySignal(null, input([finding('Modified')], 'snapshot', 1_000), 1_000).next;
    const r = applySignal(s0, meshSnapshot([finding('Shadow', { attribution })], 2_000), 2_000);
    expect(r.next?.findings['fp-reviews']?.state).toBe('Modified');
    expect(r.next?.findings['fp-reviews']?.attribution).toEqual(attribution);
    expect(r.changed).toBe(false);
  });
});

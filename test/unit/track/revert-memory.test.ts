import { describe, expect, it } from 'vitest';
import type { Finding } from '../../../src/model/finding.ts';
import type { DriftState } from '../../../src/model/signal.ts';
import { applySignal, flush, REVERT_MEMORY_MS, type FlushContext, type SignalInput } from '../../../src/track/decide.ts';
import { groupStateSchema, type GroupState, type Timing } from '../../../src/track/group-state.ts';

/**
 * A revert told and resolved is remembered a while after its all-clear (track/decide.ts
 * REVERT_MEMORY_MS): a late second report of the same revert (kustomize-controller's change set
 * after the mesh watch's, a second Alert's copy, a relist) opens no second episode; a revert
 * reported after it does, and so does any report once the memory is over.
 */

const timing: Timing = { groupWaitMs: 10_000, groupIntervalMs: 300_000, repeatIntervalMs: 4 * 3_600_000, pendingForMs: 0, resolveWaitMs: 30_000 };
const owner = { kind: 'Kustomization', namespace: 'flux-system', name: 'apps' };
const labels = { cluster: 'prod', tool: 'flux' as const, owner, project: '', route: 'route', receiver: 'console', groupBy: {} };
const scope = { cluster: 'prod', tool: 'flux' as const, owner };

function finding(name: string, state: DriftState = 'Corrected'): Finding {
  return {
    fingerprint: `fp-${name}`,
    groupKey: 'g1',
    cluster: 'prod',
    tool: 'flux',
    owner,
    project: '',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'ns', name },
    state,
    category: 'traffic',
    mesh: 'istio',
    severity: 'medium',
    receivers: ['console'],
    reasons: [],
    observedAt: 0,
  };
}

const input = (findings: Finding[], observedAt: number, completeness: 'partial' | 'snapshot' = 'partial'): SignalInput => ({
  groupKey: 'g1',
  labels,
  timing,
  findings,
  completeness,
  scope,
  observedAt,
});

const apply = (state: GroupState | null, findings: Finding[], observedAt: number, now: number, completeness: 'partial' | 'snapshot' = 'partial') =>
  applySignal(state, input(findings, observedAt, completeness), now);
const runDue = (state: GroupState, ctx: Omit<FlushContext, 'now'> = {}) =>
  flush(state, state.pendingFlush?.seq ?? 0, { ...ctx, now: state.pendingFlush?.dueAt ?? 0 });

/** A revert reported at 0, told at 10 s (group_wait: it resolves then), told resolved at 40 s (resolve_wait). */
function toldAndResolved(...names: string[]): GroupState {
  const reverts = names.map((n) => finding(n));
  const reverted = apply(null, reverts, 0, 0).next as GroupState;
  const told = runDue(reverted);
  expect(told.notification).toMatchObject({ reason: 'first', at: 10_000 });
  const clear = runDue(told.next as GroupState);
  expect(clear.notification).toMatchObject({ reason: 'resolved', at: 40_000, resolvedAt: 0 });
  return clear.next as GroupState;
}

describe('a revert told and resolved is remembered after its all-clear', () => {
  it('the group keeps it, resolved, with when the memory ends; nothing is scheduled for it', () => {
    const after = toldAndResolved('a');
    expect(after.findings['fp-a']).toMatchObject({ status: 'resolved', state: 'Corrected', resolvedAt: 10_000, rememberedUntil: 40_000 + REVERT_MEMORY_MS });
    expect(after.pendingFlush).toBeNull();
    // What it writes still reads as a group state (the schema older replicas check a legacy state with).
    expect(groupStateSchema.parse(JSON.parse(JSON.stringify(after))).findings['fp-a']?.status).toBe('resolved');
  });

  it('the same revert reported again after the all-clear (a second source, a second Alert) opens no episode', () => {
    const after = toldAndResolved('a');
    // kustomize-controller's change set (its time 6 s) for the revert the mesh watch reported at 0, 2 minutes later.
    const late = apply(after, [finding('a')], 6_000, 160_000);
    expect(late).toMatchObject({ changed: false, dirty: false, opened: [] });
    expect(late.next).toBe(after);
  });

  it('a revert reported after the one told (a new edit, reverted again) opens a new episode', () => {
    const after = toldAndResolved('a');
    const again = apply(after, [finding('a')], 150_000, 160_000);
    expect(again.opened.map((f) => f.fingerprint)).toEqual(['fp-a']);
    expect(again.next?.findings['fp-a']).toMatchObject({ status: 'firing', firstSeen: 160_000 });
    expect(again.next?.findings['fp-a']?.rememberedUntil).toBeUndefined();
    const told = runDue(again.next as GroupState);
    expect(told.notification).toMatchObject({ reason: 'first', seq: 3, status: 'firing' });
  });

  it('a new edit of the object (not a revert) opens a new episode whatever its time', () => {
    const after = toldAndResolved('a');
    expect(apply(after, [finding('a', 'Modified')], 6_000, 160_000).opened).toHaveLength(1);
  });

  it('once the memory is over, a late report opens an episode again; the next flush drops what is over', () => {
    const after = toldAndResolved('a');
    const end = 40_000 + REVERT_MEMORY_MS;
    expect(apply(after, [finding('a')], 6_000, end - 1).opened).toHaveLength(0);
    const late = apply(after, [finding('a')], 6_000, end);
    expect(late.opened).toHaveLength(1);
    // Another finding's flush after the end: the memory of `a` is dropped, not carried on.
    const other = apply(after, [finding('b', 'Modified')], end, end).next as GroupState;
    const told = runDue(other);
    expect(told.notification?.firing.map((f) => f.fingerprint)).toEqual(['fp-b']);
    expect(Object.keys(told.next?.findings ?? {})).toEqual(['fp-b']);
  });

  it('a flush within the memory keeps it, and a new episode never tells it again', () => {
    const after = toldAndResolved('a');
    const other = apply(after, [finding('b', 'Modified')], 400_000, 400_000).next as GroupState;
    const told = runDue(other);
    expect(told.notification).toMatchObject({ reason: 'first', firing: [expect.objectContaining({ fingerprint: 'fp-b' })], resolved: [] });
    expect(told.next?.findings['fp-a']).toBe(after.findings['fp-a']);
    // b resolves: the all-clear tells b only, and its end is b's, not the remembered revert's.
    const clean = apply(told.next as GroupState, [], 500_000, 500_000, 'snapshot').next as GroupState;
    const clear = runDue(clean);
    expect(clear.notification).toMatchObject({ reason: 'resolved', resolvedAt: 500_000 });
    expect(clear.notification?.resolved.map((f) => f.fingerprint)).toEqual(['fp-b']);
    expect(Object.keys(clear.next?.findings ?? {})).toEqual(['fp-a']);
  });

  it('a flush with nothing to tell (a finding resolved within group_wait) keeps the memory', () => {
    const after = toldAndResolved('a');
    const opened = apply(after, [finding('b', 'Modified')], 400_000, 400_000).next as GroupState;
    const gone = apply(opened, [], 401_000, 401_000, 'snapshot').next as GroupState;
    const r = runDue(gone);
    expect(r.notification).toBeNull();
    expect(Object.keys(r.next?.findings ?? {})).toEqual(['fp-a']);
    expect(apply(r.next, [finding('a')], 6_000, 500_000).opened).toHaveLength(0);
  });

  it('beside findings still firing: told resolved (some-resolved), then remembered', () => {
    const fired = apply(null, [finding('a', 'Modified'), finding('b', 'Modified')], 0, 0).next as GroupState;
    const told = runDue(fired).next as GroupState;
    const reverted = apply(told, [finding('a')], 60_000, 60_000).next as GroupState;
    const some = runDue(reverted);
    expect(some.notification).toMatchObject({ reason: 'some-resolved', at: 310_000 });
    expect(some.notification?.resolved.map((f) => f.fingerprint)).toEqual(['fp-a']);
    expect(some.next?.findings['fp-a']).toMatchObject({ status: 'resolved', rememberedUntil: 310_000 + REVERT_MEMORY_MS });
    // The same revert again, from another source: nothing.
    expect(apply(some.next, [finding('a')], 61_000, 400_000)).toMatchObject({ opened: [], dirty: false });
    // The repeat (4 h later, past the memory) tells b alone and drops a.
    const repeat = runDue(some.next as GroupState);
    expect(repeat.notification).toMatchObject({ reason: 'repeat', resolved: [] });
    expect(repeat.notification?.firing.map((f) => f.fingerprint)).toEqual(['fp-b']);
    expect(Object.keys(repeat.next?.findings ?? {})).toEqual(['fp-b']);
  });

  it('a resolve never told (it resolved before anyone was told) is not remembered', () => {
    const opened = apply(null, [finding('a')], 0, 0).next as GroupState;
    const gone = apply(opened, [], 1_000, 1_000, 'snapshot').next as GroupState;
    expect(runDue(gone).next).toBeNull();
  });
});

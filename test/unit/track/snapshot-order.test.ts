import { describe, expect, it } from 'vitest';
import type { Finding } from '../../../src/model/finding.ts';
import { applySignal, isStaleSnapshot, snapshotRecordOf, type SignalInput, type SnapshotRecord } from '../../../src/track/decide.ts';
import { groupStateSchema, type GroupState } from '../../../src/track/group-state.ts';
import { signalTime } from '../../../src/track/ingest.ts';

// The order rules of issue #12 items 1 and 11: what meshdrift observes beats what it is told.
const NOW = 1_000_000;
const told = (at: number): SnapshotRecord => ({ at, observed: false });
const seen = (at: number): SnapshotRecord => ({ at, observed: true });

describe('isStaleSnapshot', () => {
  const cases: Array<[string, SnapshotRecord | undefined, SnapshotRecord, boolean]> = [
    ['first snapshot of an owner', undefined, told(5), false],
    ['observed after an older observed', seen(100), seen(200), false],
    ['observed after the same observed time', seen(100), seen(100), false],
    ['observed older than the last observed', seen(200), seen(100), true],
    ['observed after a told one claiming a later time', told(900), seen(100), false],
    ['observed after a told time from the far future (old state)', told(4_000_000_000_000), seen(100), false],
    ['told after an older told', told(100), told(200), false],
    ['told older than the last told', told(200), told(100), true],
    ['told older than the last observed', seen(200), told(100), true],
    ['told newer than the last observed', seen(200), told(300), false],
  ];
  it.each(cases)('%s', (_name, prev, incoming, stale) => {
    expect(isStaleSnapshot(prev, incoming)).toBe(stale);
  });
});

describe('snapshotRecordOf', () => {
  const state = (snapshots: Record<string, number>, snapshotRecords?: Record<string, SnapshotRecord>) =>
    ({ snapshots, ...(snapshotRecords ? { snapshotRecords } : {}) }) as unknown as GroupState;
  const cases: Array<[string, GroupState, SnapshotRecord | undefined]> = [
    ['no snapshot yet', state({}), undefined],
    ['a record', state({ o: 5 }, { o: seen(5) }), seen(5)],
    ['an old number is a told time', state({ o: 5 }), told(5)],
    // A future time stored by a version that believed senders holds back only up to now.
    ['an old far-future number is bounded by now', state({ o: 4_000_000_000_000 }), told(NOW)],
  ];
  it.each(cases)('%s', (_name, s, expected) => {
    expect(snapshotRecordOf(s, 'o', NOW)).toEqual(expected);
  });
});

describe('signalTime', () => {
  const SKEW = 60_000;
  const cases: Array<
    [
      string,
      'argocd-webhook' | 'flux-webhook' | 'argocd-watch' | 'argocd-api' | 'audit' | 'flux-watch',
      number,
      { at: number; observed: boolean; clamped: boolean },
    ]
  > = [
    ['a webhook time from the future is the receipt', 'argocd-webhook', 4_000_000_000_000, { at: NOW, observed: false, clamped: true }],
    ['a webhook time within the skew is kept', 'argocd-webhook', NOW - 10_000, { at: NOW - 10_000, observed: false, clamped: false }],
    ['a webhook time far in the past is receipt - skew', 'flux-webhook', 5, { at: NOW - SKEW, observed: false, clamped: true }],
    ["a watch time is meshdrift's own", 'argocd-watch', NOW - 3_000, { at: NOW - 3_000, observed: true, clamped: false }],
    ['an audit re-list started long ago keeps its time', 'audit', NOW - 600_000, { at: NOW - 600_000, observed: true, clamped: false }],
    ['an API poll time is never after the receipt', 'argocd-api', NOW + 5, { at: NOW, observed: true, clamped: false }],
    ['a Flux watch is observed', 'flux-watch', NOW, { at: NOW, observed: true, clamped: false }],
  ];
  it.each(cases)('%s', (_name, source, observedAt, expected) => {
    expect(signalTime({ source, observedAt }, NOW, SKEW)).toEqual(expected);
  });
});

function finding(name: string): Finding {
  return {
    fingerprint: `fp-${name}`,
    groupKey: 'g1',
    cluster: 'prod',
    tool: 'argocd',
    owner: { kind: 'Application', namespace: 'argocd', name: 'app' },
    project: 'p',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'ns', name },
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'critical',
    receivers: ['console'],
    reasons: [],
    observedAt: 0,
  };
}

const timing = { groupWaitMs: 10_000, groupIntervalMs: 300_000, repeatIntervalMs: 4 * 3_600_000, pendingForMs: 0 };
const owner = { kind: 'Application', namespace: 'argocd', name: 'app' };
const scope = { cluster: 'prod', tool: 'argocd' as const, owner };
const OWNER_KEY = 'prod/argocd/Application/argocd/app';
function input(findings: Finding[], observedAt: number, observed: boolean): SignalInput {
  return {
    groupKey: 'g1',
    labels: { cluster: 'prod', tool: 'argocd', owner, project: 'p', route: 'r', receiver: 'console', groupBy: {} },
    timing,
    findings,
    completeness: 'snapshot',
    scope,
    observedAt,
    observed,
  };
}

describe('applySignal ordering', () => {
  it('a told snapshot resolves, the next observed one fires again, a later told one is applied', () => {
    const drifted = applySignal(null, input([finding('a')], NOW, true), NOW).next;
    // The forged webhook: its far-future time is already bounded to its receipt by ingest.
    const forged = applySignal(drifted, input([], NOW + 1_000, false), NOW + 1_000);
    expect(forged.resolved).toBe(1);
    const observed = applySignal(forged.next, input([finding('a')], NOW + 2_000, true), NOW + 2_000);
    expect(observed).toMatchObject({ stale: false, changed: true });
    expect(observed.next?.findings['fp-a']?.status).toBe('firing');
    expect(observed.next?.snapshotRecords?.[OWNER_KEY]).toEqual(seen(NOW + 2_000));
    expect(observed.next?.snapshots[OWNER_KEY]).toBe(NOW + 2_000);
    const laterWebhook = applySignal(observed.next, input([finding('a'), finding('b')], NOW + 3_000, false), NOW + 3_000);
    expect(laterWebhook).toMatchObject({ stale: false, changed: true });
    expect(laterWebhook.next?.snapshotRecords?.[OWNER_KEY]).toEqual(told(NOW + 3_000));
  });

  it('a state written by the previous version (snapshots[owner] a number) is read, as a told time', () => {
    const current = applySignal(null, input([finding('a')], NOW, true), NOW).next;
    if (!current) throw new Error('no state');
    const { snapshotRecords: _dropped, ...rest } = current;
    const old: unknown = JSON.parse(JSON.stringify({ ...rest, snapshots: { [OWNER_KEY]: 4_000_000_000_000 } }));
    const parsed: GroupState = groupStateSchema.parse(old);
    expect(snapshotRecordOf(parsed, OWNER_KEY, NOW)).toEqual(told(NOW));
    // The poisoned 2099 time holds back neither an observation nor a told snapshot of now.
    expect(applySignal(parsed, input([], NOW + 10, true), NOW + 10)).toMatchObject({ stale: false, resolved: 1 });
    expect(applySignal(parsed, input([], NOW + 10, false), NOW + 10)).toMatchObject({ stale: false, resolved: 1 });
  });

  it('the previous version reads a state this one writes (its schema drops snapshotRecords)', () => {
    const next = applySignal(null, input([finding('a')], NOW, true), NOW).next;
    const oldSchema = groupStateSchema.omit({ snapshotRecords: true });
    const read = oldSchema.parse(JSON.parse(JSON.stringify(next)));
    expect(read.snapshots[OWNER_KEY]).toBe(NOW);
  });
});

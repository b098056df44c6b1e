import { describe, expect, it } from 'vitest';
import type { TrackedFinding } from '../../../src/model/alert-group.ts';
import type { Severity } from '../../../src/model/severity.ts';
import { activeFindingsDelta, countActiveFindings, countField, parseActiveFindings, parseCountField } from '../../../src/track/active-findings.ts';
import type { GroupState } from '../../../src/track/group-state.ts';

const owner = { kind: 'Application', namespace: 'argocd', name: 'app' };

function tracked(fingerprint: string, severity: Severity = 'high', status: 'firing' | 'resolved' = 'firing', mesh = 'istio'): TrackedFinding {
  return {
    fingerprint,
    groupKey: 'g',
    cluster: 'prod',
    tool: 'argocd',
    owner,
    project: 'p',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'ns', name: fingerprint },
    state: 'Modified',
    category: 'traffic',
    mesh,
    severity,
    receivers: ['console'],
    reasons: [],
    observedAt: 0,
    firstSeen: 0,
    lastSeen: 0,
    status,
  };
}

function group(groupKey: string, findings: TrackedFinding[]): GroupState {
  return {
    v: 1,
    groupKey,
    createdAt: 0,
    labels: { cluster: 'prod', tool: 'argocd', owner, project: 'p' },
    timing: { groupWaitMs: 0, groupIntervalMs: 0, repeatIntervalMs: 0, pendingForMs: 0 },
    findings: Object.fromEntries(findings.map((f) => [f.fingerprint, f])),
    firstSeen: 0,
    snapshots: {},
    flushSeq: 0,
    pendingFlush: null,
    handledFlushSeq: 0,
    lastNotification: null,
  };
}

describe('countField / parseCountField', () => {
  it('round-trips, also for a mesh name with a | (a bare kind several meshes define)', () => {
    for (const mesh of ['istio', 'istio|linkerd', 'none', '']) {
      const f = tracked('a', 'critical', 'firing', mesh);
      expect(parseCountField(countField(f))).toEqual({ severity: 'critical', mesh, category: 'traffic' });
    }
  });

  it('rejects fields that are not severity|mesh|category', () => {
    for (const field of ['critical', 'critical|istio', 'urgent|istio|traffic', 'high|istio|network', '']) expect(parseCountField(field)).toBeNull();
  });
});

describe('parseActiveFindings', () => {
  it('reads the counts hash', () => {
    expect(parseActiveFindings({ 'high|istio|traffic': '2', 'critical|linkerd|security': '1' })).toEqual([
      { severity: 'high', mesh: 'istio', category: 'traffic', count: 2 },
      { severity: 'critical', mesh: 'linkerd', category: 'security', count: 1 },
    ]);
    expect(parseActiveFindings({})).toEqual([]);
  });

  it('names the field that does not parse', () => {
    expect(() => parseActiveFindings({ 'high|istio|traffic': '-1' })).toThrow(/"high\|istio\|traffic" is not a non-negative integer/);
    expect(() => parseActiveFindings({ 'oops|istio': '1' })).toThrow(/field "oops\|istio" is not severity\|mesh\|category/);
  });
});

describe('activeFindingsDelta', () => {
  it('a new group adds a reference per firing finding; resolved ones add none', () => {
    const next = group('g1', [tracked('a'), tracked('b', 'critical'), tracked('c', 'high', 'resolved')]);
    expect(activeFindingsDelta(null, next)).toEqual([
      { fingerprint: 'a', field: 'high|istio|traffic', delta: 1 },
      { fingerprint: 'b', field: 'critical|istio|traffic', delta: 1 },
    ]);
  });

  it('the same firing findings (a duplicate signal, a new lastSeen) change nothing', () => {
    const prev = group('g1', [tracked('a')]);
    expect(activeFindingsDelta(prev, group('g1', [{ ...tracked('a'), lastSeen: 99, detail: 'changed' }]))).toEqual([]);
  });

  it('a severity change moves the finding: -1 under the old labels, +1 under the new', () => {
    const prev = group('g1', [tracked('a', 'high')]);
    expect(activeFindingsDelta(prev, group('g1', [tracked('a', 'critical')]))).toEqual([
      { fingerprint: 'a', field: 'high|istio|traffic', delta: -1 },
      { fingerprint: 'a', field: 'critical|istio|traffic', delta: 1 },
    ]);
  });

  it('resolving and deleting the group drop references', () => {
    const prev = group('g1', [tracked('a'), tracked('b')]);
    expect(activeFindingsDelta(prev, group('g1', [tracked('a'), tracked('b', 'high', 'resolved')]))).toEqual([
      { fingerprint: 'b', field: 'high|istio|traffic', delta: -1 },
    ]);
    expect(activeFindingsDelta(prev, null)).toEqual([
      { fingerprint: 'a', field: 'high|istio|traffic', delta: -1 },
      { fingerprint: 'b', field: 'high|istio|traffic', delta: -1 },
    ]);
  });
});

describe('countActiveFindings', () => {
  it('counts a finding firing in several groups once per label set', () => {
    const counts = countActiveFindings([
      group('chat', [tracked('a', 'critical'), tracked('b'), tracked('c', 'low', 'resolved')]),
      group('pager', [tracked('a', 'critical')]),
      // Between the commits of one signal, or until a snapshot reaches it: older labels in another group.
      group('old-route', [tracked('b', 'medium')]),
    ]);
    expect(Object.fromEntries(counts)).toEqual({ 'critical|istio|traffic': 1, 'high|istio|traffic': 1, 'medium|istio|traffic': 1 });
  });
});

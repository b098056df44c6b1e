import { describe, expect, it } from 'vitest';
import type { Notification, TrackedFinding } from '../../../src/model/alert-group.ts';
import { ownerKey } from '../../../src/model/owner.ts';
import {
  decideRemediation,
  deferDelayMs,
  ownersOf,
  remediationConfigSchema,
  type RemediationConfigInput,
  type RemediationInput,
} from '../../../src/remediate/policy.ts';

const NOW = Date.UTC(2026, 10, 24, 10, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;
const APP = { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' };
const KS = { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' };

function finding(name: string, over: Partial<TrackedFinding> = {}): TrackedFinding {
  return {
    fingerprint: `fp-${name}`,
    groupKey: 'g1',
    cluster: 'prod',
    tool: 'argocd',
    owner: APP,
    project: 'mesh-prod',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name },
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    receivers: ['remediate'],
    reasons: [],
    observedAt: NOW - 10 * MIN,
    firstSeen: NOW - 10 * MIN,
    lastSeen: NOW - MIN,
    status: 'firing',
    ...over,
  };
}

function notification(firing: TrackedFinding[], over: Partial<Notification> = {}): Notification {
  return {
    groupKey: 'g1',
    seq: 1,
    reason: 'first',
    status: 'firing',
    labels: { cluster: 'prod', tool: 'argocd', owner: APP, project: 'mesh-prod' },
    severity: 'high',
    firing,
    resolved: [],
    at: NOW,
    firstSeen: NOW - 10 * MIN,
    ...over,
  };
}

const ARGO_OWNER = { cluster: 'prod', tool: 'argocd' as const, owner: APP };
const FLUX_OWNER = { cluster: 'prod', tool: 'flux' as const, owner: KS };

function input(over: Partial<Omit<RemediationInput, 'config'>> & { config?: RemediationConfigInput } = {}): RemediationInput {
  const { config, ...rest } = over;
  return {
    notification: notification([finding('vs')]),
    owner: ARGO_OWNER,
    config: remediationConfigSchema.parse(config ?? { action: 'argocd-sync', dryRun: false }),
    recentActions: [],
    history: {},
    inProgress: false,
    now: NOW,
    ...rest,
  };
}

const fluxFinding = (name: string, state: TrackedFinding['state']): TrackedFinding =>
  finding(name, { tool: 'flux', owner: KS, state, fingerprint: `fp-flux-${name}` });

describe('remediation config', () => {
  it('defaults to a dry run, no prune, 3 per hour, breaker 3 within 1h, mesh categories only, no scope limit, escalations at high', () => {
    expect(remediationConfigSchema.parse({ action: 'argocd-sync' })).toEqual({
      action: 'argocd-sync',
      dryRun: true,
      prune: false,
      maxPerHour: 3,
      flap: { max: 3, withinMs: HOUR },
      verifyTimeoutMs: 5 * MIN,
      categories: ['security', 'traffic', 'observability', 'mesh-control'],
      scope: {},
      escalationSeverity: 'high',
    });
  });

  it.each([
    [{ action: 'kubectl-apply' }],
    [{ action: 'argocd-sync', maxPerHour: -1 }],
    [{ action: 'argocd-sync', flap: { max: 0 } }],
    [{ action: 'argocd-sync', surprise: true }],
  ])('rejects %j', (raw) => {
    expect(remediationConfigSchema.safeParse(raw).success).toBe(false);
  });
});

describe('decideRemediation', () => {
  type Row = [
    string,
    RemediationInput,
    { action: string; skip?: string; resources?: string[]; escalate?: string[]; reason?: RegExp; prune?: boolean; dryRun?: boolean; retryAfterMs?: number },
  ];
  const rows: Row[] = [
    [
      'syncs the drifted resource on a first notification',
      input(),
      {
        action: 'sync',
        resources: ['vs'],
        reason: /^sync 1 drifted resource of Application argocd\/payments-mesh \(VirtualService payments\/vs\) after a first notification$/,
      },
    ],
    [
      'dry run by default: same decision, labelled dry run',
      input({ config: { action: 'argocd-sync' } }),
      { action: 'sync', resources: ['vs'], dryRun: true, reason: /^dry run: would sync/ },
    ],
    ...(['new-findings', 'severity-raised', 'repeat'] as const).map(
      (reason): Row => [`triggers on ${reason}`, input({ notification: notification([finding('vs')], { reason }) }), { action: 'sync', resources: ['vs'] }],
    ),
    [
      'never on some-resolved',
      input({ notification: notification([finding('vs')], { reason: 'some-resolved' }) }),
      { action: 'skip', skip: 'not-triggering', reason: /some-resolved notification does not trigger/ },
    ],
    [
      'never on resolved',
      input({ notification: notification([], { reason: 'resolved', status: 'resolved', resolved: [finding('vs', { status: 'resolved' })] }) }),
      { action: 'skip', skip: 'not-triggering' },
    ],
    [
      'only the findings the notification carries, of this owner',
      input({ notification: notification([finding('vs'), finding('other-app', { owner: { ...APP, name: 'other' } })]) }),
      { action: 'sync', resources: ['vs'] },
    ],
    [
      'no finding of this owner',
      input({ notification: notification([finding('x', { owner: { ...APP, name: 'other' } })]) }),
      { action: 'skip', skip: 'no-findings' },
    ],
    [
      'a finding resolved inside a firing notification is not synced',
      input({ notification: notification([finding('vs', { status: 'resolved' })]) }),
      { action: 'skip', skip: 'no-findings' },
    ],
    [
      'Unhealthy is not fixed by a sync',
      input({ notification: notification([finding('vs', { state: 'Unhealthy' })]) }),
      { action: 'skip', skip: 'nothing-to-remediate', reason: /a sync does not fix Unhealthy/ },
    ],
    [
      'Extraneous needs prune',
      input({ notification: notification([finding('se', { state: 'Extraneous' })]) }),
      { action: 'skip', skip: 'nothing-to-remediate', reason: /needs prune: true/ },
    ],
    [
      'Extraneous with prune: synced with prune',
      input({
        config: { action: 'argocd-sync', dryRun: false, prune: true },
        notification: notification([finding('se', { state: 'Extraneous' }), finding('vs')]),
      }),
      { action: 'sync', resources: ['se', 'vs'], prune: true },
    ],
    [
      'prune allowed but nothing extraneous: no prune',
      input({ config: { action: 'argocd-sync', dryRun: false, prune: true } }),
      { action: 'sync', resources: ['vs'], prune: false },
    ],
    ['Missing is synced', input({ notification: notification([finding('vs', { state: 'Missing' })]) }), { action: 'sync', resources: ['vs'] }],
    [
      'argocd-sync ignores Flux findings',
      input({ notification: notification([fluxFinding('vs', 'ApplyFailed')]), owner: FLUX_OWNER }),
      { action: 'skip', skip: 'nothing-to-remediate', reason: /not owned by an Argo CD Application/ },
    ],
    [
      'flux-reconcile: ApplyFailed is reconciled',
      input({ config: { action: 'flux-reconcile', dryRun: false }, notification: notification([fluxFinding('vs', 'ApplyFailed')]), owner: FLUX_OWNER }),
      { action: 'sync', resources: ['vs'], reason: /^reconcile 1 drifted resource of Kustomization flux-system\/mesh/ },
    ],
    [
      'flux-reconcile: Corrected needs nothing',
      input({ config: { action: 'flux-reconcile', dryRun: false }, notification: notification([fluxFinding('vs', 'Corrected')]), owner: FLUX_OWNER }),
      { action: 'skip', skip: 'nothing-to-remediate', reason: /Flux already reverted it/ },
    ],
    [
      'flux-reconcile ignores Argo CD findings',
      input({ config: { action: 'flux-reconcile', dryRun: false } }),
      { action: 'skip', skip: 'nothing-to-remediate', reason: /not owned by a Flux/ },
    ],
    [
      'flux-reconcile never prunes',
      input({
        config: { action: 'flux-reconcile', dryRun: false, prune: true },
        notification: notification([fluxFinding('vs', 'Extraneous')]),
        owner: FLUX_OWNER,
      }),
      { action: 'sync', resources: ['vs'], prune: false },
    ],
    [
      'suspended Flux object',
      input({
        config: { action: 'flux-reconcile', dryRun: false },
        notification: notification([fluxFinding('vs', 'ApplyFailed')]),
        owner: FLUX_OWNER,
        suspended: true,
      }),
      { action: 'skip', skip: 'suspended', reason: /spec\.suspend: true/ },
    ],
    [
      'rate limit: 3 actions in the last hour',
      input({ recentActions: [NOW - 50 * MIN, NOW - 20 * MIN, NOW - MIN] }),
      { action: 'skip', skip: 'rate-limited', retryAfterMs: 10 * MIN, reason: /3 actions .* in the last hour \(max 3\)/ },
    ],
    [
      'rate limit: actions older than an hour do not count',
      input({ recentActions: [NOW - 61 * MIN, NOW - 20 * MIN, NOW - MIN] }),
      { action: 'sync', resources: ['vs'] },
    ],
    [
      'rate limit applies to dry runs too',
      input({ config: { action: 'argocd-sync' }, recentActions: [NOW - 3, NOW - 2, NOW - 1] }),
      { action: 'skip', skip: 'rate-limited', dryRun: true },
    ],
    ['maxPerHour 0 allows nothing', input({ config: { action: 'argocd-sync', dryRun: false, maxPerHour: 0 } }), { action: 'skip', skip: 'rate-limited' }],
    ['operation in progress: defer', input({ inProgress: true }), { action: 'skip', skip: 'in-progress', reason: /in progress/ }],
    [
      'rate limit wins over in progress (no point deferring)',
      input({ inProgress: true, recentActions: [NOW - 3, NOW - 2, NOW - 1] }),
      { action: 'skip', skip: 'rate-limited' },
    ],
    [
      'already synced by an earlier operation',
      input({ alreadySynced: [{ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'vs' }] }),
      { action: 'skip', skip: 'nothing-to-remediate', reason: /already synced/ },
    ],
    [
      'already synced drops only that resource',
      input({
        notification: notification([finding('vs'), finding('vs2')]),
        alreadySynced: [{ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'vs' }],
      }),
      { action: 'sync', resources: ['vs2'] },
    ],
    [
      'remediated 1 min ago, same episode: awaiting the result',
      input({ history: { 'fp-vs': { remediatedAt: [NOW - MIN] } } }),
      { action: 'skip', skip: 'nothing-to-remediate', reason: /awaiting the result/ },
    ],
    [
      'remediated 10 min ago, same episode (verify timed out): again',
      input({ history: { 'fp-vs': { remediatedAt: [NOW - 10 * MIN] } }, notification: notification([finding('vs', { firstSeen: NOW - 30 * MIN })]) }),
      { action: 'sync', resources: ['vs'] },
    ],
    [
      'came back after 2 remediations: below the breaker',
      input({ history: { 'fp-vs': { remediatedAt: [NOW - 40 * MIN, NOW - 20 * MIN] } } }),
      { action: 'sync', resources: ['vs'] },
    ],
    [
      'came back after 3 remediations within 1h: escalate',
      input({ history: { 'fp-vs': { remediatedAt: [NOW - 40 * MIN, NOW - 30 * MIN, NOW - 20 * MIN] } } }),
      { action: 'escalate', escalate: ['fp-vs'], reason: /flap breaker tripped for 1 finding/ },
    ],
    [
      '3 remediations but one outside the window: sync',
      input({ history: { 'fp-vs': { remediatedAt: [NOW - 2 * HOUR, NOW - 30 * MIN, NOW - 20 * MIN] } } }),
      { action: 'sync', resources: ['vs'] },
    ],
    [
      'breaker max 1: the first return escalates',
      input({ config: { action: 'argocd-sync', dryRun: false, flap: { max: 1 } }, history: { 'fp-vs': { remediatedAt: [NOW - 20 * MIN] } } }),
      { action: 'escalate', escalate: ['fp-vs'] },
    ],
    [
      'breaker open (escalated 10 min ago): held, not escalated twice',
      input({ history: { 'fp-vs': { remediatedAt: [NOW - 40 * MIN], escalatedAt: NOW - 10 * MIN } } }),
      { action: 'skip', skip: 'nothing-to-remediate', escalate: [], reason: /flap breaker open since/ },
    ],
    [
      'breaker closes after withinMs',
      input({ history: { 'fp-vs': { remediatedAt: [], escalatedAt: NOW - 2 * HOUR } } }),
      { action: 'sync', resources: ['vs'] },
    ],
    [
      'mixed: sync the others, escalate the flapper',
      input({
        notification: notification([finding('vs'), finding('ap')]),
        history: { 'fp-vs': { remediatedAt: [NOW - 40 * MIN, NOW - 30 * MIN, NOW - 20 * MIN] } },
      }),
      { action: 'sync', resources: ['ap'], escalate: ['fp-vs'] },
    ],
    [
      'mixed and in progress: defer the others, escalation still reported',
      input({
        inProgress: true,
        notification: notification([finding('vs'), finding('ap')]),
        history: { 'fp-vs': { remediatedAt: [NOW - 40 * MIN, NOW - 30 * MIN, NOW - 20 * MIN] } },
      }),
      { action: 'skip', skip: 'in-progress', escalate: ['fp-vs'] },
    ],
  ];

  it.each(rows)('%s', (_name, given, want) => {
    const d = decideRemediation(given);
    expect(d.action).toBe(want.action);
    if (want.skip !== undefined) expect(d.skip).toBe(want.skip);
    else expect(d.skip).toBeUndefined();
    expect(d.resources.map((r) => r.name)).toEqual(want.resources ?? []);
    expect(d.fingerprints).toEqual((want.resources ?? []).map((n) => given.notification.firing.find((f) => f.resource.name === n)?.fingerprint));
    expect(d.escalate).toEqual(want.escalate ?? []);
    if (want.reason) expect(d.reason).toMatch(want.reason);
    if (want.prune !== undefined) expect(d.prune).toBe(want.prune);
    expect(d.dryRun).toBe(want.dryRun ?? false);
    if (want.retryAfterMs !== undefined) expect(d.retryAfterMs).toBe(want.retryAfterMs);
  });

  it('acts on the mesh categories only, unless the receiver lists others (a drifted Deployment is non-mesh)', () => {
    const deployment = finding('api', {
      category: 'non-mesh',
      mesh: 'kubernetes',
      resource: { group: 'apps', kind: 'Deployment', namespace: 'payments', name: 'api' },
    });
    const held = decideRemediation(input({ notification: notification([deployment]) }));
    expect(held).toMatchObject({ action: 'skip', skip: 'nothing-to-remediate', resources: [] });
    expect(held.reason).toMatch(
      /Deployment payments\/api: category non-mesh is not one this receiver remediates \(security, traffic, observability, mesh-control\)/,
    );
    const mixed = decideRemediation(input({ notification: notification([deployment, finding('vs')]) }));
    expect(mixed.resources.map((r) => r.kind)).toEqual(['VirtualService']);
    const opted = decideRemediation(
      input({ notification: notification([deployment]), config: { action: 'argocd-sync', dryRun: false, categories: ['non-mesh'] } }),
    );
    expect(opted.resources.map((r) => r.kind)).toEqual(['Deployment']);
  });

  it("someone else's operation moments ago defers like one in progress, naming it", () => {
    const d = decideRemediation(input({ recentOperation: 'alice started an operation on Application argocd/payments-mesh at 2026-11-24T09:59:50.000Z' }));
    expect(d).toMatchObject({ action: 'skip', skip: 'in-progress' });
    expect(d.reason).toMatch(/^alice started an operation .*; waiting for Argo CD to compare again before acting$/);
  });

  it('is pure: same input, same decision', () => {
    const i = input({ notification: notification([finding('vs'), finding('ap')]) });
    expect(decideRemediation(i)).toEqual(decideRemediation(i));
  });
});

describe('ownersOf / ownerKey', () => {
  it('lists each owner of the firing findings once, in order, cluster included', () => {
    const n = notification([finding('a'), finding('b', { cluster: 'staging' }), finding('c')]);
    expect(ownersOf(n).map(ownerKey)).toEqual(['prod/argocd/Application/argocd/payments-mesh', 'staging/argocd/Application/argocd/payments-mesh']);
  });

  it('encodes separators so two owners cannot collide', () => {
    expect(ownerKey({ cluster: 'a/b', tool: 'argocd', owner: { kind: 'Application', namespace: 'c', name: 'd' } })).not.toBe(
      ownerKey({ cluster: 'a', tool: 'argocd', owner: { kind: 'Application', namespace: 'b/c', name: 'd' } }),
    );
  });
});

describe('deferDelayMs', () => {
  it.each([
    [1, 30_000],
    [2, 60_000],
    [3, 120_000],
    [5, 480_000],
    [6, 600_000],
    [50, 600_000],
    [0, 30_000],
  ])('deferral %i waits %i ms', (n, want) => {
    expect(deferDelayMs(n, 30_000, 600_000)).toBe(want);
  });
});

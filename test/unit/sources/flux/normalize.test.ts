import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fluxRevisionOf, parseFluxEvent, type FluxEvent } from '../../../../src/sources/flux/event.ts';
import { fluxRepoURLOf, interpretFluxEvent, ownerOf, revisionToRemember, type FluxContext } from '../../../../src/sources/flux/normalize.ts';

const fixtureJson = (name: string): unknown => JSON.parse(readFileSync(new URL(`../../../../../shared/fixtures/flux/${name}`, import.meta.url), 'utf8'));

function eventFrom(input: unknown): FluxEvent {
  const parsed = parseFluxEvent(input);
  if (!parsed.ok) throw new Error(`fixture does not parse: ${parsed.error}`);
  return parsed.event;
}

const requestBody = (fixtureJson('request-generic-kustomization-v1-created-progressing.json') as { body: unknown }).body;
const createdProgressing = eventFrom(requestBody);
const createdSummary = eventFrom(fixtureJson('event-kustomization-v1beta2-created-summary.wire.json'));
const reconciliationFinished = eventFrom(fixtureJson('event-kustomization-v1beta2-reconciliation-finished-commit-status.json'));
const artifactFailed = eventFrom(fixtureJson('event-kustomization-v1-artifactfailed-error.json'));
const helmDriftDetected = eventFrom(fixtureJson('synthetic-event-helmrelease-v2-driftdetected-mesh.json'));
const gitRepository = eventFrom(fixtureJson('generic-hmac-testvector.body.json'));

const REV_MY_APP = 'main@sha1:07a684d59d1bc9a58e0c0d07ed480812b2b9a29e';
const REV_PODINFO = 'master/71ea786475aba31c801435d840819f14a2cc0ef2';
const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);

const GROUPS: Record<string, string> = {
  Deployment: 'apps',
  HorizontalPodAutoscaler: 'autoscaling',
  VirtualService: 'networking.istio.io',
  DestinationRule: 'networking.istio.io',
  AuthorizationPolicy: 'security.istio.io',
  PeerAuthentication: 'security.istio.io',
  Gateway: 'gateway.networking.k8s.io',
};
const ctx = (previousRevision: string | undefined): FluxContext => ({
  cluster: 'prod-eu',
  previousRevision,
  groupOfKind: (kind) => GROUPS[kind] ?? '',
  now: NOW,
});

/** A Kustomization event like kustomize-controller's, forwarded by notification-controller. */
function kustomizationEvent(overrides: Partial<FluxEvent> = {}): FluxEvent {
  return {
    involvedObject: { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh', apiVersion: 'kustomize.toolkit.fluxcd.io/v1' },
    severity: 'info',
    timestamp: '2026-11-20T09:00:00Z',
    message: 'VirtualService/bookinfo/reviews configured',
    reason: 'Progressing',
    metadata: { revision: 'main@sha1:aaaa' },
    reportingController: 'kustomize-controller',
    ...overrides,
  };
}

/** A HelmRelease event in the format of helm-controller's atomic_release.go / correct_cluster_drift.go. */
function helmEvent(reason: string, severity: string, message: string, metadata?: Record<string, string>): FluxEvent {
  return {
    involvedObject: { kind: 'HelmRelease', namespace: 'bookinfo', name: 'bookinfo-mesh', apiVersion: 'helm.toolkit.fluxcd.io/v2' },
    severity,
    timestamp: '2026-11-20T10:20:00Z',
    message,
    reason,
    ...(metadata === undefined ? {} : { metadata }),
    reportingController: 'helm-controller',
  };
}

describe('parseFluxEvent', () => {
  it.each([
    ['request-generic body', requestBody],
    ['v1beta2 wire body', fixtureJson('event-kustomization-v1beta2-created-summary.wire.json')],
    ['reconciliation finished', fixtureJson('event-kustomization-v1beta2-reconciliation-finished-commit-status.json')],
    ['artifact failed', fixtureJson('event-kustomization-v1-artifactfailed-error.json')],
    ['helm drift detected (no metadata)', fixtureJson('synthetic-event-helmrelease-v2-driftdetected-mesh.json')],
    ['hmac test vector (GitRepository, minimal involvedObject)', fixtureJson('generic-hmac-testvector.body.json')],
  ])('accepts the %s fixture', (_name, input) => {
    expect(parseFluxEvent(input).ok).toBe(true);
  });

  it('keeps the fields of the wire body and strips unknown ones', () => {
    const wire = fixtureJson('event-kustomization-v1beta2-created-summary.wire.json') as Record<string, unknown>;
    const parsed = parseFluxEvent({ ...wire, extra: 1, involvedObject: { ...(wire['involvedObject'] as object), fieldPath: 'x' } });
    expect(parsed).toEqual({
      ok: true,
      event: {
        involvedObject: {
          kind: 'Kustomization',
          namespace: 'default',
          name: 'podinfo-kust',
          uid: '46483f17-1c37-4b5a-af9d-6a11f663b81a',
          apiVersion: 'kustomize.toolkit.fluxcd.io/v1beta2',
          resourceVersion: '819',
        },
        severity: 'info',
        timestamp: '2022-09-06T10:32:18Z',
        message: 'Service/default/podinfo created\nDeployment/default/podinfo created\nHorizontalPodAutoscaler/default/podinfo created',
        reason: 'Progressing',
        metadata: { revision: REV_PODINFO, summary: 'notification-sink test cluster' },
        reportingController: 'kustomize-controller',
        reportingInstance: 'kustomize-controller-65d5dfbf48-dx2zg',
      },
    });
  });

  it('accepts an unknown severity string', () => {
    const parsed = parseFluxEvent({ ...kustomizationEvent(), severity: 'warning' });
    expect(parsed.ok && parsed.event.severity).toBe('warning');
  });

  it.each<[string, unknown, string]>([
    [
      'missing involvedObject.kind',
      { ...kustomizationEvent(), involvedObject: { namespace: 'flux-system', name: 'mesh' } },
      'involvedObject.kind: expected string, received undefined',
    ],
    [
      'empty involvedObject.name',
      { ...kustomizationEvent(), involvedObject: { kind: 'Kustomization', namespace: 'a', name: '' } },
      'involvedObject.name: must not be empty',
    ],
    ['numeric severity', { ...kustomizationEvent(), severity: 3 }, 'severity: expected string, received number'],
    ['missing reason', { ...kustomizationEvent(), reason: undefined }, 'reason: expected string, received undefined'],
    [
      'non-string metadata value',
      { ...kustomizationEvent(), metadata: { 'kustomize.toolkit.fluxcd.io/revision': 7 } },
      'metadata["kustomize.toolkit.fluxcd.io/revision"]: expected string, received number',
    ],
    ['array body', [], '(root): expected object, received array'],
    [
      'several problems',
      { involvedObject: { kind: 'Kustomization', namespace: 'a', name: 'b' }, severity: 'info', timestamp: 1 },
      'timestamp: expected string, received number; message: expected string, received undefined; reason: expected string, received undefined',
    ],
  ])('names the failing path: %s', (_name, input, error) => {
    expect(parseFluxEvent(input)).toEqual({ ok: false, error });
  });
});

describe('fluxRevisionOf', () => {
  it.each<[string, Record<string, string> | undefined, string | undefined]>([
    ['unprefixed (forwarded by notification-controller)', { revision: 'main@sha1:1' }, 'main@sha1:1'],
    ['kustomize-controller prefix', { 'kustomize.toolkit.fluxcd.io/revision': 'main@sha1:2' }, 'main@sha1:2'],
    ['helm-controller prefix', { 'helm.toolkit.fluxcd.io/revision': '1.4.2' }, '1.4.2'],
    ['unprefixed wins', { 'kustomize.toolkit.fluxcd.io/revision': 'main@sha1:2', revision: 'main@sha1:1' }, 'main@sha1:1'],
    ['empty value', { revision: '' }, undefined],
    ['origin revision only', { originRevision: 'main@sha1:3' }, undefined],
    ['no metadata', undefined, undefined],
  ])('%s', (_name, metadata, expected) => {
    const event = kustomizationEvent();
    delete event.metadata;
    if (metadata !== undefined) event.metadata = metadata;
    expect(fluxRevisionOf(event)).toBe(expected);
  });
});

describe('ownerOf', () => {
  it('is the involved Flux object without uid or versions', () => {
    expect(ownerOf(createdProgressing)).toEqual({ kind: 'Kustomization', namespace: 'flux-system', name: 'my-app-kustomization' });
  });
});

describe('interpretFluxEvent: Kustomization change sets', () => {
  it('same revision as remembered → drift that Flux corrected, one resource per line', () => {
    expect(interpretFluxEvent(createdProgressing, ctx(REV_MY_APP))).toEqual({
      kind: 'drift',
      signal: {
        source: 'flux-webhook',
        cluster: 'prod-eu',
        owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'my-app-kustomization' },
        project: '',
        destination: {},
        revision: REV_MY_APP,
        observedAt: Date.UTC(2024, 6, 12, 8, 56, 37),
        completeness: 'partial',
        resources: [
          { group: '', kind: 'Namespace', namespace: '', name: 'my-app', state: 'Corrected', detail: 'created' },
          { group: 'apps', kind: 'Deployment', namespace: 'my-app', name: 'my-app', state: 'Corrected', detail: 'created' },
        ],
      },
    });
  });

  it('same revision on the v1beta2 wire body → drift with groups resolved per kind', () => {
    const result = interpretFluxEvent(createdSummary, ctx(REV_PODINFO));
    expect(result.kind).toBe('drift');
    if (result.kind !== 'drift') return;
    expect(result.signal.revision).toBe(REV_PODINFO);
    expect(result.signal.observedAt).toBe(Date.UTC(2022, 8, 6, 10, 32, 18));
    expect(result.signal.resources).toEqual([
      { group: '', kind: 'Service', namespace: 'default', name: 'podinfo', state: 'Corrected', detail: 'created' },
      { group: 'apps', kind: 'Deployment', namespace: 'default', name: 'podinfo', state: 'Corrected', detail: 'created' },
      { group: 'autoscaling', kind: 'HorizontalPodAutoscaler', namespace: 'default', name: 'podinfo', state: 'Corrected', detail: 'created' },
    ]);
  });

  it('a different remembered revision → rollout of the event revision', () => {
    expect(interpretFluxEvent(createdSummary, ctx('master/0000000000000000000000000000000000000000'))).toEqual({ kind: 'rollout', revision: REV_PODINFO });
  });

  it('no known earlier revision (cannot tell) → told as unverified Corrected, never dropped (#13 item 9)', () => {
    const result = interpretFluxEvent(createdSummary, ctx(undefined));
    expect(result.kind).toBe('drift');
    expect(result.kind === 'drift' && result.signal.resources.map((r) => [r.kind, r.state, r.unverified, r.detail])).toEqual(
      ['Service', 'Deployment', 'HorizontalPodAutoscaler'].map((k) => [
        k,
        'Corrected',
        true,
        `created; unverified: no earlier revision known, may be the rollout of ${REV_PODINFO}`,
      ]),
    );
  });

  it('configured, created and deleted are all Corrected, with the action as detail; unparseable lines are skipped', () => {
    const event = kustomizationEvent({
      message: [
        'VirtualService/bookinfo/reviews configured',
        'DestinationRule/bookinfo/reviews created',
        'this line is not an object',
        'Gateway/istio-system/ingress deleted',
        'Namespace/bookinfo configured',
      ].join('\n'),
    });
    const result = interpretFluxEvent(event, ctx('main@sha1:aaaa'));
    expect(result.kind === 'drift' && result.signal.resources).toEqual([
      { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews', state: 'Corrected', detail: 'configured' },
      { group: 'networking.istio.io', kind: 'DestinationRule', namespace: 'bookinfo', name: 'reviews', state: 'Corrected', detail: 'created' },
      { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'istio-system', name: 'ingress', state: 'Corrected', detail: 'deleted' },
      { group: '', kind: 'Namespace', namespace: '', name: 'bookinfo', state: 'Corrected', detail: 'configured' },
    ]);
  });

  it('reads the prefixed revision key as controllers send it', () => {
    const event = kustomizationEvent({ metadata: { 'kustomize.toolkit.fluxcd.io/revision': 'main@sha1:bbbb' } });
    expect(interpretFluxEvent(event, ctx('main@sha1:bbbb')).kind).toBe('drift');
    expect(interpretFluxEvent(event, ctx('main@sha1:aaaa'))).toEqual({ kind: 'rollout', revision: 'main@sha1:bbbb' });
    expect(revisionToRemember(event)).toBe('main@sha1:bbbb');
  });

  it('falls back to ctx.now when the timestamp does not parse', () => {
    const result = interpretFluxEvent(kustomizationEvent({ timestamp: 'yesterday-ish' }), ctx('main@sha1:aaaa'));
    expect(result.kind === 'drift' && result.signal.observedAt).toBe(NOW);
  });

  it('lists an object named twice once', () => {
    const event = kustomizationEvent({ message: 'VirtualService/bookinfo/reviews configured\nVirtualService/bookinfo/reviews configured' });
    const result = interpretFluxEvent(event, ctx('main@sha1:aaaa'));
    expect(result.kind === 'drift' && result.signal.resources.length).toBe(1);
  });

  it('never carries message text into resource identities', () => {
    const result = interpretFluxEvent(createdProgressing, ctx(REV_MY_APP));
    const names = result.kind === 'drift' ? result.signal.resources.map((r) => `${r.kind}/${r.namespace}/${r.name}`) : [];
    expect(names).toEqual(['Namespace//my-app', 'Deployment/my-app/my-app']);
  });

  it.each<[string, FluxEvent, string]>([
    ['a change set without revision', kustomizationEvent({ metadata: { summary: 'x' } }), 'change set without a revision: cannot tell drift from a rollout'],
    ['the reconciliation-finished heartbeat', reconciliationFinished, 'heartbeat'],
    ['a health-check heartbeat', kustomizationEvent({ message: 'Health check passed in 2.004s' }), 'heartbeat'],
    ['an error event', artifactFailed, 'error events are not drift'],
    [
      'a partial-apply error that carries a change set',
      kustomizationEvent({
        severity: 'error',
        reason: 'ReconciliationFailed',
        message: 'VirtualService/bookinfo/x dry-run failed: invalid\nDestinationRule/bookinfo/reviews configured',
      }),
      'error events are not drift',
    ],
    [
      'dependencies not ready',
      kustomizationEvent({ reason: 'DependencyNotReady', message: 'Dependencies do not meet ready condition, retrying in 30s' }),
      'no change-set lines in the message',
    ],
    ['an unknown severity', kustomizationEvent({ severity: 'trace' }), 'severity "trace" is not handled'],
  ])('ignores %s', (_name, event, why) => {
    expect(interpretFluxEvent(event, ctx(fluxRevisionOf(event)))).toEqual({ kind: 'ignored', why });
  });
});

describe('interpretFluxEvent: other object kinds', () => {
  it('ignores a GitRepository event', () => {
    expect(interpretFluxEvent(gitRepository, ctx(undefined))).toEqual({
      kind: 'ignored',
      why: 'GitRepository events are not drift (only Kustomization and HelmRelease are)',
    });
  });
});

describe('interpretFluxEvent: HelmRelease', () => {
  it('DriftDetected → Modified (counts as detail) and Missing; excluded and the header are skipped', () => {
    expect(interpretFluxEvent(helmDriftDetected, ctx('1.4.2'))).toEqual({
      kind: 'drift',
      signal: {
        source: 'flux-webhook',
        cluster: 'prod-eu',
        owner: { kind: 'HelmRelease', namespace: 'bookinfo', name: 'bookinfo-mesh' },
        project: '',
        destination: {},
        observedAt: Date.UTC(2026, 10, 20, 10, 15, 42),
        completeness: 'partial',
        resources: [
          {
            group: 'networking.istio.io',
            kind: 'VirtualService',
            namespace: 'bookinfo',
            name: 'reviews',
            state: 'Modified',
            detail: '0 additions, 1 changes, 0 removals',
          },
          { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'bookinfo', name: 'ratings-viewer', state: 'Missing', detail: 'removed' },
          {
            group: 'gateway.networking.k8s.io',
            kind: 'Gateway',
            namespace: 'bookinfo',
            name: 'bookinfo-gateway',
            state: 'Modified',
            detail: '1 additions, 0 changes, 2 removals',
          },
        ],
      },
    });
  });

  it('DriftDetected does not depend on the remembered revision', () => {
    expect(interpretFluxEvent(helmDriftDetected, ctx(undefined)).kind).toBe('drift');
  });

  it('DriftDetected listing only excluded objects → ignored', () => {
    const event = helmEvent(
      'DriftDetected',
      'error',
      'Cluster state of release bookinfo/bookinfo-mesh.v7 has drifted from the desired state:\nPeerAuthentication/bookinfo/default excluded',
    );
    expect(interpretFluxEvent(event, ctx(undefined))).toEqual({ kind: 'ignored', why: 'DriftDetected without drifted object lines' });
  });

  it('DriftCorrected → change-set lines as Corrected, revision from metadata', () => {
    const event = helmEvent(
      'DriftCorrected',
      'info',
      'Cluster state of release bookinfo/bookinfo-mesh.v7 has been corrected:\nAuthorizationPolicy/bookinfo/ratings-viewer created\nVirtualService/bookinfo/reviews configured',
      { revision: '1.4.2', 'app-version': '1.22.0' },
    );
    const result = interpretFluxEvent(event, ctx(undefined));
    expect(result.kind === 'drift' && result.signal.revision).toBe('1.4.2');
    expect(result.kind === 'drift' && result.signal.resources).toEqual([
      { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'bookinfo', name: 'ratings-viewer', state: 'Corrected', detail: 'created' },
      { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews', state: 'Corrected', detail: 'configured' },
    ]);
  });

  it('DriftCorrected with the prefixed helm revision key', () => {
    const event = helmEvent(
      'DriftCorrected',
      'info',
      'Cluster state of release bookinfo/bookinfo-mesh.v7 has been corrected:\nVirtualService/bookinfo/reviews configured',
      {
        'helm.toolkit.fluxcd.io/revision': '1.4.3',
      },
    );
    const result = interpretFluxEvent(event, ctx(undefined));
    expect(result.kind === 'drift' && result.signal.revision).toBe('1.4.3');
    expect(revisionToRemember(event)).toBe('1.4.3');
  });

  it('DriftCorrectionFailed (partial) → failures ApplyFailed, "Successful corrections:" lines Corrected', () => {
    const event = helmEvent(
      'DriftCorrectionFailed',
      'error',
      [
        'Failed to partially correct cluster state of release bookinfo/bookinfo-mesh.v7:',
        'Gateway/bookinfo/bookinfo-gateway patch failure: admission webhook "validation.istio.io" denied the request',
        'some error without an object',
        'ServiceEntry/bookinfo/ext creation failure: forbidden',
        '',
        'Successful corrections:',
        'VirtualService/bookinfo/reviews configured',
        'AuthorizationPolicy/bookinfo/ratings-viewer created',
      ].join('\n'),
      { revision: '1.4.2' },
    );
    const result = interpretFluxEvent(event, ctx(undefined));
    expect(result.kind === 'drift' && result.signal.resources).toEqual([
      {
        group: 'gateway.networking.k8s.io',
        kind: 'Gateway',
        namespace: 'bookinfo',
        name: 'bookinfo-gateway',
        state: 'ApplyFailed',
        detail: 'patch failure: admission webhook "validation.istio.io" denied the request',
      },
      { group: '', kind: 'ServiceEntry', namespace: 'bookinfo', name: 'ext', state: 'ApplyFailed', detail: 'creation failure: forbidden' },
      { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews', state: 'Corrected', detail: 'configured' },
      { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'bookinfo', name: 'ratings-viewer', state: 'Corrected', detail: 'created' },
    ]);
  });

  it('DriftCorrectionFailed truncates long error details', () => {
    const event = helmEvent(
      'DriftCorrectionFailed',
      'error',
      `Failed to correct cluster state of release bookinfo/bookinfo-mesh.v7:\nVirtualService/bookinfo/reviews patch failure: ${'x'.repeat(500)}`,
    );
    const result = interpretFluxEvent(event, ctx(undefined));
    const detail = result.kind === 'drift' ? result.signal.resources[0]?.detail : undefined;
    expect(detail?.length).toBe(200);
    expect(detail?.startsWith('patch failure: xxx')).toBe(true);
    expect(detail?.endsWith('…')).toBe(true);
  });

  it('DriftCorrectionFailed without object lines → ignored', () => {
    const event = helmEvent('DriftCorrectionFailed', 'error', 'Failed to correct cluster state of release bookinfo/bookinfo-mesh.v7:\nerror 1\nerror 2');
    expect(interpretFluxEvent(event, ctx(undefined))).toEqual({ kind: 'ignored', why: 'DriftCorrectionFailed without drifted object lines' });
  });

  it.each([['UpgradeSucceeded'], ['InstallSucceeded'], ['HelmChartCreated']])('ignores reason %s', (reason) => {
    const event = helmEvent(reason, 'info', 'Helm upgrade succeeded for release bookinfo/bookinfo-mesh.v8 with chart bookinfo-mesh@1.4.3', {
      revision: '1.4.3',
    });
    expect(interpretFluxEvent(event, ctx(undefined))).toEqual({ kind: 'ignored', why: `HelmRelease reason ${reason} is not drift` });
  });
});

describe('revisionToRemember', () => {
  it.each<[string, FluxEvent, string | undefined]>([
    ['a change set (request-generic fixture)', createdProgressing, REV_MY_APP],
    ['a change set (wire fixture)', createdSummary, REV_PODINFO],
    ['the Reconciliation finished heartbeat', reconciliationFinished, 'master/132f4e719209eb10b9485302f8593fc0e680f4fc'],
    ['Health check passed', kustomizationEvent({ message: 'Health check passed in 2.004s' }), 'main@sha1:aaaa'],
    ['an error event (artifact failed)', artifactFailed, undefined],
    ['a failed apply of a new revision with a change set', kustomizationEvent({ severity: 'error', reason: 'ReconciliationFailed' }), undefined],
    [
      'dependencies not ready (carries the new, unapplied revision)',
      kustomizationEvent({ reason: 'DependencyNotReady', message: 'Dependencies do not meet ready condition, retrying in 30s' }),
      undefined,
    ],
    ['an info change set without revision', kustomizationEvent({ metadata: {} }), undefined],
    ['a HelmRelease DriftDetected (error, no metadata)', helmDriftDetected, undefined],
    ['a HelmRelease upgrade', helmEvent('UpgradeSucceeded', 'info', 'Helm upgrade succeeded', { revision: '1.4.3' }), '1.4.3'],
    ['a HelmRelease error with a revision', helmEvent('UpgradeFailed', 'error', 'Helm upgrade failed', { revision: '1.4.4' }), undefined],
    [
      'a GitRepository event',
      eventFrom({ ...(fixtureJson('generic-hmac-testvector.body.json') as object), metadata: { revision: 'main@sha1:cccc' } }),
      undefined,
    ],
  ])('%s', (_name, event, expected) => {
    expect(revisionToRemember(event)).toBe(expected);
  });
});

describe('fluxRepoURLOf: the repository an Alert or the object names (Flux events carry none of their own)', () => {
  it('reads repoURL (Alert eventMetadata, or the event.toolkit.fluxcd.io/repoURL annotation, forwarded unprefixed) onto the drift signal', () => {
    const event = kustomizationEvent({ metadata: { revision: REV_MY_APP, repoURL: 'https://x:TOKEN@github.com/org/fleet.git' } });
    expect(fluxRepoURLOf(event)).toBe('https://github.com/org/fleet');
    const result = interpretFluxEvent(event, ctx(REV_MY_APP));
    expect(result.kind === 'drift' ? result.signal.repoURL : undefined).toBe('https://github.com/org/fleet');
  });

  it('reads the prefixed key; none, or a URL that cannot be linked, gives no repoURL', () => {
    expect(fluxRepoURLOf(kustomizationEvent({ metadata: { 'event.toolkit.fluxcd.io/repoURL': 'ssh://git@gitlab.com/g/r.git' } }))).toBe('ssh://gitlab.com/g/r');
    expect(fluxRepoURLOf(kustomizationEvent())).toBeUndefined();
    expect(fluxRepoURLOf(kustomizationEvent({ metadata: { repoURL: 'oci://ghcr.io/org/manifests' } }))).toBeUndefined();
    const result = interpretFluxEvent(createdProgressing, ctx(REV_MY_APP));
    expect(result.kind === 'drift' && 'repoURL' in result.signal).toBe(false);
  });
});

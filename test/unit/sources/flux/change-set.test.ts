import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseChangeSet, parseChangeSetLine, type ChangeSetEntry } from '../../../../src/sources/flux/change-set.ts';

const fixtureJson = (name: string): unknown => JSON.parse(readFileSync(new URL(`../../../../../shared/fixtures/flux/${name}`, import.meta.url), 'utf8'));
const messageOf = (value: unknown): string => (value as { message: string }).message;

describe('parseChangeSetLine', () => {
  it.each<[string, ChangeSetEntry]>([
    ['Deployment/my-app/my-app created', { kind: 'Deployment', namespace: 'my-app', name: 'my-app', action: 'created' }],
    ['Namespace/my-app created', { kind: 'Namespace', namespace: '', name: 'my-app', action: 'created' }],
    ['VirtualService/bookinfo/reviews configured', { kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews', action: 'configured' }],
    ['DestinationRule/bookinfo/reviews deleted', { kind: 'DestinationRule', namespace: 'bookinfo', name: 'reviews', action: 'deleted' }],
    ['Gateway/istio-system/ingress unknown', { kind: 'Gateway', namespace: 'istio-system', name: 'ingress', action: 'unknown' }],
    ['ClusterRole/system:mesh-reader configured', { kind: 'ClusterRole', namespace: '', name: 'system:mesh-reader', action: 'configured' }],
    ['  Service/default/podinfo created\r', { kind: 'Service', namespace: 'default', name: 'podinfo', action: 'created' }],
    [
      'VirtualService/bookinfo/reviews changed (0 additions, 1 changes, 0 removals)',
      { kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews', action: 'changed', detail: '0 additions, 1 changes, 0 removals' },
    ],
    [
      'ClusterRole/mesh-admin changed (2 additions, 0 changes, 1 removals)',
      { kind: 'ClusterRole', namespace: '', name: 'mesh-admin', action: 'changed', detail: '2 additions, 0 changes, 1 removals' },
    ],
    ['AuthorizationPolicy/bookinfo/ratings-viewer removed', { kind: 'AuthorizationPolicy', namespace: 'bookinfo', name: 'ratings-viewer', action: 'removed' }],
    ['PeerAuthentication/bookinfo/default excluded', { kind: 'PeerAuthentication', namespace: 'bookinfo', name: 'default', action: 'excluded' }],
    [
      'Sidecar/bookinfo/default patch failure: admission webhook "validation.istio.io" denied the request',
      {
        kind: 'Sidecar',
        namespace: 'bookinfo',
        name: 'default',
        action: 'failed',
        detail: 'patch failure: admission webhook "validation.istio.io" denied the request',
      },
    ],
    [
      'ServiceEntry/bookinfo/ext creation failure: forbidden',
      { kind: 'ServiceEntry', namespace: 'bookinfo', name: 'ext', action: 'failed', detail: 'creation failure: forbidden' },
    ],
  ])('parses %j', (line, expected) => {
    expect(parseChangeSetLine(line)).toEqual(expected);
  });

  it.each([
    [''],
    ['Cluster state of release bookinfo/bookinfo-mesh.v7 has drifted from the desired state:'],
    ['Reconciliation finished in 94.0083ms, next run in 30s'],
    ['Health check passed in 2.5s'],
    ['Successful corrections:'],
    ['Deployment/default/podinfo unchanged'],
    ['Deployment/default/podinfo skipped'],
    ['Deployment/default/podinfo'],
    ['Deployment/a/b/c configured'],
    ['deployment.apps/podinfo configured'], // pre-SSA kubectl style (flux2#626)
    ['service/podinfo configured'],
    ['Deployment/default/podinfo configured extra'],
    ['Deployment/default/podinfo changed'],
    ['error 1'],
    ['kustomization path not found: stat /tmp/kustomization-644156964/cluster-resources/my-app: no such file or directory'],
  ])('skips %j', (line) => {
    expect(parseChangeSetLine(line)).toBeUndefined();
  });
});

describe('parseChangeSet over the Flux fixtures', () => {
  it('reads the generic-provider request (cluster-scoped and namespaced lines)', () => {
    const request = fixtureJson('request-generic-kustomization-v1-created-progressing.json') as { body: unknown };
    expect(parseChangeSet(messageOf(request.body))).toEqual({
      entries: [
        { kind: 'Namespace', namespace: '', name: 'my-app', action: 'created' },
        { kind: 'Deployment', namespace: 'my-app', name: 'my-app', action: 'created' },
      ],
      skipped: 0,
    });
  });

  it('reads the byte-exact v1beta2 wire body', () => {
    expect(parseChangeSet(messageOf(fixtureJson('event-kustomization-v1beta2-created-summary.wire.json')))).toEqual({
      entries: [
        { kind: 'Service', namespace: 'default', name: 'podinfo', action: 'created' },
        { kind: 'Deployment', namespace: 'default', name: 'podinfo', action: 'created' },
        { kind: 'HorizontalPodAutoscaler', namespace: 'default', name: 'podinfo', action: 'created' },
      ],
      skipped: 0,
    });
  });

  it.each([
    ['event-kustomization-v1beta2-reconciliation-finished-commit-status.json'],
    ['event-kustomization-v1-artifactfailed-error.json'],
    ['generic-hmac-testvector.body.json'],
  ])('finds no object lines in %s', (name) => {
    expect(parseChangeSet(messageOf(fixtureJson(name)))).toEqual({ entries: [], skipped: 1 });
  });

  it('reads the synthetic HelmRelease DriftDetected message, counting the header as skipped', () => {
    expect(parseChangeSet(messageOf(fixtureJson('synthetic-event-helmrelease-v2-driftdetected-mesh.json')))).toEqual({
      entries: [
        { kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews', action: 'changed', detail: '0 additions, 1 changes, 0 removals' },
        { kind: 'AuthorizationPolicy', namespace: 'bookinfo', name: 'ratings-viewer', action: 'removed' },
        { kind: 'Gateway', namespace: 'bookinfo', name: 'bookinfo-gateway', action: 'changed', detail: '1 additions, 0 changes, 2 removals' },
        { kind: 'PeerAuthentication', namespace: 'bookinfo', name: 'default', action: 'excluded' },
      ],
      skipped: 1,
    });
  });

  it('ignores blank lines and accepts a line array', () => {
    expect(parseChangeSet(['', 'Service/a/b created', '  ', 'nonsense'])).toEqual({
      entries: [{ kind: 'Service', namespace: 'a', name: 'b', action: 'created' }],
      skipped: 1,
    });
  });
});

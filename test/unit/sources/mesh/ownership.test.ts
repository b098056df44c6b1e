import { describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../../../src/model/fingerprint.ts';
import { type Signal, toolOf } from '../../../../src/model/signal.ts';
import { applicationSchema, applicationToSignal } from '../../../../src/sources/argocd/application.ts';
import { interpretFluxEvent, ownerOf as fluxEventOwner } from '../../../../src/sources/flux/normalize.ts';
import { fluxEventSchema } from '../../../../src/sources/flux/event.ts';
import { pathsOverlap, summarizeManagedFields } from '../../../../src/sources/mesh/fields.ts';
import { DEFAULT_OWNERSHIP, ownerOf } from '../../../../src/sources/mesh/ownership.ts';
import { parsePath, removePaths } from '../../../../src/sources/mesh/paths.ts';
import { editSignal } from '../../../../src/sources/mesh/signals.ts';
import { slimMeshObject } from '../../../../src/sources/mesh/slim.ts';
import { readFixture } from '../../../support/fixtures.ts';
import { entry, gitopsEntry, reviewsHttp, virtualService } from '../../../support/mesh.ts';

const T0 = Date.parse('2026-12-04T13:00:00Z');
const fp = (s: Signal): string => {
  const r = s.resources.find((x) => x.kind === 'VirtualService');
  if (!r) throw new Error('no VirtualService');
  return fingerprintOf(s.cluster, toolOf(s.source, s.owner), s.owner, r);
};

describe('the owner of a mesh object is the one the Argo CD and Flux sources name (same fingerprint)', () => {
  it('Argo CD tracking id: the Application in Argo CD namespace, as applicationToSignal names it', () => {
    const app = applicationSchema.parse(readFixture('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json'));
    const argo = applicationToSignal(app, { cluster: 'prod', source: 'argocd-watch', now: T0 });
    const vs = virtualService({ name: 'payments', namespace: 'payments', owner: { tool: 'argocd', app: 'payments-mesh' }, http: [], managers: [] });
    const slim = slimMeshObject(vs, { group: 'networking.istio.io', kind: 'VirtualService' }, DEFAULT_OWNERSHIP);
    if (!slim.ok) throw new Error(slim.error);
    const mesh = editSignal('prod', slim.object, { attribution: [] }, T0);
    expect(mesh.owner).toEqual(argo.owner);
    expect(fp(mesh)).toBe(fp(argo));
  });

  it('Flux kustomize labels: the Kustomization by its own namespace and name, as the Flux event names it', () => {
    const vs = virtualService({ owner: { tool: 'flux', kustomization: 'bookinfo', namespace: 'flux-system' }, http: [], managers: [] });
    const slim = slimMeshObject(vs, { group: 'networking.istio.io', kind: 'VirtualService' }, DEFAULT_OWNERSHIP);
    if (!slim.ok) throw new Error(slim.error);
    const event = fluxEventSchema.parse({
      involvedObject: { kind: 'Kustomization', namespace: 'flux-system', name: 'bookinfo' },
      severity: 'info',
      timestamp: '2026-12-04T14:05:00Z',
      message: 'VirtualService/bookinfo/reviews configured',
      reason: 'ReconciliationSucceeded',
      metadata: { revision: 'main@sha1:abc' },
      reportingController: 'kustomize-controller',
    });
    expect(fluxEventOwner(event)).toEqual(slim.object.owner);
    const flux = interpretFluxEvent(event, { cluster: 'prod', now: T0, previousRevision: 'main@sha1:abc', groupOfKind: () => 'networking.istio.io' });
    const mesh = editSignal('prod', slim.object, { attribution: [] }, T0);
    if (flux.kind !== 'drift') throw new Error(`expected drift, got ${flux.kind}`);
    expect(fp(mesh)).toBe(fp(flux.signal));
  });

  it('apps in any namespace; a tracking id naming another object is ignored; a chart instance label without an Argo CD manager is no owner', () => {
    const vs = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews' };
    const tracking = (id: string) => ({ annotations: { 'argocd.argoproj.io/tracking-id': id } });
    expect(ownerOf(vs, tracking('team-a_reviews:networking.istio.io/VirtualService:bookinfo/reviews'), [], DEFAULT_OWNERSHIP)).toEqual({
      kind: 'Application',
      namespace: 'team-a',
      name: 'reviews',
    });
    expect(ownerOf(vs, tracking('reviews:networking.istio.io/VirtualService:bookinfo/ratings'), [], DEFAULT_OWNERSHIP)).toBeUndefined();
    const label = { labels: { 'app.kubernetes.io/instance': 'reviews' } };
    expect(ownerOf(vs, label, [], DEFAULT_OWNERSHIP)).toBeUndefined();
    const argoWrote = [{ manager: 'argocd-controller', operation: 'Update', paths: [] }];
    expect(ownerOf(vs, label, argoWrote, DEFAULT_OWNERSHIP)).toEqual({ kind: 'Application', namespace: 'argocd', name: 'reviews' });
  });
});

describe('managedFields summary', () => {
  it('resolves k:, v: and i: entries against the object and keeps status writes apart', () => {
    const obj = {
      spec: {
        ports: [
          { port: 80, protocol: 'TCP' },
          { port: 443, protocol: 'TCP' },
        ],
        hosts: ['a', 'b'],
      },
      status: {},
    };
    const summary = summarizeManagedFields(
      [
        {
          manager: 'kubectl-edit',
          operation: 'Update',
          time: '2026-12-04T14:03:00Z',
          fieldsV1: { 'f:spec': { 'f:ports': { 'k:{"port":443,"protocol":"TCP"}': { '.': {}, 'f:port': {} } }, 'f:hosts': { 'v:"b"': {} } } },
        },
        { manager: 'pilot-discovery', operation: 'Update', subresource: 'status', fieldsV1: { 'f:status': {} } },
      ],
      obj,
    );
    expect(summary[0]).toEqual({
      manager: 'kubectl-edit',
      operation: 'Update',
      time: Date.parse('2026-12-04T14:03:00Z'),
      paths: ['spec.ports[1].port', 'spec.hosts[1]'],
    });
    expect(summary[1]).toEqual({ manager: 'pilot-discovery', operation: 'Update', subresource: 'status', paths: [] });
  });

  it('path texts round-trip and overlap by prefix only at a segment boundary', () => {
    expect(parsePath('spec.http[0].headers["a.io/b"].x-y')).toEqual(['spec', 'http', 0, 'headers', 'a.io/b', 'x-y']);
    expect(pathsOverlap('spec.http[0].route[1].weight', 'spec.http')).toBe(true);
    expect(pathsOverlap('spec.httpx', 'spec.http')).toBe(false);
    expect(removePaths({ spec: { a: [1, 2, 3], b: 1 } }, ['spec.a[0]', 'spec.a[2]', 'spec.b'])).toEqual({ spec: { a: [2] } });
  });

  it('a GitOps and a kubectl entry of the shape the apiserver writes', () => {
    const vs = virtualService({
      owner: { tool: 'argocd', app: 'bookinfo-mesh' },
      http: reviewsHttp([50, 50]),
      managers: [gitopsEntry({ tool: 'argocd', app: 'bookinfo-mesh' }, T0), entry('kubectl-edit', 'Update', T0 + 1000, { 'f:spec': { 'f:http': {} } })],
    });
    const slim = slimMeshObject(vs, { group: 'networking.istio.io', kind: 'VirtualService' }, DEFAULT_OWNERSHIP);
    if (!slim.ok) throw new Error(slim.error);
    expect(slim.object.managers.map((m) => [m.manager, m.paths])).toEqual([
      ['argocd-controller', ['spec.hosts', 'spec.http']],
      ['kubectl-edit', ['spec.http']],
    ]);
    // The slim object never holds the managedFields, labels or annotations themselves.
    expect(JSON.stringify(slim.object)).not.toContain('tracking-id');
  });
});

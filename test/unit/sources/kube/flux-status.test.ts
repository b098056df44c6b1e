import { describe, expect, it } from 'vitest';
import { createCatalog } from '../../../../src/classify/catalog.ts';
import { memoryRevisions } from '../../../support/flux.ts';
import { chronological, coreEventToFluxEvent } from '../../../../src/sources/flux/core-event.ts';
import { processFluxEvent } from '../../../../src/sources/flux/process-event.ts';
import { helmReleaseToSignal, kustomizationToSignal } from '../../../../src/sources/flux/status.ts';
import { createInventoryIndex, parseInventoryId } from '../../../../src/sources/kube/flux-inventory.ts';
import { slimEventSchema, slimHelmReleaseSchema, slimKustomizationSchema, type SlimEvent, type SlimKustomization } from '../../../../src/sources/kube/slim.ts';
import type { Signal } from '../../../../src/model/signal.ts';
import { readFixture } from '../../../support/fixtures.ts';

type Json = Record<string, unknown>;
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}
interface FluxObject {
  metadata: { name: string; namespace: string };
  status: { conditions: Condition[]; lastAttemptedRevision?: string; inventory: { entries: Array<{ id: string }> } };
}
const catalog = createCatalog();
const ctx = { cluster: 'east', now: 1_000 };

function kustomization(ready: Partial<Condition> | undefined): SlimKustomization {
  const raw = structuredClone((readFixture('flux/kustomizationlist-v1beta2-istio-inventory.json') as { items: FluxObject[] }).items[0]!);
  raw.status.conditions = ready ? [{ type: 'Ready', status: '', lastTransitionTime: '2023-03-15T08:00:00Z', ...ready }] : [];
  raw.status.lastAttemptedRevision = 'dev/new';
  return slimKustomizationSchema.parse(raw);
}

describe('Kustomization status → signal', () => {
  it.each([
    ['BuildFailed', 'ApplyFailed'],
    ['ReconciliationFailed', 'ApplyFailed'],
    ['ArtifactFailed', 'ApplyFailed'],
    ['PruneFailed', 'ApplyFailed'],
    ['HealthCheckFailed', 'Unhealthy'],
  ])('Ready=False %s → %s on the Kustomization itself, at the attempted revision', (reason, state) => {
    const s = kustomizationToSignal(kustomization({ status: 'False', reason, message: 'boom' }), ctx);
    expect(s).toMatchObject({
      source: 'flux-watch',
      cluster: 'east',
      completeness: 'snapshot',
      revision: 'dev/new',
      observedAt: Date.parse('2023-03-15T08:00:00Z'),
      owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'myservice' },
    });
    expect(s?.resources).toEqual([
      { group: 'kustomize.toolkit.fluxcd.io', kind: 'Kustomization', namespace: 'flux-system', name: 'myservice', state, detail: `${reason}: boom` },
    ]);
  });

  it('Ready=True is an InSync snapshot (resolves), at the applied revision', () => {
    const s = kustomizationToSignal(kustomization({ status: 'True', reason: 'ReconciliationSucceeded' }), ctx);
    expect(s).toMatchObject({ completeness: 'snapshot', revision: 'dev/9a049173a8d8619eb33e9a0a06dea2082729ac46', resources: [{ state: 'InSync' }] });
  });

  it.each([
    ['Unknown Progressing', { status: 'Unknown', reason: 'Progressing' }],
    ['DependencyNotReady', { status: 'False', reason: 'DependencyNotReady' }],
    ['no Ready condition', undefined],
  ])('%s says nothing', (_, ready) => {
    expect(kustomizationToSignal(kustomization(ready), ctx)).toBeUndefined();
  });
});

describe('HelmRelease Drifted → signal', () => {
  const fixture = () => structuredClone(readFixture('flux/synthetic-helmrelease-v2-drifted-warn-mesh.json')) as FluxObject;
  const inventory = createInventoryIndex();
  const hrCtx = (hr: FluxObject) => {
    const owner = { kind: 'HelmRelease', namespace: hr.metadata.namespace, name: hr.metadata.name };
    inventory.set(
      'east',
      owner,
      hr.status.inventory.entries.map((e) => e.id),
    );
    return {
      ...ctx,
      groupOfKind: catalog.groupOfKind,
      groupInInventory: (ref: { kind: string; namespace: string; name: string }) => inventory.groupOf('east', owner, ref),
    };
  };

  it('lists changed and removed objects, not excluded ones, with groups from the inventory', () => {
    const hr = fixture();
    const s = helmReleaseToSignal(slimHelmReleaseSchema.parse(hr), hrCtx(hr));
    expect(s).toMatchObject({ completeness: 'snapshot', revision: '1.4.2', observedAt: Date.parse('2026-11-20T10:15:42Z') });
    expect(s?.resources).toEqual([
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
    ]);
  });

  it("without an inventory, an ambiguous kind keeps the catalog's empty group", () => {
    const hr = fixture();
    const s = helmReleaseToSignal(slimHelmReleaseSchema.parse(hr), { ...ctx, groupOfKind: catalog.groupOfKind });
    expect(s?.resources.find((r) => r.kind === 'Gateway')?.group).toBe('');
  });

  it('Drifted=False resolves; an unparseable message names the release itself; no condition says nothing', () => {
    const hr = fixture();
    const drifted = hr.status.conditions[2]!;
    drifted.status = 'False';
    expect(helmReleaseToSignal(slimHelmReleaseSchema.parse(hr), hrCtx(hr))).toMatchObject({ completeness: 'snapshot', resources: [] });
    drifted.status = 'True';
    drifted.message = 'Cluster state of release bookinfo/bookinfo-mesh.v7 has drifted from the desired state';
    expect(helmReleaseToSignal(slimHelmReleaseSchema.parse(hr), hrCtx(hr))?.resources).toEqual([
      { group: 'helm.toolkit.fluxcd.io', kind: 'HelmRelease', namespace: 'bookinfo', name: 'bookinfo-mesh', state: 'Modified', detail: drifted.message },
    ]);
    hr.status.conditions = hr.status.conditions.slice(0, 2);
    expect(helmReleaseToSignal(slimHelmReleaseSchema.parse(hr), hrCtx(hr))).toBeUndefined();
  });
});

describe('inventory ids', () => {
  it.each([
    [
      'myservice_myservice_networking.istio.io_VirtualService',
      { namespace: 'myservice', name: 'myservice', group: 'networking.istio.io', kind: 'VirtualService' },
    ],
    ['_myservice__Namespace', { namespace: '', name: 'myservice', group: '', kind: 'Namespace' }],
    ['default_podinfo__Service', { namespace: 'default', name: 'podinfo', group: '', kind: 'Service' }],
    [
      '_system__controller_rbac.authorization.k8s.io_ClusterRole',
      { namespace: '', name: 'system:controller', group: 'rbac.authorization.k8s.io', kind: 'ClusterRole' },
    ],
    ['nounderscore', undefined],
    ['a_b', undefined],
  ])('%s', (id, ref) => {
    expect(parseInventoryId(id)).toEqual(ref);
  });

  it('an object listed under two groups has no answer', () => {
    const index = createInventoryIndex();
    const owner = { kind: 'Kustomization', namespace: 'flux-system', name: 'k' };
    index.set('c', owner, ['ns_gw_networking.istio.io_Gateway', 'ns_gw_gateway.networking.k8s.io_Gateway', 'ns_vs_networking.istio.io_VirtualService']);
    expect(index.groupOf('c', owner, { kind: 'Gateway', namespace: 'ns', name: 'gw' })).toBeUndefined();
    expect(index.groupOf('c', owner, { kind: 'VirtualService', namespace: 'ns', name: 'vs' })).toBe('networking.istio.io');
    expect(index.groupOf('other', owner, { kind: 'VirtualService', namespace: 'ns', name: 'vs' })).toBeUndefined();
  });
});

describe('core Event → Flux event', () => {
  const event = (over: Json): SlimEvent =>
    slimEventSchema.parse({
      metadata: { name: 'ks.1', namespace: 'flux-system', annotations: { 'kustomize.toolkit.fluxcd.io/revision': 'main@sha1:abc' } },
      involvedObject: { kind: 'Kustomization', namespace: 'flux-system', name: 'ks', uid: 'u1', apiVersion: 'kustomize.toolkit.fluxcd.io/v1' },
      reason: 'Progressing',
      message: 'VirtualService/ns/vs configured',
      type: 'Normal',
      source: { component: 'kustomize-controller' },
      lastTimestamp: '2026-01-02T03:04:05Z',
      ...over,
    });

  it('maps type to severity, annotations to metadata, the reporting component', () => {
    expect(coreEventToFluxEvent(event({}))).toEqual({
      involvedObject: { kind: 'Kustomization', namespace: 'flux-system', name: 'ks', uid: 'u1', apiVersion: 'kustomize.toolkit.fluxcd.io/v1' },
      severity: 'info',
      timestamp: '2026-01-02T03:04:05Z',
      message: 'VirtualService/ns/vs configured',
      reason: 'Progressing',
      metadata: { 'kustomize.toolkit.fluxcd.io/revision': 'main@sha1:abc' },
      reportingController: 'kustomize-controller',
    });
    expect(coreEventToFluxEvent(event({ type: 'Warning', reportingComponent: 'helm-controller' }))).toMatchObject({
      severity: 'error',
      reportingController: 'helm-controller',
    });
    expect(coreEventToFluxEvent(event({ involvedObject: {} }))).toBeUndefined();
  });

  it('orders a list oldest first', () => {
    const a = event({ metadata: { name: 'a' }, lastTimestamp: '2026-01-02T03:00:00Z' });
    const b = event({ metadata: { name: 'b' }, lastTimestamp: '2026-01-01T03:00:00Z' });
    expect(chronological([a, b]).map((e) => e.metadata.name)).toEqual(['b', 'a']);
  });
});

describe('processFluxEvent (shared by webhook and watch)', () => {
  const memory = () => memoryRevisions();

  it('heartbeat remembers, same-revision change set is drift, a replay is a duplicate', async () => {
    const signals: Signal[] = [];
    const store = memory();
    const deps = {
      cluster: 'east',
      source: 'flux-watch' as const,
      ingest: async (s: Signal) => (signals.push(s), { outcome: 'tracked' as const, groups: [], findings: 1 }),
      fluxRevisions: store,
      groupOfKind: catalog.groupOfKind,
      groupInInventory: () => 'networking.istio.io',
      now: 5,
    };
    const heartbeat = coreEventToFluxEvent(
      slimEventSchema.parse({
        metadata: { name: 'h', annotations: { 'kustomize.toolkit.fluxcd.io/revision': 'r1' } },
        involvedObject: { kind: 'Kustomization', namespace: 'flux-system', name: 'ks' },
        type: 'Normal',
        reason: 'ReconciliationSucceeded',
        message: 'Reconciliation finished in 94ms, next run in 30s',
        lastTimestamp: '2026-01-02T03:00:00Z',
      }),
    )!;
    expect(await processFluxEvent(heartbeat, deps)).toEqual({ outcome: 'ignored', why: 'heartbeat' });
    const change = { ...heartbeat, reason: 'Progressing', message: 'Gateway/ns/gw configured', timestamp: '2026-01-02T03:05:00Z' };
    const drift = await processFluxEvent(change, deps);
    expect(drift).toMatchObject({
      outcome: 'drift',
      signal: { source: 'flux-watch', resources: [{ kind: 'Gateway', group: 'networking.istio.io', state: 'Corrected' }] },
    });
    expect(await processFluxEvent(change, deps)).toEqual({ outcome: 'duplicate' });
    expect(signals).toHaveLength(1);
  });
});

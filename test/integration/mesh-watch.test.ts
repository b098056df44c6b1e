import { afterEach, describe, expect, it } from 'vitest';
import { MESH_CATALOG } from '../../src/classify/catalog.ts';
import { createLogger } from '../../src/log.ts';
import type { Signal } from '../../src/model/signal.ts';
import type { MeshWatchMetrics } from '../../src/sources/mesh/cluster.ts';
import { DEFAULT_MESH_WATCH_SETTINGS, type MeshWatchSettings } from '../../src/sources/mesh/settings.ts';
import { startMeshWatch, type MeshWatch } from '../../src/sources/mesh/watch.ts';
import type { FakeKubeApi } from '../fakes/kube-api.ts';
import { fakeKubeApis, recordingIngest } from '../support/kube.ts';
import {
  AUTHORIZATION_POLICIES,
  entry,
  gitopsEntry,
  HEADER_SECRET,
  HOSTS_ONLY,
  HTTP_ONLY,
  HTTP_ROUTES,
  handMadeAuthorizationPolicy,
  JWT,
  type Owner,
  rejectedHttpRoute,
  reviewsHttp,
  VIRTUAL_SERVICES,
  virtualService,
} from '../support/mesh.ts';
import { waitFor } from '../support/redis.ts';

/**
 * The mesh watch (issue #16) against the fake Kubernetes API: what each write by Argo CD, Flux and
 * kubectl (their managedFields as the apiserver writes them) becomes as signals.
 */

const apis = fakeKubeApis();
const watches: MeshWatch[] = [];
afterEach(async () => {
  await Promise.all(watches.splice(0).map((w) => w.stop()));
  await apis.closeAll();
});

const T0 = Date.parse('2026-12-04T13:00:00Z');
const EDIT = Date.parse('2026-12-04T14:03:00Z');
const ARGO: Owner = { tool: 'argocd', app: 'bookinfo-mesh' };
const FLUX: Owner = { tool: 'flux', kustomization: 'bookinfo', namespace: 'flux-system' };

async function watch(
  api: FakeKubeApi,
  settings: Partial<MeshWatchSettings> = {},
  metrics: MeshWatchMetrics = {},
): Promise<{ signals: Signal[]; w: MeshWatch }> {
  const { ingest, signals } = recordingIngest();
  const w = startMeshWatch({
    clusters: [{ name: 'prod-eu-1', access: { kind: 'in-cluster' } }],
    kubeConfig: () => api.kubeConfig(),
    catalog: MESH_CATALOG,
    settings: { ...DEFAULT_MESH_WATCH_SETTINGS, ...settings },
    ingest,
    metrics,
    log: createLogger('silent'),
    // Discovery and resync timers shortened; the informers' own timers are the real ones.
    rediscoverMs: 60_000,
  });
  watches.push(w);
  await w.discovered();
  await waitFor(() => api.openWatches(VIRTUAL_SERVICES) > 0, 10_000, 'the VirtualService watch');
  return { signals, w };
}

const partials = (signals: Signal[]): Signal[] => signals.filter((s) => s.completeness === 'partial');
const everything = (signals: Signal[]): string => JSON.stringify(signals);

describe('a kubectl edit of a GitOps-managed VirtualService', () => {
  it('under Argo CD: one Modified signal at once, owner the Application, with the path, before/after and kubectl-edit at its time', async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals, w } = await watch(api);
    api.apply(
      VIRTUAL_SERVICES,
      virtualService({
        owner: ARGO,
        http: reviewsHttp([50, 50]),
        managers: [gitopsEntry(ARGO, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
      }),
    );
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    await w.idle();
    const s = partials(signals)[0];
    expect(s).toMatchObject({ source: 'mesh-watch', cluster: 'prod-eu-1', owner: { kind: 'Application', namespace: 'argocd', name: 'bookinfo-mesh' } });
    const r = s?.resources[0];
    expect(r).toMatchObject({ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews', state: 'Modified' });
    expect(r?.changes?.changes).toEqual([
      { path: 'spec.http[0].route[0].weight', before: '90', after: '50' },
      { path: 'spec.http[0].route[1].weight', before: '10', after: '50' },
    ]);
    expect(r?.attribution).toEqual([
      {
        kind: 'tool',
        who: 'kubectl-edit',
        operation: 'Update',
        at: EDIT,
        source: 'managedFields',
        paths: ['spec.http[0].route[0].weight', 'spec.http[0].route[1].weight'],
      },
    ]);
    expect(r?.detail).toContain('kubectl-edit');
    expect(r?.detail).toContain('2026-12-04T14:03:00Z');
    // Argo CD syncs it back (its manager owns spec.http again): the watch says Corrected, with the evidence.
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, EDIT + 120_000)] }));
    await waitFor(() => partials(signals).length === 2, 10_000, 'the revert signal');
    const back = partials(signals)[1]?.resources[0];
    expect(back?.state).toBe('Corrected');
    expect(back?.detail).toContain('argocd-controller');
    expect(back?.attribution?.[0]?.who).toBe('kubectl-edit');
    expect(everything(signals)).not.toContain(HEADER_SECRET);
    expect(everything(signals)).not.toContain(JWT.slice(0, 30));
  });

  it("under Flux: Modified at once, owner the Kustomization; Flux's apply (kubectl managers stripped) reverts it: Corrected keeps who and what", async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: FLUX, http: reviewsHttp([90, 10]), managers: [gitopsEntry(FLUX, T0)] }));
    const { signals } = await watch(api);
    api.apply(
      VIRTUAL_SERVICES,
      virtualService({
        owner: FLUX,
        http: reviewsHttp([50, 50]),
        managers: [gitopsEntry(FLUX, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
      }),
    );
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    expect(partials(signals)[0]?.owner).toEqual({ kind: 'Kustomization', namespace: 'flux-system', name: 'bookinfo' });
    // kustomize-controller applies: kubectl-edit's entry is gone, the weights are back.
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: FLUX, http: reviewsHttp([90, 10]), managers: [gitopsEntry(FLUX, EDIT + 60_000)] }));
    await waitFor(() => partials(signals).length === 2, 10_000, 'the revert signal');
    const corrected = partials(signals)[1]?.resources[0];
    expect(corrected?.state).toBe('Corrected');
    expect(corrected?.changes?.changes[0]).toEqual({ path: 'spec.http[0].route[0].weight', before: '90', after: '50' });
    expect(corrected?.attribution?.[0]).toMatchObject({ who: 'kubectl-edit', at: EDIT });
  });

  it('a changed header credential is listed as masked, never its value', async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals } = await watch(api);
    api.apply(
      VIRTUAL_SERVICES,
      virtualService({
        owner: ARGO,
        http: reviewsHttp([90, 10], {}, 'hdr-N3w-secret-77aa'),
        managers: [gitopsEntry(ARGO, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
      }),
    );
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    const changes = partials(signals)[0]?.resources[0]?.changes?.changes;
    expect(changes).toEqual([{ path: 'spec.http[0].headers.request.set.x-api-key', masked: true }]);
    expect(everything(signals)).not.toContain('hdr-N3w-secret-77aa');
    expect(everything(signals)).not.toContain(HEADER_SECRET);
  });
});

describe('what only the watch can see', () => {
  it('a hand-added field on an Argo CD object: Shadow in the owner snapshot (covers Shadow, NotInEffect), resolved when it goes', async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals } = await watch(api);
    api.apply(
      VIRTUAL_SERVICES,
      virtualService({
        owner: ARGO,
        http: reviewsHttp([90, 10], { timeout: '1s' }),
        managers: [gitopsEntry(ARGO, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
      }),
    );
    await waitFor(() => signals.some((s) => s.resources.some((r) => r.state === 'Shadow')), 10_000, 'the shadow snapshot');
    const snap = signals.find((s) => s.resources.some((r) => r.state === 'Shadow'));
    expect(snap).toMatchObject({
      completeness: 'snapshot',
      covers: { states: ['Shadow', 'NotInEffect'] },
      owner: { kind: 'Application', name: 'bookinfo-mesh' },
    });
    expect(partials(signals)).toHaveLength(0);
    const r = snap?.resources[0];
    expect(r?.changes?.changes).toEqual([{ path: 'spec.http[0].timeout', after: '"1s"' }]);
    expect(r?.attribution?.[0]).toMatchObject({ who: 'kubectl-edit', at: EDIT });
    // Removed by hand again: an empty snapshot resolves it.
    const before = signals.length;
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, EDIT + 60_000)] }));
    await waitFor(() => signals.length > before && signals.at(-1)?.resources.length === 0, 10_000, 'the empty snapshot');
    expect(signals.at(-1)).toMatchObject({ completeness: 'snapshot', covers: { states: ['Shadow', 'NotInEffect'] } });
  });

  it('a hand-made AuthorizationPolicy: Unmanaged, tool meshdrift (its namespace as owner); its Bearer JWT never appears', async () => {
    const api = await apis.start(VIRTUAL_SERVICES, AUTHORIZATION_POLICIES);
    const { signals } = await watch(api);
    api.apply(AUTHORIZATION_POLICIES, handMadeAuthorizationPolicy(EDIT));
    await waitFor(() => signals.some((s) => s.resources.some((r) => r.state === 'Unmanaged')), 10_000, 'the unmanaged snapshot');
    const snap = signals.find((s) => s.resources.some((r) => r.state === 'Unmanaged'));
    expect(snap).toMatchObject({ owner: { kind: 'Namespace', namespace: '', name: 'bookinfo' }, covers: { states: ['Unmanaged', 'NotInEffect'] } });
    expect(snap?.resources[0]).toMatchObject({ group: 'security.istio.io', kind: 'AuthorizationPolicy', name: 'allow-debug' });
    expect(snap?.resources[0]?.attribution?.[0]).toMatchObject({ kind: 'tool', who: 'kubectl-client-side-apply' });
    expect(everything(signals)).not.toContain(JWT.slice(0, 30));
    expect(everything(signals)).not.toContain(HEADER_SECRET);
  });

  it('MESHDRIFT_MESH_UNMANAGED_IGNORE patterns leave matching objects out', async () => {
    const api = await apis.start(VIRTUAL_SERVICES, AUTHORIZATION_POLICIES);
    const { matcherOf } = await import('../../src/sources/mesh/settings.ts');
    const { signals } = await watch(api, { unmanaged: { report: true, ignore: [matcherOf('bookinfo/Authorization*/*')] } });
    api.apply(AUTHORIZATION_POLICIES, handMadeAuthorizationPolicy(EDIT));
    const other = handMadeAuthorizationPolicy(EDIT);
    api.apply(AUTHORIZATION_POLICIES, { ...other, metadata: { ...other.metadata, namespace: 'payments', uid: 'uid-ap-payments' } });
    await waitFor(() => signals.some((s) => s.owner.name === 'payments' && s.resources.length === 1), 10_000, 'the unmanaged policy in payments');
    expect(signals.filter((s) => s.owner.name === 'bookinfo' && s.resources.length > 0)).toHaveLength(0);
  });

  it('an HTTPRoute its Gateway did not accept: NotInEffect on its Argo CD owner', async () => {
    const api = await apis.start(VIRTUAL_SERVICES, HTTP_ROUTES);
    api.apply(HTTP_ROUTES, rejectedHttpRoute(ARGO, T0));
    const { signals } = await watch(api);
    await waitFor(() => signals.some((s) => s.resources.some((r) => r.state === 'NotInEffect')), 10_000, 'the not-in-effect snapshot');
    const r = signals.find((s) => s.resources.some((x) => x.state === 'NotInEffect'))?.resources[0];
    expect(r).toMatchObject({ kind: 'HTTPRoute', name: 'reviews-route' });
    expect(r?.detail).toContain('NotAllowedByListeners');
  });

  it('past MESHDRIFT_MESH_MAX_OBJECTS further objects are not checked', async () => {
    const api = await apis.start(VIRTUAL_SERVICES, AUTHORIZATION_POLICIES);
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const capped: number[] = [];
    const { signals, w } = await watch(api, { maxObjects: 1 }, { capped: (_cluster, n) => capped.push(n) });
    api.apply(AUTHORIZATION_POLICIES, handMadeAuthorizationPolicy(EDIT));
    await waitFor(() => capped.length > 0, 10_000, 'the cap metric');
    await w.idle();
    expect(signals.filter((s) => s.resources.some((r) => r.state === 'Unmanaged'))).toHaveLength(0);
  });
});

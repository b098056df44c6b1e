import { afterEach, describe, expect, it } from 'vitest';
import { MESH_CATALOG } from '../../src/classify/catalog.ts';
import { createLogger } from '../../src/log.ts';
import type { OwnerRef, Signal } from '../../src/model/signal.ts';
import { readFileSync } from 'node:fs';
import { createAppIndex, type AppIndex } from '../../src/sources/argocd/app-index.ts';
import { createHelmIgnoreIndex, type HelmIgnoreIndex } from '../../src/sources/flux/drift-ignore.ts';
import { slim, slimApplicationSchema, slimHelmReleaseSchema } from '../../src/sources/kube/slim.ts';
import { JQ_NOTE } from '../../src/sources/mesh/signals.ts';
import { DEFAULT_MESH_WATCH_SETTINGS } from '../../src/sources/mesh/settings.ts';
import { startMeshWatch, type MeshWatch } from '../../src/sources/mesh/watch.ts';
import type { FakeKubeApi } from '../fakes/kube-api.ts';
import { fakeKubeApis, recordingIngest } from '../support/kube.ts';
import { entry, gitopsEntry, HOSTS_ONLY, HTTP_ONLY, type Owner, reviewsHttp, SPEC_FIELDS, VIRTUAL_SERVICES, virtualService } from '../support/mesh.ts';
import { waitFor } from '../support/redis.ts';

/**
 * The mesh watch with the Applications the Argo CD watch holds (issue #16): the app's project and
 * labels on the watch's findings, its ignoreDifferences honoured by the watch's diff, and one Argo
 * CD deploying into another cluster filed under Argo CD's cluster.
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

/** The Application as the Argo CD watch slims it (kube/slim.ts), from the shape Argo CD writes. */
function app(opts: { destination?: Record<string, string>; ignoreDifferences?: unknown[] } = {}) {
  const parsed = slim(slimApplicationSchema, {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'bookinfo-mesh', namespace: 'argocd', uid: 'uid-app', labels: { team: 'payments', tier: 'mesh' } },
    spec: {
      project: 'payments',
      destination: opts.destination ?? { server: 'https://kubernetes.default.svc', namespace: 'bookinfo' },
      source: { repoURL: 'https://github.com/example/mesh.git', path: 'bookinfo', targetRevision: 'main' },
      ...(opts.ignoreDifferences ? { ignoreDifferences: opts.ignoreDifferences } : {}),
    },
    status: { sync: { status: 'Synced', revision: '4f1c2e9a7b' }, health: { status: 'Healthy' } },
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.object;
}

async function watch(clusters: { name: string; api: FakeKubeApi }[], index: AppIndex, helm?: HelmIgnoreIndex): Promise<{ signals: Signal[]; w: MeshWatch }> {
  const { ingest, signals } = recordingIngest();
  const byName = new Map(clusters.map((c) => [c.name, c.api]));
  const w = startMeshWatch({
    clusters: clusters.map((c) => ({ name: c.name, access: { kind: 'in-cluster' } })),
    kubeConfig: (c) => (byName.get(c.name) as FakeKubeApi).kubeConfig(),
    catalog: MESH_CATALOG,
    settings: DEFAULT_MESH_WATCH_SETTINGS,
    ingest,
    apps: (seenIn, owner) => index.lookup(seenIn, owner),
    ...(helm ? { helmIgnore: (cluster: string, owner: OwnerRef) => helm.lookup(cluster, owner) } : {}),
    log: createLogger('silent'),
    rediscoverMs: 60_000,
  });
  watches.push(w);
  await w.discovered();
  for (const c of clusters) await waitFor(() => c.api.openWatches(VIRTUAL_SERVICES) > 0, 10_000, 'the VirtualService watch');
  return { signals, w };
}

const partials = (signals: Signal[]): Signal[] => signals.filter((s) => s.completeness === 'partial');
const kubectlEdit = (weights: [number, number]) =>
  virtualService({ owner: ARGO, http: reviewsHttp(weights), managers: [gitopsEntry(ARGO, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)] });

describe("the owning Application's project and labels", () => {
  it('a watch-seen edit carries the project and app labels at once (no Argo CD signal needed), and the destination', async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    const index = createAppIndex();
    index.put('prod-eu-1', app());
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals } = await watch([{ name: 'prod-eu-1', api }], index);
    api.apply(VIRTUAL_SERVICES, kubectlEdit([50, 50]));
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    expect(partials(signals)[0]).toMatchObject({
      cluster: 'prod-eu-1',
      project: 'payments',
      labels: { team: 'payments', tier: 'mesh' },
      destination: { name: 'https://kubernetes.default.svc', namespace: 'bookinfo' },
    });
  });

  it('an app the Argo CD watch does not hold: no project (as before), the edit is still reported', async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals } = await watch([{ name: 'prod-eu-1', api }], createAppIndex());
    api.apply(VIRTUAL_SERVICES, kubectlEdit([50, 50]));
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    expect(partials(signals)[0]).toMatchObject({ cluster: 'prod-eu-1', project: '' });
  });
});

describe("the app's ignoreDifferences in the watch's diff", () => {
  it('jsonPointers: an edit of an ignored path only is no finding; an edit beside it lists only the other path', async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    const index = createAppIndex();
    const rule = { group: 'networking.istio.io', kind: 'VirtualService', name: 'reviews', jsonPointers: ['/spec/http/0/route/0/weight'] };
    index.put('prod-eu-1', app({ ignoreDifferences: [rule] }));
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals, w } = await watch([{ name: 'prod-eu-1', api }], index);
    api.apply(VIRTUAL_SERVICES, kubectlEdit([50, 10]));
    await new Promise((r) => setTimeout(r, 1_000));
    await w.idle();
    expect(partials(signals)).toEqual([]);
    api.apply(VIRTUAL_SERVICES, kubectlEdit([50, 50]));
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    expect(partials(signals)[0]?.resources[0]?.changes?.changes).toEqual([{ path: 'spec.http[0].route[1].weight', before: '10', after: '50' }]);
  });

  it('a rule for another kind or name leaves the edit as it was', async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    const index = createAppIndex();
    index.put(
      'prod-eu-1',
      app({ ignoreDifferences: [{ group: 'networking.istio.io', kind: 'VirtualService', name: 'ratings', jsonPointers: ['/spec/http'] }] }),
    );
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals } = await watch([{ name: 'prod-eu-1', api }], index);
    api.apply(VIRTUAL_SERVICES, kubectlEdit([50, 50]));
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    expect(partials(signals)[0]?.resources[0]?.changes?.changes).toHaveLength(2);
  });

  it('managedFieldsManagers: a write by a listed manager is no finding and it is never blamed; kubectl after it is', async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    const index = createAppIndex();
    index.put('prod-eu-1', app({ ignoreDifferences: [{ group: '*', kind: '*', managedFieldsManagers: ['flagger'] }] }));
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals, w } = await watch([{ name: 'prod-eu-1', api }], index);
    const flagger = entry('flagger', 'Update', EDIT - 60_000, HTTP_ONLY);
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([80, 20]), managers: [gitopsEntry(ARGO, T0, HOSTS_ONLY), flagger] }));
    await new Promise((r) => setTimeout(r, 1_000));
    await w.idle();
    expect(partials(signals)).toEqual([]);
    expect(JSON.stringify(signals)).not.toContain('flagger');
    api.apply(
      VIRTUAL_SERVICES,
      virtualService({
        owner: ARGO,
        http: reviewsHttp([0, 100]),
        managers: [gitopsEntry(ARGO, T0, HOSTS_ONLY), flagger, entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
      }),
    );
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    const r = partials(signals)[0]?.resources[0];
    // The baseline is flagger's 80/20, not Git's 90/10.
    expect(r?.changes?.changes[0]).toEqual({ path: 'spec.http[0].route[0].weight', before: '80', after: '0' });
    expect(r?.attribution?.map((a) => a.who)).toEqual(['kubectl-edit']);
  });

  it('jqPathExpressions: the edit is reported, flagged as possibly ignored by Argo CD', async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    const index = createAppIndex();
    index.put(
      'prod-eu-1',
      app({ ignoreDifferences: [{ group: 'networking.istio.io', kind: 'VirtualService', jqPathExpressions: ['.spec.http[].route[].weight'] }] }),
    );
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals } = await watch([{ name: 'prod-eu-1', api }], index);
    api.apply(VIRTUAL_SERVICES, kubectlEdit([50, 50]));
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    const r = partials(signals)[0]?.resources[0];
    expect(r?.changes?.changes).toHaveLength(2);
    expect(r?.detail).toContain('kubectl-edit');
    expect(r?.detail).toContain('jq expression');
    expect(JQ_NOTE).toContain('does not evaluate');
  });
});

describe('one Argo CD deploying into another cluster', () => {
  it('an edit in the destination cluster is filed under the cluster whose Argo CD holds the app (destination name = meshdrift cluster)', async () => {
    const hub = await apis.start(VIRTUAL_SERVICES);
    const spoke = await apis.start(VIRTUAL_SERVICES);
    const index = createAppIndex();
    index.put('hub', app({ destination: { name: 'spoke', namespace: 'bookinfo' } }));
    spoke.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals } = await watch(
      [
        { name: 'hub', api: hub },
        { name: 'spoke', api: spoke },
      ],
      index,
    );
    spoke.apply(VIRTUAL_SERVICES, kubectlEdit([50, 50]));
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    expect(partials(signals)[0]).toMatchObject({ cluster: 'hub', project: 'payments', destination: { name: 'spoke' } });
  });

  it('MESHDRIFT_ARGOCD_DESTINATIONS maps a server URL to the meshdrift cluster; without the mapping the finding stays in the cluster seen', async () => {
    const hub = await apis.start(VIRTUAL_SERVICES);
    const spoke = await apis.start(VIRTUAL_SERVICES);
    const server = 'https://10.0.0.7:6443';
    const mapped = createAppIndex({ destinations: new Map([[server, 'spoke']]) });
    const unmapped = createAppIndex();
    for (const i of [mapped, unmapped]) i.put('hub', app({ destination: { server, namespace: 'bookinfo' } }));
    expect(mapped.lookup('spoke', { kind: 'Application', namespace: 'argocd', name: 'bookinfo-mesh' })?.cluster).toBe('hub');
    expect(unmapped.lookup('spoke', { kind: 'Application', namespace: 'argocd', name: 'bookinfo-mesh' })).toBeUndefined();
    spoke.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    const { signals } = await watch(
      [
        { name: 'hub', api: hub },
        { name: 'spoke', api: spoke },
      ],
      mapped,
    );
    spoke.apply(VIRTUAL_SERVICES, kubectlEdit([50, 50]));
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    expect(partials(signals)[0]?.cluster).toBe('hub');
  });
});

/** The reviews VirtualService as helm-controller installs it for the HelmRelease flux-system/bookinfo-mesh. */
function helmVs(weights: [number, number], managers: Parameters<typeof virtualService>[0]['managers'], annotations: Record<string, string> = {}) {
  const vs = virtualService({ http: reviewsHttp(weights), managers });
  const labels: Record<string, string> = { app: 'reviews', 'helm.toolkit.fluxcd.io/name': 'bookinfo-mesh', 'helm.toolkit.fluxcd.io/namespace': 'flux-system' };
  return { ...vs, metadata: { ...vs.metadata, labels, annotations } };
}

/** The fixture HelmRelease (driftDetection warn, one ignore rule for Deployments) with `ignore` replaced. */
function helmRelease(ignore: unknown[]) {
  const raw = JSON.parse(readFileSync(new URL('../../../shared/fixtures/flux/synthetic-helmrelease-v2-drifted-warn-mesh.json', import.meta.url), 'utf8')) as {
    metadata: { name: string; namespace: string };
    spec: { driftDetection: { ignore: unknown[] } };
  };
  raw.metadata = { ...raw.metadata, name: 'bookinfo-mesh', namespace: 'flux-system' };
  raw.spec.driftDetection.ignore = [...raw.spec.driftDetection.ignore, ...ignore];
  const parsed = slim(slimHelmReleaseSchema, raw);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.object;
}

const HELM_T0 = [entry('helm-controller', 'Update', T0, SPEC_FIELDS)];
const helmEdit = (weights: [number, number], annotations: Record<string, string> = {}) =>
  helmVs(weights, [entry('helm-controller', 'Update', T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)], annotations);

describe('Flux: what its controllers are told not to enforce', () => {
  it("a HelmRelease's driftDetection.ignore paths (target kind VirtualService) are left out of its objects' diff; the fixture's Deployment rule and a labelSelector rule are not applied", async () => {
    const api = await apis.start(VIRTUAL_SERVICES);
    const helm = createHelmIgnoreIndex();
    helm.put(
      'prod-eu-1',
      helmRelease([
        { paths: ['/spec/http/0/route/0/weight'], target: { group: 'networking\\.istio\\.io', kind: 'VirtualService', name: 'rev.*' } },
        { paths: ['/spec/http/0/route/1/weight'], target: { kind: 'VirtualService', labelSelector: 'app=reviews' } },
      ]),
    );
    api.apply(VIRTUAL_SERVICES, helmVs([90, 10], HELM_T0));
    const { signals } = await watch([{ name: 'prod-eu-1', api }], createAppIndex(), helm);
    api.apply(VIRTUAL_SERVICES, helmEdit([50, 50]));
    await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
    expect(partials(signals)[0]?.owner).toEqual({ kind: 'HelmRelease', namespace: 'flux-system', name: 'bookinfo-mesh' });
    expect(partials(signals)[0]?.resources[0]?.changes?.changes).toEqual([{ path: 'spec.http[0].route[1].weight', before: '10', after: '50' }]);
  });

  for (const [owner, annotations] of [
    ['Kustomization', { 'kustomize.toolkit.fluxcd.io/ssa': 'Ignore' }],
    ['Kustomization', { 'kustomize.toolkit.fluxcd.io/reconcile': 'disabled' }],
    ['HelmRelease', { 'helm.toolkit.fluxcd.io/driftDetection': 'disabled' }],
  ] as const) {
    it(`an object marked ${Object.entries(annotations)[0]?.join(': ')} (${owner}): an edit is no finding; the mark removed, edits are again`, async () => {
      const api = await apis.start(VIRTUAL_SERVICES);
      const flux: Owner = { tool: 'flux', kustomization: 'bookinfo', namespace: 'flux-system' };
      const before = (a: Record<string, string>) => {
        if (owner === 'HelmRelease') return helmVs([90, 10], HELM_T0, a);
        const vs = virtualService({ owner: flux, http: reviewsHttp([90, 10]), managers: [gitopsEntry(flux, T0)] });
        vs.metadata.annotations = a;
        return vs;
      };
      const edited = (weights: [number, number], a: Record<string, string>) => {
        if (owner === 'HelmRelease') return helmEdit(weights, a);
        const vs = virtualService({
          owner: flux,
          http: reviewsHttp(weights),
          managers: [gitopsEntry(flux, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
        });
        vs.metadata.annotations = a;
        return vs;
      };
      api.apply(VIRTUAL_SERVICES, before(annotations));
      const { signals, w } = await watch([{ name: 'prod-eu-1', api }], createAppIndex());
      api.apply(VIRTUAL_SERVICES, edited([50, 50], annotations));
      await new Promise((r) => setTimeout(r, 1_000));
      await w.idle();
      expect(partials(signals)).toEqual([]);
      expect(signals.flatMap((s) => s.resources).filter((r) => r.state === 'Shadow')).toEqual([]);
      // The mark goes (the object is enforced again): the next edit is compared with what was live.
      api.apply(VIRTUAL_SERVICES, edited([50, 50], {}));
      api.apply(VIRTUAL_SERVICES, edited([0, 100], {}));
      await waitFor(() => partials(signals).length === 1, 10_000, 'the edit signal');
      expect(partials(signals)[0]?.resources[0]?.changes?.changes[0]).toEqual({ path: 'spec.http[0].route[0].weight', before: '50', after: '0' });
    });
  }
});

import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createCatalog } from '../../src/classify/catalog.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { applicationSchema, applicationToSignal } from '../../src/sources/argocd/application.ts';
import { sleep } from '../../src/sources/kube/backoff.ts';
import type { ClusterConfig, WatchKind } from '../../src/config/clusters.ts';
import { startKubeSources, type KubeSources, type KubeSourcesOptions } from '../../src/sources/kube/sources.ts';
import type { RestartInfo } from '../../src/sources/kube/watch.ts';
import { EVENTS, type FakeKubeApi, type FakeResource } from '../fakes/kube-api.ts';
import { meshApp } from '../support/argocd.ts';
import { readFixture } from '../support/fixtures.ts';
import { waitFor } from '../support/redis.ts';
import { memoryRevisions } from '../support/flux.ts';
import { fakeKubeApis, recordingIngest } from '../support/kube.ts';

const APPS: FakeResource = { group: 'argoproj.io', version: 'v1alpha1', plural: 'applications', kind: 'Application' };
const KS: FakeResource = { group: 'kustomize.toolkit.fluxcd.io', version: 'v1', plural: 'kustomizations', kind: 'Kustomization' };
const HRS: FakeResource = { group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases', kind: 'HelmRelease' };

type Json = Record<string, unknown>;
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}
/** The parts of a Flux object (fixture) the tests change. */
interface FluxObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid: string };
  status: { conditions: Condition[]; lastAppliedRevision: string; [key: string]: unknown };
}
interface FluxBody {
  reason: string;
  message: string;
  severity: string;
}

function capturingLog(): { log: Logger; lines: Json[] } {
  const lines: Json[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Json);
      cb();
    },
  });
  return { log: createLogger('warn', stream), lines };
}

const apis = fakeKubeApis();
const sources: KubeSources[] = [];
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  await apis.closeAll();
});
const fake = (...served: FakeResource[]): Promise<FakeKubeApi> => apis.start(...served);

const cluster = (name: string): ClusterConfig => ({ name, access: { kind: 'in-cluster' } });

function start(apis: Record<string, FakeKubeApi>, kinds: WatchKind[], extra: Partial<KubeSourcesOptions> = {}) {
  const rec = recordingIngest();
  const restarts: RestartInfo[] = [];
  const { log, lines } = capturingLog();
  const s = startKubeSources({
    clusters: Object.keys(apis).map(cluster),
    kinds,
    ingest: rec.ingest,
    fluxRevisions: memoryRevisions(),
    catalog: createCatalog(),
    log,
    kubeConfig: (c) => {
      const api = apis[c.name];
      if (!api) throw new Error(`no fake for ${c.name}`);
      return api.kubeConfig();
    },
    onRestart: (info) => restarts.push(info),
    // Real waits: backoff delays made short (the schedule itself is unit-tested), long ones (the
    // recheck of an unserved kind) kept, cancelled by stop().
    delay: (ms, signal) => sleep(ms >= 10_000 ? ms : Math.min(ms, 30), signal),
    backoff: { baseMs: 10, maxMs: 40 },
    listTimeoutMs: 2_000,
    ...extra,
  });
  sources.push(s);
  return { sources: s, signals: rec.signals, restarts, logs: lines };
}

const appSignal = (app: Json) => applicationToSignal(applicationSchema.parse(app), { cluster: 'east', source: 'argocd-watch', now: 0 });
const listsOf = (api: FakeKubeApi, plural: string) => api.requests.filter((r) => !r.watch && r.path.endsWith(`/${plural}`)).length;

describe('Kubernetes watches against a fake API server', () => {
  it('turns an Application ADDED, MODIFIED and DELETED into snapshots', async () => {
    const api = await fake(APPS);
    api.apply(APPS, meshApp('OutOfSync'));
    const { signals } = start({ east: api }, ['applications']);

    await waitFor(() => signals.length === 1, 5_000, 'the ADDED snapshot');
    const added = signals[0]!;
    const expected = appSignal(meshApp('OutOfSync'));
    expect(added).toMatchObject({ source: 'argocd-watch', cluster: 'east', completeness: 'snapshot', owner: expected.owner, sync: 'OutOfSync' });
    // The cache keeps only what says something: the drifted resources (InSync ones are left out).
    expect(added.resources).toEqual(expected.resources.filter((r) => r.state !== 'InSync'));
    expect(added.resources.length).toBeGreaterThan(0);

    api.apply(APPS, meshApp('Synced', '2026-11-24T10:30:00Z'));
    await waitFor(() => signals.length === 2, 5_000, 'the MODIFIED snapshot');
    expect(signals[1]).toMatchObject({ completeness: 'snapshot', sync: 'Synced' });
    expect(signals[1]!.resources).toEqual([]);

    const app = meshApp('Synced') as { metadata: { namespace: string; name: string } };
    api.remove(APPS, app.metadata.namespace, app.metadata.name);
    await waitFor(() => signals.length === 3, 5_000, 'the DELETED snapshot');
    expect(signals[2]).toMatchObject({ completeness: 'snapshot', resources: [], owner: expected.owner });
    expect(signals[2]!.observedAt).toBeGreaterThanOrEqual(signals[1]!.observedAt);
  });

  it('relists after 410 Gone and sees what changed meanwhile', async () => {
    const api = await fake(APPS);
    api.apply(APPS, meshApp('OutOfSync'));
    const { signals, sources: s, restarts } = start({ east: api }, ['applications']);
    await waitFor(() => signals.length === 1 && api.openWatches(APPS) === 1, 5_000, 'first list and watch');
    expect(listsOf(api, 'applications')).toBe(1);

    api.expireWatches();
    api.apply(APPS, meshApp('Synced', '2026-11-24T10:30:00Z'));
    await waitFor(() => signals.some((x) => x.sync === 'Synced'), 5_000, 'the change after the 410');
    await waitFor(() => listsOf(api, 'applications') === 2, 5_000, 'a relist');
    expect(restarts).toEqual([]); // a 410 is not a failure
    expect(s.health().watches[0]).toMatchObject({ state: 'up', lists: 2 });
  });

  it('restarts a dropped watch, resumes from its resourceVersion and counts the restart', async () => {
    const api = await fake(APPS);
    api.apply(APPS, meshApp('OutOfSync'));
    const { signals, sources: s, restarts } = start({ east: api }, ['applications']);
    await waitFor(() => signals.length === 1 && api.openWatches(APPS) === 1, 5_000, 'first watch');

    api.dropWatches();
    await waitFor(() => restarts.length === 1 && api.openWatches(APPS) === 1, 5_000, 'the restart');
    api.apply(APPS, meshApp('Synced', '2026-11-24T10:30:00Z'));
    await waitFor(() => signals.length === 2, 5_000, 'the change after the restart');
    expect(restarts[0]).toMatchObject({ cluster: 'east', kind: 'applications', namespace: 'all' });
    expect(s.health().watches[0]).toMatchObject({ state: 'up', restarts: 1 });
    // Resumed, not relisted: nothing was lost, nothing replayed.
    expect(listsOf(api, 'applications')).toBe(1);
    const resumed = api.requests.filter((r) => r.watch && r.path.endsWith('/applications'));
    expect(resumed.length).toBe(2);
    expect(resumed[1]!.query.resourceVersion).toBe(resumed[0]!.query.resourceVersion);
  });

  it('skips a kind whose CRD the cluster does not serve, with one warning and no retry loop', async () => {
    const api = await fake(); // no HelmRelease CRD
    const waits: number[] = [];
    const {
      sources: s,
      logs,
      restarts,
    } = start({ east: api }, ['helmreleases'], {
      unservedRecheckMs: 60_000,
      delay: (ms, signal) => {
        waits.push(ms);
        return sleep(ms >= 10_000 ? ms : Math.min(ms, 30), signal);
      },
    });
    await waitFor(() => s.health().watches[0]?.state === 'skipped', 5_000, 'skipped');
    // Parked in the recheck wait (a condition, not a fixed 300 ms): no list before it ends.
    await waitFor(() => waits.includes(60_000), 5_000, 'the recheck wait');
    expect(listsOf(api, 'helmreleases')).toBe(1);
    expect(logs.filter((l) => /does not serve/.test(String(l.msg)))).toHaveLength(1);
    expect(restarts).toEqual([]);
    expect(s.health()).toMatchObject({ ready: true, clusters: [{ name: 'east', state: 'up' }] });
  });

  it('keeps delivering from one cluster while another is unreachable, and reports the dead one', async () => {
    const east = await fake(APPS);
    const west = await fake(APPS);
    await west.goUnreachable();
    east.apply(APPS, meshApp('OutOfSync'));
    const { signals, sources: s, restarts } = start({ east, west }, ['applications'], { downAfterMs: 100 });

    await waitFor(() => signals.some((x) => x.cluster === 'east'), 5_000, 'east delivers');
    await waitFor(() => restarts.filter((r) => r.cluster === 'west').length >= 2, 5_000, 'west retries');
    await sleep(150);
    const health = s.health();
    expect(health.clusters).toEqual([{ name: 'east', state: 'up' }, expect.objectContaining({ name: 'west', state: 'down' })]);
    expect(health.ready).toBe(false);

    // While west is down, east still delivers changes.
    east.apply(APPS, meshApp('Synced', '2026-11-24T10:30:00Z'));
    await waitFor(() => signals.some((x) => x.cluster === 'east' && x.sync === 'Synced'), 5_000, 'east change');

    // West down past downAfterMs: its own "cluster unreachable" snapshot, once.
    await waitFor(() => signals.some((x) => x.source === 'meshdrift' && x.cluster === 'west'), 5_000, 'west reported unreachable');
    const reports = () => signals.filter((x) => x.source === 'meshdrift' && x.cluster === 'west');
    expect(reports()[0]).toMatchObject({
      owner: { kind: 'Cluster', name: 'west' },
      completeness: 'snapshot',
      resources: [{ group: 'meshdrift.io', kind: 'Cluster', name: 'west', state: 'Unreachable' }],
    });
    expect(signals.filter((x) => x.source === 'meshdrift' && x.cluster === 'east')).toMatchObject([{ resources: [] }]);

    await west.comeBack();
    west.apply(APPS, meshApp('OutOfSync'));
    await waitFor(() => signals.some((x) => x.cluster === 'west' && x.source !== 'meshdrift'), 5_000, 'west recovers');
    await waitFor(() => s.health().ready, 5_000, 'ready again');
    await waitFor(() => reports().length === 2, 5_000, 'west reported reachable');
    expect(reports()[1]?.resources).toEqual([]);
  });

  it('reads every page of a paginated list', async () => {
    const api = await fake(APPS);
    for (let i = 0; i < 5; i++) {
      const app = meshApp('OutOfSync') as { metadata: { name: string } };
      app.metadata.name = `app-${i}`;
      api.apply(APPS, app);
    }
    const { signals } = start({ east: api }, ['applications'], { pageSize: 2 });
    await waitFor(() => signals.length === 5, 5_000, 'five apps');
    expect(new Set(signals.map((x) => x.owner.name)).size).toBe(5);
    expect(api.requests.filter((r) => r.query.continue !== undefined).length).toBe(2);
  });
});

// ── Flux ──────────────────────────────────────────────────────────────────────────────────────

/** The real Kustomization (fixture), served as v1. */
function kustomization(): FluxObject {
  const list = readFixture('flux/kustomizationlist-v1beta2-istio-inventory.json') as { items: FluxObject[] };
  const k = structuredClone(list.items[0]!);
  k.apiVersion = 'kustomize.toolkit.fluxcd.io/v1';
  return k;
}

/** A core Event as kustomize-controller's recorder writes it, around a real notification payload. */
function coreEvent(name: string, body: FluxBody, owner: FluxObject, revision: string | undefined, at: string): Json {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name,
      namespace: owner.metadata.namespace,
      ...(revision ? { annotations: { 'kustomize.toolkit.fluxcd.io/revision': revision } } : {}),
      managedFields: [{ manager: 'kustomize-controller' }],
    },
    involvedObject: { kind: owner.kind, namespace: owner.metadata.namespace, name: owner.metadata.name, uid: owner.metadata.uid, apiVersion: owner.apiVersion },
    reason: body.reason,
    message: body.message,
    type: body.severity === 'error' ? 'Warning' : 'Normal',
    source: { component: 'kustomize-controller' },
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
    reportingComponent: 'kustomize-controller',
    reportingInstance: 'kustomize-controller-7d9c',
  };
}

describe('Flux watches against a fake API server', () => {
  it('reads a change set at the applied revision from core Events as Corrected drift, grouped by the inventory', async () => {
    const api = await fake(KS);
    const k = kustomization();
    const revision = k.status.lastAppliedRevision;
    api.apply(KS, k);
    const heartbeat = readFixture('flux/event-kustomization-v1beta2-reconciliation-finished-commit-status.json') as FluxBody;
    api.apply(EVENTS, coreEvent('myservice.1', heartbeat, k, revision, '2023-03-15T07:40:00Z'));
    const outcomes: string[] = [];
    const { signals, sources: s } = start({ east: api }, ['kustomizations', 'events'], { onFluxEvent: (o) => outcomes.push(o) });

    // The Kustomization (Ready=True) is one InSync snapshot; the heartbeat is no signal.
    await waitFor(() => signals.length === 1, 5_000, 'the Kustomization snapshot');
    expect(signals[0]).toMatchObject({
      source: 'flux-watch',
      completeness: 'snapshot',
      resources: [{ kind: 'Kustomization', group: 'kustomize.toolkit.fluxcd.io', state: 'InSync' }],
    });

    const changeSet = {
      reason: 'Progressing',
      severity: 'info',
      message: 'VirtualService/myservice/myservice configured\nConfigMap/myservice/myservice-configmap configured',
    };
    api.apply(EVENTS, coreEvent('myservice.2', changeSet, k, revision, '2023-03-15T07:45:00Z'));
    await waitFor(() => signals.length === 2, 5_000, 'the drift');
    expect(signals[1]).toMatchObject({
      source: 'flux-watch',
      cluster: 'east',
      completeness: 'partial',
      revision,
      owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'myservice' },
      resources: [
        { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'myservice', name: 'myservice', state: 'Corrected' },
        { group: '', kind: 'ConfigMap', namespace: 'myservice', name: 'myservice-configmap', state: 'Corrected' },
      ],
    });

    // A change set at a new revision is a rollout: nothing to ingest.
    api.apply(
      EVENTS,
      coreEvent(
        'myservice.3',
        { ...changeSet, message: 'VirtualService/myservice/myservice configured' },
        k,
        'dev/0000000000000000000000000000000000000001',
        '2023-03-15T07:50:00Z',
      ),
    );
    // Once the watch has judged it (not after a fixed sleep): a rollout, and nothing more ingested.
    await waitFor(() => outcomes.includes('rollout'), 5_000, 'the rollout judged');
    await s.idle();
    expect(signals).toHaveLength(2);
  });

  it('turns Ready=False BuildFailed into ApplyFailed and resolves it when Ready=True', async () => {
    const api = await fake(KS);
    const k = kustomization();
    k.status.conditions = [
      {
        type: 'Ready',
        status: 'False',
        reason: 'BuildFailed',
        message: 'kustomize build failed: accumulating resources',
        lastTransitionTime: '2023-03-15T08:00:00Z',
      },
    ];
    api.apply(KS, k);
    const { signals } = start({ east: api }, ['kustomizations']);
    await waitFor(() => signals.length === 1, 5_000, 'ApplyFailed');
    expect(signals[0]!.resources).toEqual([
      {
        group: 'kustomize.toolkit.fluxcd.io',
        kind: 'Kustomization',
        namespace: 'flux-system',
        name: 'myservice',
        state: 'ApplyFailed',
        detail: 'BuildFailed: kustomize build failed: accumulating resources',
      },
    ]);
    // A status write that changes nothing we read sends nothing.
    api.apply(KS, { ...k, status: { ...k.status, lastHandledReconcileAt: 'later' } });
    k.status.conditions = [
      { type: 'Ready', status: 'True', reason: 'ReconciliationSucceeded', message: 'Applied revision: x', lastTransitionTime: '2023-03-15T08:05:00Z' },
    ];
    api.apply(KS, k);
    await waitFor(() => signals.length === 2, 5_000, 'resolve');
    expect(signals[1]).toMatchObject({ completeness: 'snapshot', resources: [{ state: 'InSync' }] });
  });

  it('turns a HelmRelease Drifted condition into drift findings and resolves them on Drifted=False', async () => {
    const api = await fake(HRS);
    const hr = readFixture('flux/synthetic-helmrelease-v2-drifted-warn-mesh.json') as FluxObject;
    api.apply(HRS, hr);
    const { signals } = start({ east: api }, ['helmreleases']);
    await waitFor(() => signals.length === 1, 5_000, 'drift');
    expect(signals[0]).toMatchObject({
      source: 'flux-watch',
      completeness: 'snapshot',
      owner: { kind: 'HelmRelease', namespace: 'bookinfo', name: 'bookinfo-mesh' },
    });
    expect(signals[0]!.resources.map((r) => [r.group, r.kind, r.name, r.state])).toEqual([
      ['networking.istio.io', 'VirtualService', 'reviews', 'Modified'],
      ['security.istio.io', 'AuthorizationPolicy', 'ratings-viewer', 'Missing'],
      // Gateway is ambiguous in the catalog; the release's inventory settles it.
      ['gateway.networking.k8s.io', 'Gateway', 'bookinfo-gateway', 'Modified'],
    ]);
    const drifted = hr.status.conditions.find((c) => c.type === 'Drifted')!;
    Object.assign(drifted, {
      status: 'False',
      reason: 'NoDriftDetected',
      message: 'No drift detected against the cluster state',
      lastTransitionTime: '2026-11-20T10:25:42Z',
    });
    api.apply(HRS, hr);
    await waitFor(() => signals.length === 2, 5_000, 'resolve');
    expect(signals[1]).toMatchObject({ completeness: 'snapshot', resources: [] });
  });
});

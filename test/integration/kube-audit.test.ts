import { afterEach, describe, expect, it } from 'vitest';
import { createCatalog } from '../../src/classify/catalog.ts';
import { createLogger } from '../../src/log.ts';
import type { Signal } from '../../src/model/signal.ts';
import { startAuditCycle, type AuditCycle, type AuditRunOutcome } from '../../src/sources/kube/audit-cycle.ts';
import { sleep } from '../../src/sources/kube/backoff.ts';
import { startLeaderGatedKubeSources, type LeaderGatedKubeSources } from '../../src/sources/kube/gated.ts';
import { APPLICATIONS } from '../../src/sources/kube/resources.ts';
import { startKubeSources, type KubeSources } from '../../src/sources/kube/sources.ts';
import type { Ingest } from '../../src/track/ingest.ts';
import type { FakeKubeApi } from '../fakes/kube-api.ts';
import { meshApp, SYNCED_AT } from '../support/argocd.ts';
import { waitFor } from '../support/redis.ts';
import { memoryRevisions } from '../support/flux.ts';
import { fakeKubeApis } from '../support/kube.ts';

const log = createLogger('silent');
const CLUSTER = { name: 'east', access: { kind: 'in-cluster' as const } };
const drifted = (s: Signal) => s.resources.filter((r) => r.state !== 'InSync').length;

/**
 * An in-memory stand-in for the tracker, enough to tell what changed: per owner, the drifted
 * resources last ingested; `tracked` when a signal changes them (opens or resolves), else `unchanged`.
 */
function trackingIngest() {
  const state = new Map<string, string>();
  const signals: Signal[] = [];
  const key = (s: Signal) => [s.cluster, s.owner.kind, s.owner.namespace, s.owner.name].join('/');
  const ingest: Ingest = async (s) => {
    signals.push(s);
    const digest = JSON.stringify(s.resources.filter((r) => r.state !== 'InSync').map((r) => [r.group, r.kind, r.namespace, r.name, r.state]));
    const before = state.get(key(s)) ?? '[]';
    state.set(key(s), digest);
    return { outcome: before === digest ? 'unchanged' : 'tracked', groups: [], findings: drifted(s) };
  };
  return { ingest, signals, open: (name: string) => JSON.parse(state.get(`east/Application/argocd/${name}`) ?? '[]') as unknown[] };
}

const apis = fakeKubeApis();
const stoppers: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(stoppers.splice(0).map((s) => s.stop()));
  await apis.closeAll();
});
const fake = (): Promise<FakeKubeApi> => apis.start(APPLICATIONS);

function watch(api: FakeKubeApi, ingest: Ingest): KubeSources {
  const s = startKubeSources({
    clusters: [CLUSTER],
    kinds: ['applications'],
    ingest,
    fluxRevisions: memoryRevisions(),
    catalog: createCatalog(),
    log,
    kubeConfig: () => api.kubeConfig(),
  });
  stoppers.push(s);
  return s;
}

function audit(api: FakeKubeApi, ingest: Ingest, extra: { intervalMs?: number } = {}) {
  const discovered: number[] = [];
  const runs: AuditRunOutcome[] = [];
  const cycle: AuditCycle = startAuditCycle({
    clusters: [CLUSTER],
    ingest,
    catalog: createCatalog(),
    log,
    kubeConfig: () => api.kubeConfig(),
    intervalMs: extra.intervalMs ?? 3_600_000,
    onDiscovered: (n) => discovered.push(n),
    onRun: (o) => runs.push(o),
    pageSize: 2,
  });
  stoppers.push(cycle);
  return { cycle, discovered, runs };
}

const appName = (meshApp('OutOfSync') as { metadata: { name: string } }).metadata.name;

describe('the audit cycle against a fake API server', () => {
  it('finds an OutOfSync Application whose watch event was lost, and ingests it as source audit', async () => {
    const api = await fake();
    const t = trackingIngest();
    watch(api, t.ingest);
    await waitFor(() => api.openWatches(APPLICATIONS) === 1, 5_000, 'the watch');
    // The event is lost: the watch never hears of the app.
    api.apply(APPLICATIONS, meshApp('OutOfSync'), { silent: true });
    await sleep(300);
    expect(t.signals).toEqual([]);

    const a = audit(api, t.ingest);
    const report = await a.cycle.runOnce();
    expect(report).toMatchObject({ outcome: 'ok', listed: 1, signals: 1, discovered: 1, vanished: 0, errors: [] });
    expect(a.discovered).toEqual([1]);
    expect(a.runs).toEqual(['ok']);
    expect(t.signals).toHaveLength(1);
    expect(t.signals[0]).toMatchObject({
      source: 'audit',
      cluster: 'east',
      completeness: 'snapshot',
      sync: 'OutOfSync',
      owner: { kind: 'Application', name: appName },
    });
    expect(t.open(appName).length).toBeGreaterThan(0);
    // A fresh list, not the informer's cache.
    expect(api.requests.filter((r) => !r.watch && r.path.endsWith('/applications')).length).toBe(2);

    // Nothing new: the next run ingests the same snapshot and discovers nothing.
    const again = await a.cycle.runOnce();
    expect(again).toMatchObject({ outcome: 'ok', signals: 1, discovered: 0 });
    expect(a.discovered).toEqual([1]);
  });

  it('resolves an alert whose Application became Synced while the watch was down', async () => {
    const api = await fake();
    const t = trackingIngest();
    api.apply(APPLICATIONS, meshApp('OutOfSync'));
    const w = watch(api, t.ingest);
    await waitFor(() => t.signals.length === 1 && api.openWatches(APPLICATIONS) === 1, 5_000, 'the OutOfSync snapshot from the watch');
    expect(t.open(appName).length).toBeGreaterThan(0);
    await w.stop();
    api.apply(APPLICATIONS, meshApp('Synced', SYNCED_AT), { silent: true });

    const a = audit(api, t.ingest);
    const report = await a.cycle.runOnce();
    expect(report).toMatchObject({ outcome: 'ok', discovered: 1 });
    expect(t.signals.at(-1)).toMatchObject({ source: 'audit', sync: 'Synced', completeness: 'snapshot' });
    expect(t.open(appName)).toEqual([]);
  });

  it('resolves an Application deleted while its DELETED event was lost (seen by the previous run)', async () => {
    const api = await fake();
    const t = trackingIngest();
    api.apply(APPLICATIONS, meshApp('OutOfSync'));
    const a = audit(api, t.ingest);
    expect(await a.cycle.runOnce()).toMatchObject({ discovered: 1, vanished: 0 });
    api.remove(APPLICATIONS, 'argocd', appName, { silent: true });
    expect(await a.cycle.runOnce()).toMatchObject({ listed: 0, discovered: 1, vanished: 1 });
    expect(t.signals.at(-1)).toMatchObject({ source: 'audit', completeness: 'snapshot', resources: [], owner: { kind: 'Application', name: appName } });
    expect(t.open(appName)).toEqual([]);
  });

  it('reports a failed run when the cluster cannot be reached, and a kind the cluster does not serve is no failure', async () => {
    const api = await fake();
    api.unserve(APPLICATIONS);
    const t = trackingIngest();
    const a = audit(api, t.ingest);
    expect(await a.cycle.runOnce()).toMatchObject({ outcome: 'ok', listed: 0, errors: [] });
    await api.goUnreachable();
    const report = await a.cycle.runOnce();
    expect(report.outcome).toBe('failed');
    expect(report.errors.length).toBe(3); // applications, kustomizations, helmreleases
    expect(a.runs).toEqual(['ok', 'failed']);
  });

  it('runs periodically on the leader only (gated), finding drift within one period', async () => {
    const api = await fake();
    const t = trackingIngest();
    const discovered: number[] = [];
    const make = (identity: string): LeaderGatedKubeSources => {
      const g = startLeaderGatedKubeSources({
        clusters: [CLUSTER],
        kinds: ['applications'],
        ingest: t.ingest,
        fluxRevisions: memoryRevisions(),
        catalog: createCatalog(),
        log,
        kubeConfig: () => api.kubeConfig(),
        leaderElection: { namespace: 'meshdrift', name: 'meshdrift-watch', identity, leaseDurationMs: 800, renewDeadlineMs: 500, retryPeriodMs: 100 },
        audit: { intervalMs: 300, onDiscovered: (n) => discovered.push(n) },
      });
      stoppers.push(g);
      return g;
    };
    const a = make('replica-a');
    const b = make('replica-b');
    await waitFor(() => (a.isLeader() || b.isLeader()) && api.openWatches(APPLICATIONS) === 1, 5_000, 'a leader watching');
    const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
    expect(leader.audit()).toBeDefined();
    expect(follower.audit()).toBeUndefined();
    api.apply(APPLICATIONS, meshApp('OutOfSync'), { silent: true });
    await waitFor(() => t.signals.some((s) => s.source === 'audit' && s.sync === 'OutOfSync'), 3_000, 'the audit finds it within a period');
    expect(discovered).toEqual([1]);
    expect(t.signals.filter((s) => s.source !== 'audit')).toEqual([]);
  });
});

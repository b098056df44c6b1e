import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../../../../src/config/env.ts';
import { createLogger } from '../../../../src/log.ts';
import type { Signal } from '../../../../src/model/signal.ts';
import {
  ArgoCdApiError,
  ArgoCdAuthError,
  listedApplicationSchema,
  parseApplicationList,
  type ApplicationFilters,
  type ApplicationRef,
  type ArgoCdApi,
  type ListedApplication,
  type ManagedResource,
  type ResourceTree,
} from '../../../../src/sources/argocd/api.ts';
import { createAppIndex } from '../../../../src/sources/argocd/app-index.ts';
import { applicationToSignal } from '../../../../src/sources/argocd/application.ts';
import { createManagedDiff } from '../../../../src/sources/argocd/managed-diff.ts';
import {
  argoCdPollSettings,
  listScopes,
  startArgoCdPoller,
  type ArgoCdPoller,
  type ArgoCdPollerOptions,
  type PollOutcome,
} from '../../../../src/sources/argocd/poller.ts';
import { healthFromTree, needsResourceTree, withTreeHealth } from '../../../../src/sources/argocd/tree-health.ts';
import type { Delay } from '../../../../src/sources/kube/backoff.ts';
import type { Ingest } from '../../../../src/track/ingest.ts';
import { readFixture } from '../../../support/fixtures.ts';

const log = createLogger('silent');
const MESH = 'argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json';
const DR = { group: 'networking.istio.io', kind: 'DestinationRule', namespace: 'payments', name: 'payments' };
const VS = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };

/** The synthetic mesh app, optionally renamed and with another app health. */
function meshApp(opts: { name?: string; namespace?: string; health?: string } = {}): ListedApplication {
  const raw = readFixture(MESH) as { metadata: { name: string; namespace: string }; status: { health: { status: string } } };
  if (opts.name) raw.metadata.name = opts.name;
  if (opts.namespace) raw.metadata.namespace = opts.namespace;
  if (opts.health) raw.status.health.status = opts.health;
  return listedApplicationSchema.parse(raw);
}

const node = (r: { group?: string; kind: string; namespace?: string; name: string }, health?: { status: string; message?: string }, created = true) => ({
  ...r,
  version: 'v1',
  ...(created ? { uid: `u-${r.name}`, resourceVersion: '1', createdAt: '2026-11-20T08:12:40Z' } : {}),
  ...(health ? { health } : {}),
});

describe('needsResourceTree', () => {
  it.each([
    ['Degraded', true],
    ['Missing', true],
    ['Healthy', false],
    ['Progressing', false],
    [undefined, false],
  ])('3.x app with health %s → %s', (health, want) => {
    const app = meshApp(health ? { health } : {});
    if (!health) delete app.status?.health;
    expect(needsResourceTree(app)).toBe(want);
  });

  it('a 2.x app whose list already carries resource health needs no tree', () => {
    const app = listedApplicationSchema.parse(readFixture('argocd/app-outofsync-syncfailed-missing-v2.json'));
    app.status!.health = { status: 'Degraded' };
    expect(needsResourceTree(app)).toBe(false);
  });

  it('an app with no resources needs no tree', () => {
    const app = meshApp({ health: 'Degraded' });
    app.status!.resources = [];
    expect(needsResourceTree(app)).toBe(false);
  });
});

describe('health from the resource tree', () => {
  it('takes node health, infers Missing for never-created nodes (inferResourcesStatusHealth), ignores plain nodes', () => {
    const health = healthFromTree({
      nodes: [
        node(DR, { status: 'Degraded', message: 'subset v3 not found' }),
        node({ kind: 'Service', namespace: 'payments', name: 'payments' }, undefined, false),
        node(VS),
      ],
    });
    expect(health.get('networking.istio.io/DestinationRule/payments/payments')).toEqual({ status: 'Degraded', message: 'subset v3 not found' });
    expect(health.get('/Service/payments/payments')).toEqual({ status: 'Missing', message: 'Resource has not been created' });
    expect(health.has('networking.istio.io/VirtualService/payments/payments')).toBe(false);
  });

  it('combines with sync status as application.ts does: Synced+Degraded → Unhealthy, OutOfSync+Missing → Missing, OutOfSync+Degraded stays Modified', () => {
    const app = meshApp({ health: 'Degraded' });
    const tree: ResourceTree = {
      nodes: [
        node(DR, { status: 'Degraded' }),
        node({ group: 'security.istio.io', kind: 'PeerAuthentication', namespace: 'payments', name: 'default' }, undefined, false),
        node(VS, { status: 'Degraded' }),
        node({ group: 'apps', kind: 'ReplicaSet', namespace: 'payments', name: 'payments-v2-abc' }, { status: 'Degraded' }),
      ],
    };
    const signal = applicationToSignal(withTreeHealth(app, tree), { cluster: 'c', source: 'argocd-api', now: 0 });
    const states = Object.fromEntries(signal.resources.filter((r) => r.state !== 'InSync').map((r) => [`${r.kind}/${r.name}`, r.state]));
    expect(states).toEqual({
      'DestinationRule/payments': 'Unhealthy',
      'PeerAuthentication/default': 'Missing',
      'VirtualService/payments': 'Modified',
      'AuthorizationPolicy/payments-allow-frontend': 'Modified',
      'ServiceEntry/legacy-psp-api': 'Extraneous',
    });
    expect(signal.resources.find((r) => r.kind === 'DestinationRule')?.detail).toBe('health Degraded');
    expect(signal.resources.some((r) => r.kind === 'ReplicaSet')).toBe(false);
  });

  it('keeps health the list already had', () => {
    const app = meshApp();
    app.status!.resources![0]!.health = { status: 'Healthy' };
    const out = withTreeHealth(app, { nodes: [node({ kind: 'Service', namespace: 'payments', name: 'payments' }, { status: 'Degraded' })] });
    expect(out.status?.resources?.[0]?.health).toEqual({ status: 'Healthy' });
  });
});

describe('poll settings from the environment', () => {
  const base = { ARGOCD_URL: 'https://argocd.example.com', ARGOCD_TOKEN: 'argocd-SECRET-token', MESHDRIFT_CLUSTER: 'prod-eu-1' };

  it('is off without a token, or with interval 0', () => {
    expect(argoCdPollSettings(loadEnv({}))).toBeUndefined();
    expect(argoCdPollSettings(loadEnv({ ARGOCD_URL: 'https://argocd.example.com' }))).toBeUndefined();
    expect(argoCdPollSettings(loadEnv({ ...base, ARGOCD_TOKEN: '  ' }))).toBeUndefined();
    expect(argoCdPollSettings(loadEnv({ ...base, ARGOCD_POLL_INTERVAL: '0' }))).toBeUndefined();
  });

  it('has the documented defaults', () => {
    expect(argoCdPollSettings(loadEnv(base))).toEqual({
      api: { apiUrl: 'https://argocd.example.com', token: 'argocd-SECRET-token', timeoutMs: 30_000 },
      cluster: 'prod-eu-1',
      intervalMs: 60_000,
      diffFetchesPerPoll: 10,
      filters: { projects: [], appNamespaces: [] },
    });
    expect(argoCdPollSettings(loadEnv({ ...base, ARGOCD_DIFF_FETCHES: '0' }))?.diffFetchesPerPoll).toBe(0);
  });

  it('reads the filters', () => {
    const s = argoCdPollSettings(
      loadEnv({
        ...base,
        ARGOCD_POLL_INTERVAL: '30s',
        ARGOCD_TIMEOUT: '5s',
        ARGOCD_PROJECTS: 'mesh-prod, ,hitchhiker',
        ARGOCD_SELECTOR: ' team in (payments,edge) ',
        ARGOCD_APP_NAMESPACES: 'argocd,team-payments',
      }),
    );
    expect(s).toMatchObject({
      intervalMs: 30_000,
      api: { timeoutMs: 5_000 },
      filters: { projects: ['mesh-prod', 'hitchhiker'], selector: 'team in (payments,edge)', appNamespaces: ['argocd', 'team-payments'] },
    });
  });

  it.each([
    [{ ARGOCD_TOKEN: 'argocd-SECRET-token' }, /ARGOCD_URL: is required when ARGOCD_TOKEN is set/],
    [{ ...base, ARGOCD_POLL_INTERVAL: '200ms' }, /ARGOCD_POLL_INTERVAL: must be 0 \(polling off\) or at least 1s/],
    [{ ...base, ARGOCD_POLL_INTERVAL: 'often' }, /ARGOCD_POLL_INTERVAL: "often" is not a duration/],
    [{ ...base, ARGOCD_TIMEOUT: '0' }, /ARGOCD_TIMEOUT: must be more than 0/],
    [{ ...base, ARGOCD_APP_NAMESPACES: 'ok,Not_A_Namespace' }, /ARGOCD_APP_NAMESPACES: must be Kubernetes namespace names/],
  ])('refuses %j, never echoing the token', (env, want) => {
    let err: unknown;
    try {
      loadEnv(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(want);
    expect((err as Error).message).not.toContain('argocd-SECRET-token');
  });

  it('one list scope per app namespace, with the shared filters', () => {
    expect(listScopes({ projects: [], appNamespaces: [] })).toEqual([{}]);
    expect(listScopes({ projects: ['p'], selector: 's', appNamespaces: ['a', 'b'] })).toEqual([
      { projects: ['p'], selector: 's', appNamespace: 'a' },
      { projects: ['p'], selector: 's', appNamespace: 'b' },
    ]);
  });
});

/** An Argo CD API in memory: apps by namespace, scripted failures, call log. */
function memoryApi(apps: ListedApplication[]) {
  const state = {
    apps,
    trees: new Map<string, ResourceTree>(),
    listFailures: [] as ArgoCdApiError[],
    treeFailures: new Map<string, ArgoCdApiError>(),
    lists: [] as ApplicationFilters[],
    treeCalls: [] as ApplicationRef[],
    managed: new Map<string, ManagedResource[]>(),
    managedCalls: [] as ApplicationRef[],
    gate: undefined as Promise<void> | undefined,
    inFlight: 0,
    maxInFlight: 0,
  };
  const api: ArgoCdApi = {
    async listApplications(filters = {}) {
      state.lists.push(filters);
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      try {
        if (state.gate) await state.gate;
        const failure = state.listFailures.shift();
        if (failure) throw failure;
        const items = state.apps.filter((a) => filters.appNamespace === undefined || a.metadata.namespace === filters.appNamespace);
        return parseApplicationList(JSON.stringify({ items }));
      } finally {
        state.inFlight--;
      }
    },
    async resourceTree(ref) {
      state.treeCalls.push(ref);
      const failure = state.treeFailures.get(ref.name);
      if (failure) throw failure;
      return state.trees.get(ref.name) ?? { nodes: [] };
    },
    async managedResources(ref) {
      state.managedCalls.push(ref);
      return state.managed.get(ref.name) ?? [];
    },
  };
  return { api, state };
}

/** Per owner, the drifted resources last ingested: `tracked` when a signal changes them. */
function trackingIngest() {
  const open = new Map<string, string>();
  const signals: Signal[] = [];
  const failFor = new Set<string>();
  const ingest: Ingest = async (s) => {
    if (failFor.has(s.owner.name)) throw new Error('redis is reconnecting');
    signals.push(s);
    const digest = JSON.stringify(s.resources.filter((r) => r.state !== 'InSync').map((r) => [r.kind, r.name, r.state]));
    const key = `${s.owner.namespace}/${s.owner.name}`;
    const before = open.get(key) ?? '[]';
    open.set(key, digest);
    return { outcome: before === digest ? 'unchanged' : 'tracked', groups: [], findings: 0 };
  };
  return { ingest, signals, failFor, open };
}

const pollers: ArgoCdPoller[] = [];
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
});

/** A delay that records each wait and returns at once for the first `limit` ones, then waits for stop(). */
/** Delays that end at once `limit` times, then park until aborted; `parked` resolves when the first parks. */
function recordingDelay(limit: number) {
  const waits: number[] = [];
  let markParked!: () => void;
  const parked = new Promise<void>((resolve) => (markParked = resolve));
  const delay: Delay = (ms, signal) => {
    waits.push(ms);
    if (waits.length <= limit) return Promise.resolve();
    markParked();
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  };
  return { delay, waits, parked };
}

function poller(api: ArgoCdApi, ingest: Ingest, extra: Partial<ArgoCdPollerOptions> = {}) {
  const outcomes: PollOutcome[] = [];
  const discovered: number[] = [];
  const p = startArgoCdPoller({
    api,
    cluster: 'prod-eu-1',
    filters: { projects: [], appNamespaces: [] },
    ingest,
    log,
    intervalMs: 60_000,
    runAtStart: false,
    delay: recordingDelay(0).delay,
    onPoll: (o) => outcomes.push(o),
    onDiscovered: (n) => discovered.push(n),
    ...extra,
  });
  pollers.push(p);
  return { p, outcomes, discovered };
}

describe('the Argo CD poller (in-memory API)', () => {
  it('turns each app into a snapshot of source argocd-api, reading the tree of Degraded apps only', async () => {
    const { api, state } = memoryApi([meshApp(), meshApp({ name: 'payments-degraded', health: 'Degraded' })]);
    state.trees.set('payments-degraded', { nodes: [node(DR, { status: 'Degraded', message: 'subset v3 not found' })] });
    const t = trackingIngest();
    const { p, outcomes, discovered } = poller(api, t.ingest);
    const result = await p.pollNow();
    expect(result).toMatchObject({ outcome: 'ok', listed: 2, trees: 1, signals: 2, discovered: 2, vanished: 0, errors: [] });
    expect(state.treeCalls).toEqual([{ name: 'payments-degraded', namespace: 'argocd', project: 'mesh-prod' }]);
    expect(t.signals.map((s) => [s.source, s.cluster, s.completeness])).toEqual([
      ['argocd-api', 'prod-eu-1', 'snapshot'],
      ['argocd-api', 'prod-eu-1', 'snapshot'],
    ]);
    const degraded = t.signals.find((s) => s.owner.name === 'payments-degraded');
    expect(degraded?.resources.find((r) => r.kind === 'DestinationRule')).toMatchObject({ state: 'Unhealthy', detail: 'health Degraded' });
    expect(outcomes).toEqual(['ok']);
    expect(discovered).toEqual([2]);
    // Nothing changed: the next poll discovers nothing.
    expect(await p.pollNow()).toMatchObject({ outcome: 'ok', discovered: 0 });
    expect(discovered).toEqual([2]);
    expect(p.health()).toMatchObject({ ready: true, consecutiveFailures: 0 });
  });

  it('resolves an app that vanished, but an all-empty list only when the next poll agrees', async () => {
    const a = meshApp({ name: 'a' });
    const b = meshApp({ name: 'b' });
    const { api, state } = memoryApi([a, b]);
    const t = trackingIngest();
    const { p } = poller(api, t.ingest);
    await p.pollNow();
    state.apps = [a];
    expect(await p.pollNow()).toMatchObject({ listed: 1, vanished: 1 });
    expect(t.signals.at(-1)).toMatchObject({ owner: { name: 'b' }, completeness: 'snapshot', resources: [], source: 'argocd-api' });
    expect(t.signals.at(-1)?.observedAt).toBeGreaterThanOrEqual(Date.parse('2026-11-24T10:03:11Z'));

    state.apps = [];
    expect(await p.pollNow()).toMatchObject({ outcome: 'ok', listed: 0, vanished: 0 });
    expect(JSON.parse(t.open.get('argocd/a') ?? '[]')).not.toEqual([]);
    expect(await p.pollNow()).toMatchObject({ listed: 0, vanished: 1 });
    expect(JSON.parse(t.open.get('argocd/a') ?? '[]')).toEqual([]);
  });

  it('feeds the app index (project, labels, ignoreDifferences under MESHDRIFT_CLUSTER) and takes vanished apps out of it', async () => {
    const a = meshApp({ name: 'a' });
    a.metadata.labels = { team: 'payments' };
    a.spec = {
      ...a.spec,
      destination: { server: 'https://kubernetes.default.svc', namespace: 'payments' },
      ignoreDifferences: listedApplicationSchema.shape.spec
        .unwrap()
        .shape.ignoreDifferences.parse([
          { group: 'networking.istio.io', kind: 'VirtualService', jsonPointers: ['/spec/http/0/timeout'], managedFieldsManagers: ['flagger'] },
        ]),
    };
    const { api, state } = memoryApi([a, meshApp({ name: 'b' })]);
    const index = createAppIndex();
    const { p } = poller(api, trackingIngest().ingest, { appIndex: index });
    await p.pollNow();
    const owner = { kind: 'Application', namespace: 'argocd', name: 'a' };
    expect(index.lookup('prod-eu-1', owner)).toMatchObject({
      cluster: 'prod-eu-1',
      project: 'mesh-prod',
      labels: { team: 'payments' },
      ignore: [{ jsonPointers: ['/spec/http/0/timeout'], managedFieldsManagers: ['flagger'] }],
    });
    expect(index.size()).toBe(2);
    state.apps = [meshApp({ name: 'b' })];
    expect(await p.pollNow()).toMatchObject({ vanished: 1 });
    expect(index.lookup('prod-eu-1', owner)).toBeUndefined();
    expect(index.size()).toBe(1);
  });

  it('a failed tree keeps the app in the poll, speaking only for sync drift; a failed ingest does not stop the others', async () => {
    const { api, state } = memoryApi([meshApp({ name: 'a', health: 'Degraded' }), meshApp({ name: 'b' }), meshApp({ name: 'c' })]);
    state.treeFailures.set('a', new ArgoCdApiError('timeout', 'argocd resource tree of argocd/a: request timed out (after 30000ms)'));
    const t = trackingIngest();
    t.failFor.add('b');
    const { p, outcomes } = poller(api, t.ingest);
    const result = await p.pollNow();
    expect(result).toMatchObject({ outcome: 'partial', listed: 3, trees: 0, signals: 2 });
    expect(result.errors).toEqual(['argocd/a: argocd resource tree of argocd/a: request timed out (after 30000ms)', 'argocd/b: ingest: redis is reconnecting']);
    expect(t.signals.find((s) => s.owner.name === 'a')?.covers).toEqual({ states: ['Modified', 'Extraneous'] });
    expect(t.signals.find((s) => s.owner.name === 'c')?.covers).toBeUndefined();
    expect(outcomes).toEqual(['partial']);
    expect(p.health().ready).toBe(true);
  });

  it('401 makes it not ready with a clear error until a poll succeeds; a later outage keeps it not ready', async () => {
    const { api, state } = memoryApi([meshApp()]);
    const t = trackingIngest();
    let clock = 1_000_000;
    const { p, outcomes } = poller(api, t.ingest, { now: () => clock });
    state.listFailures.push(
      new ArgoCdAuthError(
        'unauthorized',
        'argocd list of applications: HTTP 401: invalid session: token has invalid claims: token is expired. The token was rejected',
        401,
      ),
    );
    expect(await p.pollNow()).toMatchObject({ outcome: 'unauthorized', listed: 0 });
    expect(p.health()).toEqual({ ready: false, since: 1_000_000, lastError: expect.stringContaining('HTTP 401: invalid session'), consecutiveFailures: 1 });
    clock += 1_000;
    state.listFailures.push(new ArgoCdApiError('timeout', 'argocd list of applications: request timed out'));
    expect(await p.pollNow()).toMatchObject({ outcome: 'failed' });
    expect(p.health()).toMatchObject({ ready: false, since: 1_000_000, consecutiveFailures: 2, lastError: 'argocd list of applications: request timed out' });
    clock += 1_000;
    expect(await p.pollNow()).toMatchObject({ outcome: 'ok', signals: 1 });
    expect(p.health()).toEqual({ ready: true, lastSuccessAt: 1_002_000, consecutiveFailures: 0 });
    expect(outcomes).toEqual(['unauthorized', 'failed', 'ok']);
  });

  it('a 401 while reading a tree fails the whole poll as unauthorized', async () => {
    const { api, state } = memoryApi([meshApp({ health: 'Degraded' })]);
    state.treeFailures.set('payments-mesh', new ArgoCdAuthError('unauthorized', 'argocd resource tree of argocd/payments-mesh: HTTP 401', 401));
    const { p } = poller(api, trackingIngest().ingest);
    expect(await p.pollNow()).toMatchObject({ outcome: 'unauthorized' });
    expect(p.health().ready).toBe(false);
  });

  it('an outage longer than unreadyAfterMs makes it not ready; shorter ones do not', async () => {
    const { api, state } = memoryApi([meshApp()]);
    let clock = 0;
    const { p } = poller(api, trackingIngest().ingest, { now: () => clock, unreadyAfterMs: 10_000 });
    state.listFailures.push(new ArgoCdApiError('unavailable', 'argocd list of applications: HTTP 503', 503));
    await p.pollNow();
    expect(p.health()).toMatchObject({ ready: true, since: 0, consecutiveFailures: 1, lastError: 'argocd list of applications: HTTP 503' });
    clock = 10_001;
    expect(p.health().ready).toBe(false);
  });

  it('backs off after failed polls, growing to the cap, then waits the interval again', async () => {
    const { api, state } = memoryApi([meshApp()]);
    for (let i = 0; i < 5; i++) state.listFailures.push(new ArgoCdApiError('unavailable', 'HTTP 503', 503));
    const d = recordingDelay(6);
    const { outcomes } = poller(api, trackingIngest().ingest, {
      runAtStart: true,
      delay: d.delay,
      random: () => 1,
      backoff: { baseMs: 1_000, maxMs: 8_000 },
      intervalMs: 60_000,
    });
    // The loop has run its seven polls once it parks in the seventh wait (not after a fixed sleep).
    await d.parked;
    expect(outcomes).toEqual(['failed', 'failed', 'failed', 'failed', 'failed', 'ok', 'ok']);
    expect(d.waits).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 60_000, 60_000]);
    expect(state.lists).toHaveLength(7);
  });

  it('never overlaps polls: a call during a poll waits for it', async () => {
    const { api, state } = memoryApi([meshApp()]);
    let open!: () => void;
    state.gate = new Promise((r) => (open = r));
    const { p } = poller(api, trackingIngest().ingest);
    const first = p.pollNow();
    const second = p.pollNow();
    await new Promise((r) => setTimeout(r, 10));
    expect(state.lists).toHaveLength(1);
    open();
    await Promise.all([first, second]);
    expect(state.lists).toHaveLength(2);
    expect(state.maxInFlight).toBe(1);
  });

  it('lists once per app namespace with the filters, and resolves per namespace', async () => {
    const { api, state } = memoryApi([meshApp({ name: 'x', namespace: 'argocd' }), meshApp({ name: 'y', namespace: 'team-payments' })]);
    const t = trackingIngest();
    const { p } = poller(api, t.ingest, { filters: { projects: ['mesh-prod'], selector: 'team=payments', appNamespaces: ['argocd', 'team-payments'] } });
    expect(await p.pollNow()).toMatchObject({ outcome: 'ok', listed: 2 });
    expect(state.lists).toEqual([
      { projects: ['mesh-prod'], selector: 'team=payments', appNamespace: 'argocd' },
      { projects: ['mesh-prod'], selector: 'team=payments', appNamespace: 'team-payments' },
    ]);
    // One namespace failing is a partial poll, and resolves nothing there.
    state.listFailures.push(new ArgoCdApiError('unavailable', 'HTTP 503', 503));
    expect(await p.pollNow()).toMatchObject({ outcome: 'partial', listed: 1, vanished: 0 });
  });

  it('attaches field changes through the managed diff with one budget per poll; a diff that throws never holds the signal back', async () => {
    const { api, state } = memoryApi([meshApp({ name: 'a' }), meshApp({ name: 'b' })]);
    const vsState = (w: number) => JSON.stringify({ spec: { http: [{ route: [{ weight: w }] }] } });
    for (const name of ['a', 'b']) {
      state.managed.set(name, [
        {
          group: 'networking.istio.io',
          kind: 'VirtualService',
          namespace: 'payments',
          name: 'payments',
          predictedLiveState: vsState(90),
          normalizedLiveState: vsState(0),
        },
      ]);
    }
    const t = trackingIngest();
    const isMeshKind = (_g: string, k: string) => k === 'VirtualService';
    const diff = createManagedDiff({ api, isMeshKind, maxFetchesPerPoll: 1, log });
    const { p } = poller(api, t.ingest, { diff, concurrency: 1 });
    await p.pollNow();
    const changed = t.signals.map((s) => s.resources.find((r) => r.kind === 'VirtualService')?.changes?.changes[0]?.path);
    // One read per poll: the first app got its changes, the second waits for the next poll.
    expect(changed).toEqual(['spec.http[0].route[0].weight', undefined]);
    expect(state.managedCalls.map((c) => c.name)).toEqual(['a']);
    await p.pollNow();
    expect(state.managedCalls.map((c) => c.name)).toEqual(['a', 'b']);

    const broken = { budget: () => ({ left: 1 }), withChanges: () => Promise.reject(new Error('bug')) };
    const t2 = trackingIngest();
    const q = poller(api, t2.ingest, { diff: broken });
    expect(await q.p.pollNow()).toMatchObject({ outcome: 'ok', signals: 2, errors: [] });
  });

  it('refuses interval 0 (that is polling off)', () => {
    expect(() =>
      startArgoCdPoller({
        api: memoryApi([]).api,
        cluster: 'c',
        filters: { projects: [], appNamespaces: [] },
        ingest: trackingIngest().ingest,
        log,
        intervalMs: 0,
      }),
    ).toThrow(/interval must be > 0/);
  });
});

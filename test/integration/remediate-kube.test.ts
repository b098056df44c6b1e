import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNotifiers, ReceiverConfigError } from '../../src/deliver/receivers.ts';
import { remediateReceiverFactory } from '../../src/remediate/receiver-factory.ts';
import { receiverSchema, type ReceiverConfig } from '../../src/config/policy.ts';
import { parseClusters } from '../../src/config/clusters.ts';
import type { Notification, TrackedFinding } from '../../src/model/alert-group.ts';
import type { OwnerRef, ResourceRef } from '../../src/model/signal.ts';
import { createRedisAuditTrail, type AuditTrail } from '../../src/remediate/audit.ts';
import { rfc3339Nano } from '../../src/remediate/flux-reconcile.ts';
import type { Notifier } from '../../src/deliver/notifier.ts';
import { REMEDIATION, type Remediation } from '../../src/remediate/capability.ts';
import { ownersOf } from '../../src/remediate/policy.ts';
import { startFakeKubeApi, type FakeKubeApi, type FakeResource } from '../fakes/kube-api.ts';
import { kubeconfigFor } from '../support/kubeconfig.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';
import { remediate } from '../support/remediate.ts';

/**
 * Remediation through a MESHDRIFT_CLUSTERS cluster's own Kubernetes API (`kube: { cluster }`),
 * built from the policy by receivers.ts and talking to the fake API server through a kubeconfig
 * file: Argo CD's `operation` field (argocd-operation) and Flux's reconcile annotation, with its
 * source first (source_first).
 */

const T0 = Date.UTC(2026, 10, 24, 10, 0, 0) + 120;
const APPS: FakeResource = { group: 'argoproj.io', version: 'v1alpha1', plural: 'applications', kind: 'Application' };
const KUSTOMIZATIONS: FakeResource = { group: 'kustomize.toolkit.fluxcd.io', version: 'v1', plural: 'kustomizations', kind: 'Kustomization' };
const HELMRELEASES: FakeResource = { group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases', kind: 'HelmRelease' };
const GITREPOS: FakeResource = { group: 'source.toolkit.fluxcd.io', version: 'v1', plural: 'gitrepositories', kind: 'GitRepository' };
const HELMCHARTS: FakeResource = { group: 'source.toolkit.fluxcd.io', version: 'v1', plural: 'helmcharts', kind: 'HelmChart' };
const OCIREPOS: FakeResource = { group: 'source.toolkit.fluxcd.io', version: 'v1beta2', plural: 'ocirepositories', kind: 'OCIRepository' };

const APP: OwnerRef = { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' };
const KS: OwnerRef = { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' };
const HR: OwnerRef = { kind: 'HelmRelease', namespace: 'istio-system', name: 'istiod' };
const VS: ResourceRef = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };
const PA: ResourceRef = { group: 'security.istio.io', kind: 'PeerAuthentication', namespace: 'payments', name: 'default' };
const APP_PATH = '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/payments-mesh';
const KS_PATH = '/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/mesh';

let api: FakeKubeApi;
let kubeconfig: string;
let redis: Redis;
let prefix: string;
let audit: AuditTrail;
let now: number;

beforeEach(async () => {
  api = await startFakeKubeApi();
  for (const r of [APPS, KUSTOMIZATIONS, HELMRELEASES, GITREPOS, HELMCHARTS, OCIREPOS]) api.serve(r);
  kubeconfig = kubeconfigFor(api);
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  prefix = testPrefix('remediate-kube');
  now = T0;
  audit = createRedisAuditTrail(redis, prefix, { now: () => now });
});

afterEach(async () => {
  await api.close();
  await deleteKeys(redisUrl(), prefix);
  redis.disconnect();
});

function application(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'payments-mesh', namespace: 'argocd' },
    spec: { project: 'mesh-prod', syncPolicy: { syncOptions: ['ServerSideApply=true'] } },
    status: {
      sync: { status: 'OutOfSync' },
      resources: [
        { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments', status: 'OutOfSync' },
        { group: 'security.istio.io', kind: 'PeerAuthentication', namespace: 'payments', name: 'default', status: 'OutOfSync' },
      ],
      operationState: { phase: 'Succeeded', operation: { sync: { revision: 'abc' } }, startedAt: '2026-11-24T09:00:00Z' },
    },
    ...over,
  };
}

function finding(owner: OwnerRef, tool: 'argocd' | 'flux', r: ResourceRef, over: Partial<TrackedFinding> = {}): TrackedFinding {
  return {
    fingerprint: `fp-${owner.name}-${r.kind}-${r.name}`,
    groupKey: `g-${owner.name}`,
    cluster: 'prod',
    tool,
    owner,
    project: '',
    resource: r,
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    receivers: ['fix'],
    reasons: [],
    observedAt: now,
    firstSeen: now,
    lastSeen: now,
    status: 'firing',
    ...over,
  };
}

let seq = 0;
function notification(findings: TrackedFinding[]): Notification {
  seq += 1;
  const f = findings[0];
  if (!f) throw new Error('no findings');
  return {
    groupKey: f.groupKey,
    seq,
    reason: 'first',
    status: 'firing',
    labels: { cluster: f.cluster, tool: f.tool, owner: f.owner, project: '' },
    severity: 'high',
    firing: findings,
    resolved: [],
    at: now,
    firstSeen: now,
  };
}

function receiverConfig(remediate: Record<string, unknown>): ReceiverConfig {
  return receiverSchema.parse({ name: 'fix', remediate });
}

function build(remediate: Record<string, unknown>, clusters = `prod=${kubeconfig}`): Notifier {
  const parsed = parseClusters(clusters);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const notifiers = createNotifiers(
    [receiverConfig(remediate)],
    { env: {}, redis, keyPrefix: prefix, now: () => now },
    { remediate: remediateReceiverFactory({ audit, clusters: parsed.value }) },
  );
  const n = notifiers.get('fix');
  if (!n || !REMEDIATION.of(n)) throw new Error('not a remediation receiver');
  return n;
}

/** The receiver's declared remediation capability (what the `remediate` and `verify` jobs run). */
function remediationOf(n: Notifier): Remediation {
  const r = REMEDIATION.of(n);
  if (!r) throw new Error('not a remediation receiver');
  return r;
}

const patches = (): { path: string; body: string | undefined; contentType: string | undefined }[] =>
  api.requests.filter((r) => r.method === 'PATCH').map((r) => ({ path: r.path, body: r.body, contentType: r.contentType }));

describe('kube.cluster: the Kubernetes API of a MESHDRIFT_CLUSTERS entry', () => {
  it('an unknown cluster name is a receiver configuration error naming the key and the listed clusters', () => {
    expect(() => build({ action: 'flux-reconcile', kube: { cluster: 'staging' } })).toThrow(ReceiverConfigError);
    expect(() => build({ action: 'flux-reconcile', kube: { cluster: 'staging' } })).toThrow(
      /receiver "fix": kube\.cluster "staging" is not in MESHDRIFT_CLUSTERS \(it lists prod\)/,
    );
    expect(() => build({ action: 'argocd-operation', kube: { cluster: 'prod' } }, '')).toThrow(
      /kube\.cluster "prod" is not in MESHDRIFT_CLUSTERS \(it is empty\)/,
    );
  });

  it('a remediate receiver is built only by the factory the composition root gives (deliver/ does not build it)', () => {
    expect(() =>
      createNotifiers([receiverConfig({ action: 'flux-reconcile', kube: { cluster: 'prod' } })], { env: {}, redis, keyPrefix: prefix, now: () => now }),
    ).toThrow(/receiver "fix": receivers of type remediate cannot be built here \(no remediate factory was given\)/);
  });

  it('a kubeconfig that cannot be loaded is a configuration error too', () => {
    expect(() => build({ action: 'flux-reconcile', kube: { cluster: 'prod' } }, `prod=${kubeconfig}#nope`)).toThrow(
      /receiver "fix": kube\.cluster: cluster "prod": context "nope" not found/,
    );
  });

  it('flux-reconcile patches through the kubeconfig (its token, the merge patch) and never touches another cluster', async () => {
    api.apply(KUSTOMIZATIONS, {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: 'mesh', namespace: 'flux-system' },
      spec: { interval: '10m', sourceRef: { kind: 'GitRepository', name: 'mesh' } },
    });
    const fix = build({ action: 'flux-reconcile', dry_run: false, kube: { cluster: 'prod' } });
    await expect(remediate(fix, notification([finding(KS, 'flux', VS, { state: 'ApplyFailed' })]))).resolves.toEqual({ ok: true });
    expect(patches()).toEqual([
      {
        path: KS_PATH,
        contentType: 'application/merge-patch+json',
        body: `{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"${rfc3339Nano(T0)}"}}}`,
      },
    ]);
    expect(api.get(KUSTOMIZATIONS, 'flux-system', 'mesh')?.metadata).toMatchObject({
      annotations: { 'reconcile.fluxcd.io/requestedAt': '2026-11-24T10:00:00.12Z' },
    });

    // The same owner name in another cluster is not this API's to patch.
    const before = api.requests.length;
    await expect(
      remediate(fix, notification([finding(KS, 'flux', VS, { cluster: 'staging', state: 'ApplyFailed', fingerprint: 'fp-staging' })])),
    ).resolves.toEqual({ ok: true });
    expect(api.requests).toHaveLength(before);
    expect((await audit.list({ limit: 1 }))[0]).toMatchObject({
      outcome: 'skipped',
      cluster: 'staging',
      reason: expect.stringMatching(/in cluster staging, not prod/) as unknown,
    });
  });

  it('a credential the API server rejects is a permanent failure, not a transport one', async () => {
    api.apply(KUSTOMIZATIONS, { metadata: { name: 'mesh', namespace: 'flux-system' }, spec: {} });
    api.intercept(() => 401);
    const fix = build({ action: 'flux-reconcile', dry_run: false, kube: { cluster: 'prod' } });
    await expect(remediate(fix, notification([finding(KS, 'flux', VS, { state: 'ApplyFailed' })]))).resolves.toMatchObject({
      ok: false,
      retryable: false,
      reason: expect.stringMatching(/HTTP 401/) as unknown,
    });
  });

  it('an API server nobody listens on is a retryable failure', async () => {
    await api.goUnreachable();
    const fix = build({ action: 'flux-reconcile', dry_run: false, kube: { cluster: 'prod' } });
    await expect(remediate(fix, notification([finding(KS, 'flux', VS, { state: 'ApplyFailed' })]))).resolves.toMatchObject({
      ok: false,
      retryable: true,
      reason: expect.stringMatching(/request failed: ECONNREFUSED/) as unknown,
    });
  });
});

describe('argocd-operation: a sync through the Application’s operation field', () => {
  const receiver = (over: Record<string, unknown> = {}): Notifier => build({ action: 'argocd-operation', dry_run: false, kube: { cluster: 'prod' }, ...over });
  const appFindings = (): TrackedFinding[] => [finding(APP, 'argocd', VS), finding(APP, 'argocd', PA)];

  it('merge-patches .operation as the API server’s Sync handler builds it, pinned to the resourceVersion read', async () => {
    const stored = api.apply(APPS, application({ spec: { project: 'mesh-prod', syncPolicy: { syncOptions: ['ServerSideApply=true'], retry: { limit: 2 } } } }));
    const n = notification(appFindings());
    const [owner] = ownersOf(n);
    if (!owner) throw new Error('no owner');
    const run = await remediationOf(receiver()).remediateOwner(n, owner);
    expect(run.result).toEqual({ ok: true });
    const [patch, ...more] = patches();
    expect(more).toEqual([]);
    expect(patch?.path).toBe(APP_PATH);
    expect(patch?.contentType).toBe('application/merge-patch+json');
    expect(JSON.parse(patch?.body ?? '')).toEqual({
      metadata: { resourceVersion: stored.metadata.resourceVersion },
      operation: {
        sync: {
          prune: false,
          resources: [
            { group: 'networking.istio.io', kind: 'VirtualService', name: 'payments', namespace: 'payments' },
            { group: 'security.istio.io', kind: 'PeerAuthentication', name: 'default', namespace: 'payments' },
          ],
          syncOptions: ['ServerSideApply=true'],
        },
        initiatedBy: { username: 'meshdrift', automated: false },
        info: [{ name: 'reason', value: expect.stringMatching(/^sync 2 drifted resources of Application argocd\/payments-mesh/) as unknown }],
        retry: { limit: 2 },
      },
    });
    expect(api.get(APPS, 'argocd', 'payments-mesh')?.operation).toMatchObject({ initiatedBy: { username: 'meshdrift' } });
    const [rec] = await audit.list({ limit: 1 });
    expect(rec).toMatchObject({ action: 'argocd-operation', outcome: 'performed', owner: APP, dryRun: false });
    expect(rec?.reason).toMatch(/argocd operation to sync 2 resource\(s\) set on payments-mesh$/);
    expect(run.verify).toMatchObject({ action: 'argocd-operation', owner: APP, resources: [VS, PA] });
  });

  it('refuses while another operation is set: no patch, deferred with backoff', async () => {
    api.apply(APPS, application({ operation: { sync: { revision: 'abc' }, initiatedBy: { username: 'admin' } } }));
    const result = await remediate(receiver(), notification(appFindings()));
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(patches()).toEqual([]);
    expect((await audit.list({ limit: 1 }))[0]).toMatchObject({
      outcome: 'deferred',
      reason: expect.stringMatching(/^an operation is in progress on .*payments-mesh.*; retrying when it is done \(deferral 1, next try in 30s\)$/) as unknown,
    });
  });

  it('a writer racing between the read and the patch gets a 409 and a retryable deferral, not an overwrite', async () => {
    api.apply(APPS, application());
    let gets = 0;
    api.intercept(({ method }) => {
      // After the remediator's inspect and the client's own read, a rival starts an operation.
      if (method === 'GET') gets += 1;
      if (method === 'PATCH') api.apply(APPS, application({ operation: { sync: {}, initiatedBy: { username: 'admin' } } }));
      return undefined;
    });
    const result = await remediate(receiver(), notification(appFindings()));
    expect(gets).toBe(2);
    expect(result).toMatchObject({ ok: false, retryable: true, reason: expect.stringMatching(/the Application changed since it was read/) as unknown });
    expect(api.get(APPS, 'argocd', 'payments-mesh')?.operation).toMatchObject({ initiatedBy: { username: 'admin' } });
  });

  it('dry run (the default) reads, patches nothing, and audits what it would do', async () => {
    api.apply(APPS, application());
    await expect(remediate(receiver({ dry_run: true }), notification(appFindings()))).resolves.toEqual({ ok: true });
    expect(api.requests.map((r) => r.method)).toEqual(['GET']);
    expect(api.get(APPS, 'argocd', 'payments-mesh')?.operation).toBeUndefined();
    expect((await audit.list({ limit: 1 }))[0]).toMatchObject({ action: 'argocd-operation', outcome: 'dry-run', dryRun: true });
  });

  it('verify: pending while the operation runs, verified once the resources report Synced', async () => {
    api.apply(APPS, application());
    const fix = receiver();
    const n = notification(appFindings());
    const [owner] = ownersOf(n);
    if (!owner) throw new Error('no owner');
    const run = await remediationOf(fix).remediateOwner(n, owner);
    const ticket = run.verify;
    if (!ticket) throw new Error('no verify ticket');

    // The controller picked the operation up: .operation still set, phase Running.
    now += 5_000;
    await expect(remediationOf(fix).verify(ticket)).resolves.toMatchObject({ state: 'pending' });

    // Done: .operation cleared, Succeeded, both resources Synced.
    api.apply(
      APPS,
      application({
        status: {
          operationState: { phase: 'Succeeded' },
          resources: [
            { ...VS, status: 'Synced' },
            { ...PA, status: 'Synced' },
          ],
        },
      }),
    );
    now += 5_000;
    const step = await remediationOf(fix).verify(ticket);
    expect(step).toMatchObject({ state: 'verified', reason: expect.stringMatching(/^Sync by meshdrift verified: 2 resources Synced after 10 s/) as unknown });
    expect((await audit.list({ limit: 1 }))[0]).toMatchObject({ action: 'argocd-operation', outcome: 'verified' });
  });

  it('verify reports a failed operation', async () => {
    api.apply(APPS, application());
    const fix = receiver();
    const n = notification(appFindings());
    const [owner] = ownersOf(n);
    if (!owner) throw new Error('no owner');
    const ticket = (await remediationOf(fix).remediateOwner(n, owner)).verify;
    if (!ticket) throw new Error('no verify ticket');
    api.apply(APPS, application({ status: { operationState: { phase: 'Failed', message: 'one or more objects failed to apply' }, resources: [] } }));
    await expect(remediationOf(fix).verify(ticket)).resolves.toMatchObject({
      state: 'verify-failed',
      reason: 'Sync by meshdrift failed: operation Failed: one or more objects failed to apply',
    });
  });

  it('the shared guardrails apply: the rate limit stops a second action on the owner', async () => {
    api.apply(APPS, application());
    const fix = receiver({ max_per_hour: 1 });
    await expect(remediate(fix, notification([finding(APP, 'argocd', VS)]))).resolves.toEqual({ ok: true });
    api.apply(APPS, application());
    await expect(remediate(fix, notification([finding(APP, 'argocd', PA)]))).resolves.toEqual({ ok: true });
    expect(patches()).toHaveLength(1);
    expect((await audit.list({ limit: 1 }))[0]).toMatchObject({ outcome: 'rate-limited' });
  });
});

describe('scope from what the Kubernetes API returns (argocd-operation, flux-reconcile)', () => {
  it('argocd-operation: an Application whose destination is another cluster is refused and audited, whatever the finding says', async () => {
    // The finding claims cluster prod; the Application, read from prod's API, deploys to edge-1.
    api.apply(APPS, application({ spec: { project: 'mesh-prod', destination: { name: 'edge-1', namespace: 'payments' } } }));
    const fix = build({ action: 'argocd-operation', dry_run: false, kube: { cluster: 'prod' }, clusters: ['prod'] });
    await expect(remediate(fix, notification([finding(APP, 'argocd', VS)]))).resolves.toEqual({ ok: true });
    expect(patches()).toEqual([]);
    const [rec] = await audit.list({ limit: 1 });
    expect(rec).toMatchObject({ outcome: 'denied', action: 'argocd-operation' });
    expect(rec?.reason).toMatch(/its destination cluster is edge-1, not one of the receiver's clusters \(prod\)$/);
  });

  it('argocd-operation: in-cluster is the cluster the receiver writes through, so it syncs; a project outside is refused', async () => {
    api.apply(APPS, application({ spec: { project: 'mesh-prod', destination: { server: 'https://kubernetes.default.svc', namespace: 'payments' } } }));
    const inScope = build({ action: 'argocd-operation', dry_run: false, kube: { cluster: 'prod' }, clusters: ['prod'], projects: ['mesh-prod'] });
    await expect(remediate(inScope, notification([finding(APP, 'argocd', VS)]))).resolves.toEqual({ ok: true });
    expect(patches()).toHaveLength(1);
    await deleteKeys(redisUrl(), prefix);
    const other = build({ action: 'argocd-operation', dry_run: false, kube: { cluster: 'prod' }, projects: ['platform'] });
    await remediate(other, notification([finding(APP, 'argocd', PA, { firstSeen: now })]));
    expect(patches()).toHaveLength(1);
    expect((await audit.list({ limit: 1 }))[0]?.reason).toMatch(/its project is mesh-prod, not one of the receiver's projects \(platform\)$/);
  });

  it('flux-reconcile: the namespace of the object as read must be in `namespaces`', async () => {
    api.apply(KUSTOMIZATIONS, {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: 'mesh', namespace: 'flux-system' },
      spec: { interval: '10m', sourceRef: { kind: 'GitRepository', name: 'mesh' } },
    });
    const fix = build({ action: 'flux-reconcile', dry_run: false, kube: { cluster: 'prod' }, clusters: ['prod'], namespaces: ['apps'] });
    await expect(remediate(fix, notification([finding(KS, 'flux', { ...VS, namespace: '' }, { state: 'ApplyFailed' })]))).resolves.toEqual({ ok: true });
    expect(patches()).toEqual([]);
    expect((await audit.list({ limit: 1 }))[0]?.reason).toMatch(/its namespace is flux-system, not one of the receiver's namespaces \(apps\)$/);
  });

  it('the policy refuses `clusters` for flux-reconcile through `flux: { api_url }` (the cluster written to is unknown) and `projects` for Flux', () => {
    const flux = { api_url: 'https://k8s.example.com', token_env: 'T' };
    expect(receiverSchema.safeParse({ name: 'fix', remediate: { action: 'flux-reconcile', flux, clusters: ['prod'] } }).success).toBe(false);
    expect(receiverSchema.safeParse({ name: 'fix', remediate: { action: 'flux-reconcile', kube: { cluster: 'prod' }, projects: ['x'] } }).success).toBe(false);
    expect(receiverSchema.safeParse({ name: 'fix', remediate: { action: 'flux-reconcile', kube: { cluster: 'prod' }, clusters: ['prod'] } }).success).toBe(
      true,
    );
  });
});

describe('flux-reconcile source_first: the source is annotated first, with the same requestedAt', () => {
  const annotation = (at: string): string => `{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"${at}"}}}`;

  it('a Kustomization: its GitRepository, then itself', async () => {
    api.apply(KUSTOMIZATIONS, {
      metadata: { name: 'mesh', namespace: 'flux-system' },
      spec: { interval: '10m', sourceRef: { kind: 'GitRepository', name: 'mesh-repo' } },
    });
    api.apply(GITREPOS, { metadata: { name: 'mesh-repo', namespace: 'flux-system' }, spec: { url: 'https://git.example/mesh' } });
    const fix = build({ action: 'flux-reconcile', dry_run: false, source_first: true, kube: { cluster: 'prod' } });
    await expect(remediate(fix, notification([finding(KS, 'flux', VS, { state: 'ApplyFailed' })]))).resolves.toEqual({ ok: true });
    const at = rfc3339Nano(T0);
    expect(patches().map((p) => [p.path, p.body])).toEqual([
      ['/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/mesh-repo', annotation(at)],
      [KS_PATH, annotation(at)],
    ]);
    expect((await audit.list({ limit: 1 }))[0]?.reason).toMatch(/flux reconcile requested at .* \(source GitRepository flux-system\/mesh-repo first\)$/);
  });

  it('a HelmRelease: its generated HelmChart (status.helmChart), as the CLI does; a chartRef OCIRepository at v1beta2', async () => {
    api.apply(HELMRELEASES, {
      metadata: { name: 'istiod', namespace: 'istio-system' },
      spec: { chart: { spec: { chart: 'istiod', sourceRef: { kind: 'HelmRepository', name: 'istio', namespace: 'flux-system' } } } },
      status: { helmChart: 'flux-system/istio-system-istiod' },
    });
    api.apply(HELMCHARTS, { metadata: { name: 'istio-system-istiod', namespace: 'flux-system' }, spec: {} });
    const fix = build({ action: 'flux-reconcile', dry_run: false, source_first: true, kube: { cluster: 'prod' } });
    await expect(remediate(fix, notification([finding(HR, 'flux', VS, { state: 'ApplyFailed' })]))).resolves.toEqual({ ok: true });
    expect(patches().map((p) => p.path)).toEqual([
      '/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/helmcharts/istio-system-istiod',
      '/apis/helm.toolkit.fluxcd.io/v2/namespaces/istio-system/helmreleases/istiod',
    ]);

    api.requests.length = 0;
    now += 60_000;
    api.apply(HELMRELEASES, { metadata: { name: 'istiod', namespace: 'istio-system' }, spec: { chartRef: { kind: 'OCIRepository', name: 'istiod-chart' } } });
    api.apply(OCIREPOS, { metadata: { name: 'istiod-chart', namespace: 'istio-system' }, spec: {} });
    await expect(remediate(fix, notification([finding(HR, 'flux', PA, { state: 'ApplyFailed' })]))).resolves.toEqual({ ok: true });
    expect(patches()[0]?.path).toBe('/apis/source.toolkit.fluxcd.io/v1beta2/namespaces/istio-system/ocirepositories/istiod-chart');
  });

  it('a missing source fails the request before the owner is patched', async () => {
    api.apply(KUSTOMIZATIONS, { metadata: { name: 'mesh', namespace: 'flux-system' }, spec: { sourceRef: { kind: 'GitRepository', name: 'gone' } } });
    const fix = build({ action: 'flux-reconcile', dry_run: false, source_first: true, kube: { cluster: 'prod' } });
    await expect(remediate(fix, notification([finding(KS, 'flux', VS, { state: 'ApplyFailed' })]))).resolves.toMatchObject({
      ok: false,
      retryable: false,
      reason: expect.stringMatching(/GitRepository flux-system\/gone \(the source of Kustomization flux-system\/mesh\): HTTP 404/) as unknown,
    });
    expect(patches()).toHaveLength(1);
    expect(api.get(KUSTOMIZATIONS, 'flux-system', 'mesh')?.metadata).not.toHaveProperty('annotations');
  });

  it('dry run patches neither', async () => {
    api.apply(KUSTOMIZATIONS, { metadata: { name: 'mesh', namespace: 'flux-system' }, spec: { sourceRef: { kind: 'GitRepository', name: 'mesh-repo' } } });
    api.apply(GITREPOS, { metadata: { name: 'mesh-repo', namespace: 'flux-system' }, spec: {} });
    const fix = build({ action: 'flux-reconcile', source_first: true, kube: { cluster: 'prod' } });
    await expect(remediate(fix, notification([finding(KS, 'flux', VS, { state: 'ApplyFailed' })]))).resolves.toEqual({ ok: true });
    expect(patches()).toEqual([]);
  });
});

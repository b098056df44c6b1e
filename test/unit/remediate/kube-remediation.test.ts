import { describe, expect, it } from 'vitest';
import { receiverSchema } from '../../../src/config/policy.ts';
import { operationFor, operationPatch } from '../../../src/remediate/argocd-operation.ts';
import { fluxSourceOf, fluxSourcePath } from '../../../src/remediate/flux-reconcile.ts';
import { decideRemediation, remediationConfigSchema } from '../../../src/remediate/policy.ts';
import type { Notification, TrackedFinding } from '../../../src/model/alert-group.ts';

const APP = { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' };

/** The issues zod reports for one remediate block, as "path: message". */
function issues(remediate: Record<string, unknown>): string[] {
  const parsed = receiverSchema.safeParse({ name: 'fix', remediate });
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('remediate receiver keys: kube, argocd-operation, source_first', () => {
  it('accepts each transport with its action', () => {
    expect(issues({ action: 'argocd-operation', kube: { cluster: 'prod' } })).toEqual([]);
    expect(issues({ action: 'flux-reconcile', kube: { cluster: 'prod' }, source_first: true })).toEqual([]);
    expect(issues({ action: 'flux-reconcile', flux: { api_url: 'https://kubernetes.default.svc', token_env: 'KUBE_TOKEN' } })).toEqual([]);
  });

  it('names the key in every refusal', () => {
    expect(issues({ action: 'argocd-operation' })).toEqual(['remediate.kube: argocd-operation needs `kube: { cluster }` (a MESHDRIFT_CLUSTERS name)']);
    expect(issues({ action: 'argocd-operation', kube: { cluster: 'prod' }, argocd: { url: 'https://argocd.example.com', token_env: 'ARGOCD_TOKEN' } })).toEqual(
      ['remediate.argocd: `argocd` is for argocd-sync; argocd-operation writes through `kube: { cluster }`'],
    );
    expect(issues({ action: 'flux-reconcile' })).toEqual([
      'remediate.flux: flux-reconcile needs `kube: { cluster }` (a MESHDRIFT_CLUSTERS name) or `flux: { api_url, token_env }`',
    ]);
    expect(issues({ action: 'flux-reconcile', kube: { cluster: 'prod' }, flux: { api_url: 'https://k8s.example', token_env: 'KUBE_TOKEN' } })).toEqual([
      'remediate.kube: set only one of `kube: { cluster }` and `flux: { api_url, token_env }`',
    ]);
    expect(issues({ action: 'argocd-sync', argocd: { url: 'https://argocd.example.com', token_env: 'T' }, kube: { cluster: 'prod' } })).toEqual([
      'remediate.kube: argocd-sync talks to the Argo CD API (`argocd`); for the Kubernetes API use action argocd-operation',
    ]);
    expect(issues({ action: 'argocd-operation', kube: { cluster: 'prod' }, source_first: true })).toEqual([
      'remediate.source_first: source_first applies to flux-reconcile only',
    ]);
    expect(issues({ action: 'argocd-operation', kube: { cluster: 'bad name!' } })).toEqual(['remediate.kube.cluster: a MESHDRIFT_CLUSTERS cluster name']);
    expect(issues({ action: 'argocd-operation', kube: { cluster: 'prod', context: 'x' } })[0]).toMatch(/^remediate\.kube: .*context/);
  });
});

describe('operationFor: the Operation Argo CD’s Sync handler would set', () => {
  const request = {
    owner: APP,
    prune: true,
    reason: 'sync 1 drifted resource',
    resources: [
      { group: '', kind: 'Service', namespace: 'payments', name: 'payments' },
      { group: 'networking.istio.io', kind: 'Gateway', namespace: '', name: 'cluster-gw' },
    ],
  };

  it('leaves empty group and namespace out, as Go’s omitempty does, and copies syncOptions and retry', () => {
    expect(operationFor(request, { spec: { syncPolicy: { syncOptions: ['PruneLast=true'], retry: { limit: 5, backoff: { duration: '5s' } } } } })).toEqual({
      sync: {
        prune: true,
        resources: [
          { kind: 'Service', name: 'payments', namespace: 'payments' },
          { group: 'networking.istio.io', kind: 'Gateway', name: 'cluster-gw' },
        ],
        syncOptions: ['PruneLast=true'],
      },
      initiatedBy: { username: 'meshdrift', automated: false },
      info: [{ name: 'reason', value: 'sync 1 drifted resource' }],
      retry: { limit: 5, backoff: { duration: '5s' } },
    });
  });

  it('without a sync policy: no syncOptions, no retry; the patch carries no resourceVersion when none was read', () => {
    const op = operationFor({ ...request, prune: false }, { spec: {} });
    expect(op).not.toHaveProperty('retry');
    expect(op.sync).not.toHaveProperty('syncOptions');
    expect(JSON.parse(operationPatch(op, undefined))).toEqual({ operation: op });
    expect(JSON.parse(operationPatch(op, '42'))).toEqual({ metadata: { resourceVersion: '42' }, operation: op });
  });

  it('bounds the reason shown in the Argo CD UI', () => {
    expect(operationFor({ ...request, reason: 'x'.repeat(1000) }, { spec: null }).info[0]?.value).toHaveLength(250);
  });
});

describe('fluxSourceOf / fluxSourcePath: what `flux reconcile --with-source` annotates', () => {
  const KS = { kind: 'Kustomization', namespace: 'apps', name: 'mesh' };
  const HR = { kind: 'HelmRelease', namespace: 'istio-system', name: 'istiod' };
  const obj = (spec: unknown, status: unknown = {}) => ({ metadata: { name: 'x' }, spec, status }) as Parameters<typeof fluxSourceOf>[1];

  it('a Kustomization: spec.sourceRef, in its own namespace unless named', () => {
    expect(fluxSourceOf(KS, obj({ sourceRef: { kind: 'GitRepository', name: 'repo' } }))).toEqual({ kind: 'GitRepository', namespace: 'apps', name: 'repo' });
    expect(fluxSourceOf(KS, obj({ sourceRef: { kind: 'OCIRepository', name: 'oci', namespace: 'flux-system' } }))).toEqual({
      kind: 'OCIRepository',
      namespace: 'flux-system',
      name: 'oci',
    });
    expect(fluxSourceOf(KS, obj({}))).toBeNull();
  });

  it('a HelmRelease: chartRef, else the generated HelmChart, else the chart template’s sourceRef', () => {
    const template = { chart: { spec: { sourceRef: { kind: 'HelmRepository', name: 'istio', namespace: 'flux-system' } } } };
    expect(fluxSourceOf(HR, obj({ chartRef: { kind: 'HelmChart', name: 'c' } }, { helmChart: 'flux-system/other' }))).toEqual({
      kind: 'HelmChart',
      namespace: 'istio-system',
      name: 'c',
    });
    expect(fluxSourceOf(HR, obj(template, { helmChart: 'flux-system/istio-system-istiod' }))).toEqual({
      kind: 'HelmChart',
      namespace: 'flux-system',
      name: 'istio-system-istiod',
    });
    expect(fluxSourceOf(HR, obj(template))).toEqual({ kind: 'HelmRepository', namespace: 'flux-system', name: 'istio' });
  });

  it('paths at the served versions; not a source kind → null', () => {
    expect(fluxSourcePath({ kind: 'GitRepository', namespace: 'a', name: 'b' })).toBe('/apis/source.toolkit.fluxcd.io/v1/namespaces/a/gitrepositories/b');
    expect(fluxSourcePath({ kind: 'Bucket', namespace: 'a', name: 'b' })).toBe('/apis/source.toolkit.fluxcd.io/v1beta2/namespaces/a/buckets/b');
    expect(fluxSourcePath({ kind: 'OCIRepository', namespace: 'a', name: 'b' })).toBe('/apis/source.toolkit.fluxcd.io/v1beta2/namespaces/a/ocirepositories/b');
    expect(fluxSourcePath({ kind: 'HelmRepository', namespace: 'a', name: 'b' })).toBe('/apis/source.toolkit.fluxcd.io/v1/namespaces/a/helmrepositories/b');
    expect(fluxSourcePath({ kind: 'Kustomization', namespace: 'a', name: 'b' })).toBeNull();
  });
});

describe('decideRemediation with argocd-operation and a cluster', () => {
  const finding = (over: Partial<TrackedFinding> = {}): TrackedFinding => ({
    fingerprint: 'fp-1',
    groupKey: 'g',
    cluster: 'prod',
    tool: 'argocd',
    owner: APP,
    project: '',
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' },
    receivers: [],
    reasons: [],
    observedAt: 0,
    firstSeen: 0,
    lastSeen: 0,
    status: 'firing',
    ...over,
  });
  const decide = (f: TrackedFinding, cluster?: string) => {
    const n = {
      groupKey: 'g',
      seq: 1,
      reason: 'first',
      status: 'firing',
      labels: { cluster: f.cluster, tool: f.tool, owner: f.owner, project: '' },
      severity: 'high',
      firing: [f],
      resolved: [],
      at: 0,
      firstSeen: 0,
    } as Notification;
    const config = remediationConfigSchema.parse({ action: 'argocd-operation', dryRun: false, ...(cluster === undefined ? {} : { cluster }) });
    return decideRemediation({
      notification: n,
      owner: { cluster: f.cluster, tool: f.tool, owner: f.owner },
      config,
      recentActions: [],
      history: {},
      inProgress: false,
      now: 0,
    });
  };

  it('syncs an Argo CD finding of its cluster, with the same rules as argocd-sync', () => {
    expect(decide(finding(), 'prod')).toMatchObject({
      action: 'sync',
      reason: expect.stringMatching(/^sync 1 drifted resource of Application argocd\/payments-mesh/) as unknown,
    });
    expect(decide(finding({ state: 'Extraneous' }))).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/live only; deleting it needs prune: true/) as unknown,
    });
    expect(decide(finding({ tool: 'flux', owner: { kind: 'Kustomization', namespace: 'a', name: 'b' } }))).toMatchObject({ action: 'skip' });
  });

  it('never a finding of another cluster', () => {
    expect(decide(finding({ cluster: 'staging' }), 'prod')).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/in cluster staging, not prod/) as unknown,
    });
  });
});

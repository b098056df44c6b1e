// Realistic Argo CD Applications at scale, built from the real objects in
// /work/shared/fixtures/argocd (read, never copied): the Argo CD 3.x shape of the argonaut recording
// (managedFields, ownerReferences, finalizers, a kustomize source with patches, history,
// operationState with a syncResult per resource, summary, sourceHydrator), with the labels,
// annotations and syncPolicy of the ApplicationSet-owned app from argo-cd's testdata, and, for
// Degraded apps, the Argo CD 2.x shape with per-resource health and a SyncError condition.
// Each app has `resources` resources, about 2% of them drifted (OutOfSync; one in four of those
// left over and requiring pruning), and one app in 50 is Degraded.
import { readFixture } from '../test/support/fixtures.ts';

type Json = Record<string, unknown>;

interface Fixtures {
  v3: Json & { metadata: Json; spec: Json; status: Json & { history: Json[]; operationState: Json & { syncResult: Json } } };
  appset: Json & { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: { syncPolicy: Json } };
  v2: Json & { status: { conditions: Json[] } };
}

let fixtures: Fixtures | undefined;
function loadFixtures(): Fixtures {
  fixtures ??= {
    v3: readFixture('argocd/app-outofsync-requirespruning-v3.json') as Fixtures['v3'],
    appset: readFixture('argocd/app-synced-healthy-appset-owned.json') as Fixtures['appset'],
    v2: readFixture('argocd/app-outofsync-syncfailed-missing-v2.json') as Fixtures['v2'],
  };
  return fixtures;
}

/** Resource kinds an app deploys, mesh and not, in the proportions a mesh-heavy app has them. */
const KINDS: ReadonlyArray<{ group: string; version: string; kind: string; health: boolean }> = [
  { group: '', version: 'v1', kind: 'Service', health: true },
  { group: 'apps', version: 'v1', kind: 'Deployment', health: true },
  { group: '', version: 'v1', kind: 'ConfigMap', health: false },
  { group: '', version: 'v1', kind: 'ServiceAccount', health: false },
  { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService', health: false },
  { group: 'networking.istio.io', version: 'v1', kind: 'DestinationRule', health: false },
  { group: 'security.istio.io', version: 'v1', kind: 'AuthorizationPolicy', health: false },
  { group: 'security.istio.io', version: 'v1', kind: 'PeerAuthentication', health: false },
  { group: 'networking.istio.io', version: 'v1', kind: 'ServiceEntry', health: false },
  { group: 'gateway.networking.k8s.io', version: 'v1', kind: 'HTTPRoute', health: true },
  { group: 'telemetry.istio.io', version: 'v1', kind: 'Telemetry', health: false },
  { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', health: true },
  { group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', health: false },
  { group: 'networking.istio.io', version: 'v1', kind: 'Sidecar', health: false },
];
/** Drifted resources are mesh resources (what meshdrift alerts on). */
const DRIFT_KINDS = [4, 5, 6, 7, 9];

const hex = (seed: number, len: number): string => {
  let out = '';
  let x = (seed * 2654435761) >>> 0;
  while (out.length < len) {
    x = (x * 1103515245 + 12345) >>> 0;
    out += x.toString(16).padStart(8, '0');
  }
  return out.slice(0, len);
};
const uid = (seed: number): string => {
  const h = hex(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface AppSpec {
  /** Index of the app: names, namespaces and which resources drift derive from it. */
  index: number;
  resources: number;
  /** Name prefix (distinct runs use distinct prefixes). */
  prefix?: string;
  /** Drifted resources; default about 2% (at least 1). */
  drifted?: number;
  /** Epoch ms of the last comparison. */
  reconciledAt: number;
  /** Extra offset into which resources drift (a later state of the same app). */
  driftShift?: number;
}

export const isDegraded = (index: number): boolean => index % 50 === 7;

/** One Application object as the Kubernetes API serves it. */
export function makeApplication(spec: AppSpec): Json {
  const f = loadFixtures();
  const i = spec.index;
  const name = `${spec.prefix ?? 'app'}-${i}`;
  const namespace = `team-${i % 40}`;
  const degraded = isDegraded(i);
  const driftedCount = spec.drifted ?? Math.max(1, Math.round(spec.resources * 0.02));
  // Spread the drifted ones over the list, on mesh kinds, shifted per app and per state.
  const shift = (i * 7 + (spec.driftShift ?? 0)) % spec.resources;
  const driftedAt = new Set(Array.from({ length: driftedCount }, (_, k) => (shift + Math.floor((k * spec.resources) / driftedCount)) % spec.resources));
  const revision = hex(i * 31 + (spec.driftShift ?? 0), 40);

  const resources: Json[] = [];
  const syncResults: Json[] = [];
  for (let r = 0; r < spec.resources; r++) {
    const drifted = driftedAt.has(r);
    const k = drifted ? KINDS[DRIFT_KINDS[r % DRIFT_KINDS.length] ?? 4] : KINDS[r % KINDS.length];
    if (k === undefined) continue;
    const rname = `${name}-${k.kind.toLowerCase()}-${r}`;
    const prune = drifted && r % 4 === 0;
    const health =
      degraded && k.health
        ? { health: { status: r % 9 === 0 ? 'Degraded' : 'Healthy', ...(r % 9 === 0 ? { message: 'Deployment exceeded its progress deadline' } : {}) } }
        : {};
    resources.push({
      ...(k.group ? { group: k.group } : {}),
      version: k.version,
      kind: k.kind,
      namespace,
      name: rname,
      status: drifted ? 'OutOfSync' : 'Synced',
      ...(prune ? { requiresPruning: true } : {}),
      ...(k.kind === 'VirtualService' || k.kind === 'AuthorizationPolicy' ? { syncWave: 1 } : {}),
      ...health,
    });
    syncResults.push({
      group: k.group,
      version: k.version,
      kind: k.kind,
      namespace,
      name: rname,
      status: 'Synced',
      message: `${k.kind.toLowerCase()}${k.group ? `.${k.group}` : ''}/${rname} configured`,
      hookPhase: 'Running',
      syncPhase: 'Sync',
    });
  }

  const source = structuredClone(f.v3.spec.source) as Json & { kustomize: Json & { commonLabels: Json } };
  source.path = `apps/${namespace}/${name}/overlays/prod`;
  source.kustomize.commonLabels = { 'app.kubernetes.io/instance': name };
  const destination = { namespace, name: 'prod-eu-1' };
  const history = Array.from({ length: 10 }, (_, h) => ({
    revision: hex(i * 131 + h, 40),
    deployedAt: iso(spec.reconciledAt - (10 - h) * 3_600_000),
    deployStartedAt: iso(spec.reconciledAt - (10 - h) * 3_600_000 - 2000),
    id: 100 + h,
    source,
    initiatedBy: { automated: true },
  }));
  const v3 = f.v3;
  const operationState = structuredClone(v3.status.operationState) as Json & { operation: Json & { sync: Json }; syncResult: Json };
  operationState.operation.sync = { revision };
  operationState.syncResult = { resources: syncResults, revision, source };
  operationState.startedAt = iso(spec.reconciledAt - 60_000);
  operationState.finishedAt = iso(spec.reconciledAt - 55_000);
  if (degraded) operationState.phase = 'Failed';

  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: {
      name,
      namespace: 'argocd',
      uid: uid(i),
      generation: 4000 + i,
      creationTimestamp: '2025-08-10T12:23:55Z',
      labels: { ...f.appset.metadata.labels, 'app.kubernetes.io/instance': name, team: namespace },
      annotations: f.appset.metadata.annotations,
      ownerReferences: [
        {
          apiVersion: 'argoproj.io/v1alpha1',
          kind: 'ApplicationSet',
          name: `appset-${i % 20}`,
          uid: uid(100_000 + (i % 20)),
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      finalizers: ['resources-finalizer.argocd.argoproj.io'],
      managedFields: v3.metadata.managedFields,
    },
    spec: { source, destination, project: `project-${i % 10}`, syncPolicy: f.appset.spec.syncPolicy },
    status: {
      resources,
      sync: { status: driftedCount > 0 ? 'OutOfSync' : 'Synced', comparedTo: { source, destination }, revision },
      health: { status: degraded ? 'Degraded' : 'Healthy', lastTransitionTime: iso(spec.reconciledAt - 86_400_000) },
      history,
      reconciledAt: iso(spec.reconciledAt),
      operationState,
      sourceType: 'Kustomize',
      summary: { images: [`registry.example.com/${namespace}/${name}:v${i % 13}.4.1`, 'docker.io/istio/proxyv2:1.27.1'] },
      ...(degraded ? { conditions: f.v2.status.conditions } : { resourceHealthSource: 'appTree' }),
      controllerNamespace: 'argocd',
      sourceHydrator: {},
    },
  };
}

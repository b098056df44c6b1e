/**
 * Argo CD Applications for the notification tests: generated large apps in the 3.x shape (what the
 * controller writes: status.resources, a finished operationState with one syncResult entry per
 * resource, history), and a small mesh app whose state a sequence test changes step by step.
 */
type Json = Record<string, unknown>;

const KINDS: ReadonlyArray<[group: string, kind: string]> = [
  ['networking.istio.io', 'VirtualService'],
  ['networking.istio.io', 'DestinationRule'],
  ['security.istio.io', 'AuthorizationPolicy'],
  ['gateway.networking.k8s.io', 'HTTPRoute'],
  ['', 'ConfigMap'],
  ['apps', 'Deployment'],
  ['', 'Service'],
];

/** An app with `n` resources, every `driftEvery`-th OutOfSync (0: none), last synced by a finished operation. */
export function largeApp(n: number, driftEvery = 50, reconciledAt = '2026-11-24T10:03:11Z'): Json {
  const resources = Array.from({ length: n }, (_, i) => {
    const [group, kind] = KINDS[i % KINDS.length] ?? ['', 'ConfigMap'];
    return {
      ...(group === '' ? {} : { group }),
      version: 'v1',
      kind,
      namespace: `team-${i % 40}`,
      name: `${kind.toLowerCase()}-${String(i).padStart(5, '0')}-payments-checkout`,
      status: driftEvery > 0 && i % driftEvery === 0 ? 'OutOfSync' : 'Synced',
      ...(i % 9 === 0 ? { syncWave: 1 } : {}),
    };
  });
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: {
      name: `big-${n}`,
      namespace: 'argocd',
      uid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
      resourceVersion: '7001',
      generation: 9,
      labels: { team: 'payments' },
    },
    spec: {
      project: 'default',
      destination: { server: 'https://kubernetes.default.svc', namespace: 'payments' },
      source: { repoURL: 'https://git.example.com/platform/big.git', path: 'apps/big', targetRevision: 'main' },
    },
    status: {
      sync: {
        status: resources.some((r) => r.status === 'OutOfSync') ? 'OutOfSync' : 'Synced',
        revision: 'a'.repeat(40),
        comparedTo: { source: { repoURL: 'https://git.example.com/platform/big.git' }, destination: {} },
      },
      health: { status: 'Healthy', lastTransitionTime: '2026-11-20T08:12:40Z' },
      resourceHealthSource: 'appTree',
      reconciledAt,
      resources,
      operationState: {
        phase: 'Succeeded',
        message: 'successfully synced (all tasks run)',
        startedAt: '2026-11-20T08:12:00Z',
        finishedAt: '2026-11-20T08:12:40Z',
        operation: { sync: { revision: 'a'.repeat(40), syncStrategy: { hook: {} } }, initiatedBy: { automated: true } },
        syncResult: {
          revision: 'a'.repeat(40),
          source: { repoURL: 'https://git.example.com/platform/big.git', path: 'apps/big', targetRevision: 'main' },
          resources: resources.map((r) => ({
            group: r.group ?? '',
            version: 'v1',
            kind: r.kind,
            namespace: r.namespace,
            name: r.name,
            status: 'Synced',
            message: `${r.kind.toLowerCase()}/${r.name} configured`,
            hookPhase: 'Running',
            syncPhase: 'Sync',
          })),
        },
      },
      history: [
        {
          id: 3,
          revision: 'a'.repeat(40),
          deployedAt: '2026-11-20T08:12:40Z',
          deployStartedAt: '2026-11-20T08:12:00Z',
          source: { repoURL: 'https://git.example.com/platform/big.git' },
        },
      ],
      summary: { images: ['registry.example.com/payments:1.2.3'] },
    },
  };
}

export interface MeshResource {
  group: string;
  kind: string;
  name: string;
}

export const VS: MeshResource = { group: 'networking.istio.io', kind: 'VirtualService', name: 'payments' };
export const AP: MeshResource = { group: 'security.istio.io', kind: 'AuthorizationPolicy', name: 'payments-allow-frontend' };
export const DR: MeshResource = { group: 'networking.istio.io', kind: 'DestinationRule', name: 'payments' };
const ALL = [VS, AP, DR];

export interface AppState {
  /** Resources that are OutOfSync (all others Synced). */
  drifted: readonly MeshResource[];
  health?: string | undefined;
  /** Omit status.health altogether (a new app before its first reconcile). */
  noHealth?: boolean;
  operation?: { phase: string; finishedAt: string } | undefined;
}

/** The small mesh app in `state`, reconciled at `reconciledAt`. */
export function meshAppIn(state: AppState, reconciledAt: string): Json {
  const drifted = new Set(state.drifted.map((r) => r.kind));
  const status: Json = {
    sync: { status: drifted.size > 0 ? 'OutOfSync' : 'Synced', revision: 'b'.repeat(40) },
    resourceHealthSource: 'appTree',
    reconciledAt,
    resources: ALL.map((r) => ({
      group: r.group,
      version: 'v1',
      kind: r.kind,
      namespace: 'payments',
      name: r.name,
      status: drifted.has(r.kind) ? 'OutOfSync' : 'Synced',
    })),
  };
  if (state.noHealth !== true) status['health'] = { status: state.health ?? 'Healthy' };
  if (state.operation)
    status['operationState'] = {
      phase: state.operation.phase,
      startedAt: '2026-11-24T09:00:00Z',
      finishedAt: state.operation.finishedAt,
      message: 'one or more objects failed to apply',
    };
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: {
      name: 'payments-mesh',
      namespace: 'argocd',
      uid: '00000000-0000-4000-8000-0000000000aa',
      resourceVersion: reconciledAt.replace(/\D/g, ''),
      labels: { team: 'payments' },
    },
    spec: { project: 'default', destination: { server: 'https://kubernetes.default.svc', namespace: 'payments' } },
    status,
  };
}

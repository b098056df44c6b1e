import { meshApp } from './argocd.ts';

type Json = Record<string, unknown>;

// Mesh kinds the default policy classifies (security and traffic), in turn.
// (No `version`: Argo CD sends it, but it is optional and the body must stay under 1 MiB.)
const KINDS = [
  { group: 'networking.istio.io', kind: 'VirtualService' },
  { group: 'networking.istio.io', kind: 'DestinationRule' },
  { group: 'networking.istio.io', kind: 'Gateway' },
  { group: 'security.istio.io', kind: 'AuthorizationPolicy' },
  { group: 'networking.istio.io', kind: 'Sidecar' },
] as const;

/**
 * An Argo CD webhook body (`{ app }`) for an app named `name` whose `drifted` resources are all
 * OutOfSync mesh objects: the "large snapshot" of issue #12 (10,000 of them are a 0.9 MB body,
 * under the webhook's 1 MiB limit). Built from the real fixture (test/support/argocd.ts), with only
 * its name, namespace, resources and reconciledAt changed.
 */
export function bigSnapshotBody(name: string, drifted: number, reconciledAt = new Date().toISOString()): { app: Json } {
  const app = meshApp('OutOfSync', reconciledAt) as Json & { metadata: Json; status: Json };
  app.metadata = { ...app.metadata, name, uid: undefined };
  app.status.resources = Array.from({ length: drifted }, (_, i) => ({
    ...KINDS[i % KINDS.length],
    ...(i % 2 === 0 ? { namespace: 'mesh' } : {}),
    name: `r${i}`,
    status: 'OutOfSync',
  }));
  return { app };
}

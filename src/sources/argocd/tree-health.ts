import type { Signal } from '../../model/signal.ts';
import type { ListedApplication, ResourceTree } from './api.ts';

/**
 * Per-resource health for polled Applications (argocd/poller.ts): Argo CD >= 3.0 keeps it out of the
 * list (reference/argocd.md §0.1), so an app whose health is Degraded or Missing gets it from its
 * resource tree. Pure.
 */

/** App health codes under which some resource may be unhealthy (gitops-engine pkg/health/health.go healthOrder). */
const TREE_HEALTH = new Set(['Degraded', 'Missing']);

/**
 * Whether the list lacks the per-resource health this app needs: its health is Degraded or Missing
 * and its resources carry none (3.x `resourceHealthSource: appTree`; 2.x lists had it inline).
 */
export function needsResourceTree(app: ListedApplication): boolean {
  const health = app.status?.health?.status;
  if (health === undefined || !TREE_HEALTH.has(health)) return false;
  const resources = app.status?.resources ?? [];
  if (resources.length === 0) return false;
  return app.status?.resourceHealthSource === 'appTree' || !resources.some((r) => r.health !== undefined);
}

const resourceKey = (group: string | undefined, kind: string, namespace: string | undefined, name: string): string =>
  `${group ?? ''}/${kind}/${namespace ?? ''}/${name}`;

/**
 * Health per resource from a tree, as the API server fills `status.resources[].health` on GET
 * (`inferResourcesStatusHealth`, server/application/application.go L2912-2933): a node's health,
 * or Missing for a node that was never created (no resourceVersion, uid nor createdAt).
 */
export function healthFromTree(tree: ResourceTree): Map<string, { status: string; message?: string }> {
  const out = new Map<string, { status: string; message?: string }>();
  for (const node of tree.nodes ?? []) {
    const key = resourceKey(node.group, node.kind, node.namespace, node.name);
    if (node.health?.status !== undefined) {
      out.set(key, { status: node.health.status, ...(node.health.message !== undefined ? { message: node.health.message } : {}) });
    } else if (node.resourceVersion === undefined && node.uid === undefined && node.createdAt === undefined) {
      out.set(key, { status: 'Missing', message: 'Resource has not been created' });
    }
  }
  return out;
}

/**
 * The app with each resource's health taken from its tree where the list had none. application.ts
 * then combines it with the sync status as for any app: Synced + Degraded/Missing is Unhealthy,
 * OutOfSync + Missing is Missing, other OutOfSync stays Modified.
 */
export function withTreeHealth(app: ListedApplication, tree: ResourceTree): ListedApplication {
  const status = app.status;
  if (!status?.resources) return app;
  const health = healthFromTree(tree);
  return {
    ...app,
    status: {
      ...status,
      resources: status.resources.map((r) => {
        if (r.health !== undefined) return r;
        const h = health.get(resourceKey(r.group, r.kind, r.namespace, r.name));
        return h === undefined ? r : { ...r, health: h };
      }),
    },
  };
}

/**
 * When an app's tree could not be read, its snapshot still speaks for its sync drift, not for
 * health-derived states: an Unhealthy or Missing finding found by an earlier poll stays as it is.
 */
export const WITHOUT_TREE_COVERS: NonNullable<Signal['covers']> = { states: ['Modified', 'Extraneous'] };

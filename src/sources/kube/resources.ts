import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { WatchKind } from '../../config/clusters.ts';

/** The API coordinates of a watched custom resource. */
export interface CustomResource {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const APPLICATIONS: CustomResource = { group: 'argoproj.io', version: 'v1alpha1', plural: 'applications', kind: 'Application' };
export const KUSTOMIZATIONS: CustomResource = { group: 'kustomize.toolkit.fluxcd.io', version: 'v1', plural: 'kustomizations', kind: 'Kustomization' };
export const HELMRELEASES: CustomResource = { group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases', kind: 'HelmRelease' };

export const CUSTOM_RESOURCES: Record<Exclude<WatchKind, 'events'>, CustomResource> = {
  applications: APPLICATIONS,
  kustomizations: KUSTOMIZATIONS,
  helmreleases: HELMRELEASES,
};

/** The Flux controllers whose core Events are drift evidence; one informer each (field selectors cannot OR). */
export const FLUX_EVENT_COMPONENTS = ['kustomize-controller', 'helm-controller'] as const;

/** `/apis/<group>/<version>[/namespaces/<ns>]/<plural>`: the path the informer watches. */
export function customResourcePath(r: CustomResource, namespace?: string): string {
  return namespace === undefined ? `/apis/${r.group}/${r.version}/${r.plural}` : `/apis/${r.group}/${r.version}/namespaces/${namespace}/${r.plural}`;
}

export function eventsPath(namespace?: string): string {
  return namespace === undefined ? '/api/v1/events' : `/api/v1/namespaces/${namespace}/events`;
}

/** One page of a list call, as the informer's list function needs it. */
export interface ListPage {
  items: unknown[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export interface ListPageRequest {
  limit: number;
  continue?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export type ListPageFn = (req: ListPageRequest) => Promise<ListPage>;

const asPage = (body: unknown): ListPage => {
  const b = (typeof body === 'object' && body !== null ? body : {}) as {
    items?: unknown;
    metadata?: { resourceVersion?: unknown; _continue?: unknown; continue?: unknown };
  };
  const items = Array.isArray(b.items) ? (b.items as unknown[]) : [];
  const rv = b.metadata?.resourceVersion;
  // The typed client renames `continue` to `_continue`; the raw custom-objects body keeps `continue`.
  const cont = b.metadata?._continue ?? b.metadata?.continue;
  return {
    items,
    metadata: { ...(typeof rv === 'string' ? { resourceVersion: rv } : {}), ...(typeof cont === 'string' && cont !== '' ? { continue: cont } : {}) },
  };
};

/** Lists a custom resource with the client's CustomObjectsApi (raw JSON bodies). */
export function customResourceLister(kc: KubeConfig, r: CustomResource, namespace?: string): ListPageFn {
  const api = kc.makeApiClient(CustomObjectsApi);
  return async (req) => {
    const common = {
      group: r.group,
      version: r.version,
      plural: r.plural,
      limit: req.limit,
      ...(req.continue !== undefined ? { _continue: req.continue } : {}),
      ...(req.labelSelector !== undefined ? { labelSelector: req.labelSelector } : {}),
      ...(req.fieldSelector !== undefined ? { fieldSelector: req.fieldSelector } : {}),
    };
    const body: unknown = namespace === undefined ? await api.listClusterCustomObject(common) : await api.listNamespacedCustomObject({ ...common, namespace });
    return asPage(body);
  };
}

/** Lists core Events with the client's CoreV1Api. */
export function eventLister(kc: KubeConfig, namespace?: string): ListPageFn {
  const api = kc.makeApiClient(CoreV1Api);
  return async (req) => {
    const common = {
      limit: req.limit,
      ...(req.continue !== undefined ? { _continue: req.continue } : {}),
      ...(req.labelSelector !== undefined ? { labelSelector: req.labelSelector } : {}),
      ...(req.fieldSelector !== undefined ? { fieldSelector: req.fieldSelector } : {}),
    };
    const body: unknown = namespace === undefined ? await api.listEventForAllNamespaces(common) : await api.listNamespacedEvent({ ...common, namespace });
    return asPage(body);
  };
}

import type { FakeResource } from '../fakes/kube-api.ts';

/**
 * Mesh objects as the apiserver serves them (issue #16 tests): Istio VirtualService and
 * AuthorizationPolicy, Gateway API HTTPRoute, with the labels, annotations and managedFields Argo CD
 * (`argocd-controller`, client-side apply: operation Update, last-applied annotation), Flux
 * (`kustomize-controller`, server-side apply: operation Apply) and kubectl (`kubectl-edit`,
 * `kubectl-client-side-apply`: Update) write. managedFields shapes follow the apiserver's
 * (`fieldsV1` tries of `f:` keys; CRD lists without list-type are atomic, owned whole).
 */

export const VIRTUAL_SERVICES: FakeResource = { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', kind: 'VirtualService' };
export const AUTHORIZATION_POLICIES: FakeResource = { group: 'security.istio.io', version: 'v1', plural: 'authorizationpolicies', kind: 'AuthorizationPolicy' };
export const HTTP_ROUTES: FakeResource = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', kind: 'HTTPRoute' };

/** A header credential and a JWT the object carries: they must never leave meshdrift. */
export const HEADER_SECRET = 'hdr-S3cr3t-value-9f2c41';
export const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJtZXNoZHJpZnQtdGVzdCIsImF1ZCI6InJldmlld3MifQ.c2lnbmF0dXJlLXNlY3JldC1wYXJ0';

export const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export type Owner = { tool: 'argocd'; app: string } | { tool: 'flux'; kustomization: string; namespace: string };

function markers(owner: Owner | undefined, ref: { group: string; kind: string; namespace: string; name: string }) {
  if (owner === undefined) return { labels: { app: 'reviews' }, annotations: {} };
  if (owner.tool === 'argocd') {
    return {
      labels: { app: 'reviews', 'app.kubernetes.io/instance': owner.app },
      annotations: { 'argocd.argoproj.io/tracking-id': `${owner.app}:${ref.group}/${ref.kind}:${ref.namespace}/${ref.name}` },
    };
  }
  return {
    labels: { app: 'reviews', 'kustomize.toolkit.fluxcd.io/name': owner.kustomization, 'kustomize.toolkit.fluxcd.io/namespace': owner.namespace },
    annotations: {},
  };
}

export interface Entry {
  manager: string;
  operation: 'Update' | 'Apply';
  time: number;
  fields: Record<string, unknown>;
  subresource?: string;
}

export const entry = (manager: string, operation: 'Update' | 'Apply', time: number, fields: Record<string, unknown>, subresource?: string): Entry => ({
  manager,
  operation,
  time,
  fields,
  ...(subresource ? { subresource } : {}),
});

function managedFields(entries: readonly Entry[]) {
  return entries.map((e) => ({
    manager: e.manager,
    operation: e.operation,
    apiVersion: 'networking.istio.io/v1',
    time: iso(e.time),
    fieldsType: 'FieldsV1',
    fieldsV1: e.fields,
    ...(e.subresource ? { subresource: e.subresource } : {}),
  }));
}

/** The `spec.http` of the reviews VirtualService: two weighted routes and request headers (one a credential, one a JWT). */
export function reviewsHttp(weights: [number, number], extra: Record<string, unknown> = {}, secret = HEADER_SECRET) {
  return [
    {
      name: 'primary',
      headers: { request: { set: { 'x-api-key': secret, 'x-forwarded-jwt': JWT, 'x-env': 'prod' } } },
      route: [
        { destination: { host: 'reviews', subset: 'v1' }, weight: weights[0] },
        { destination: { host: 'reviews', subset: 'v2' }, weight: weights[1] },
      ],
      ...extra,
    },
  ];
}

/** Fields a writer of the whole spec (hosts, gateways, http) owns. */
export const SPEC_FIELDS = { 'f:spec': { '.': {}, 'f:hosts': {}, 'f:http': {} } };
export const HOSTS_ONLY = { 'f:spec': { '.': {}, 'f:hosts': {} } };
export const HTTP_ONLY = { 'f:spec': { 'f:http': {} } };

const ownerMeta = (owner: Owner | undefined) =>
  owner?.tool === 'argocd'
    ? {
        'f:metadata': {
          'f:annotations': { '.': {}, 'f:argocd.argoproj.io/tracking-id': {} },
          'f:labels': { '.': {}, 'f:app': {}, 'f:app.kubernetes.io/instance': {} },
        },
      }
    : owner?.tool === 'flux'
      ? { 'f:metadata': { 'f:labels': { 'f:app': {}, 'f:kustomize.toolkit.fluxcd.io/name': {}, 'f:kustomize.toolkit.fluxcd.io/namespace': {} } } }
      : {};

/** The writer entry a GitOps tool leaves: Argo CD client-side apply (Update) or Flux server-side apply (Apply). */
export function gitopsEntry(owner: Owner, time: number, fields: Record<string, unknown> = SPEC_FIELDS): Entry {
  return owner.tool === 'argocd'
    ? entry('argocd-controller', 'Update', time, { ...ownerMeta(owner), ...fields })
    : entry('kustomize-controller', 'Apply', time, { ...ownerMeta(owner), ...fields });
}

export function virtualService(opts: { name?: string; namespace?: string; owner?: Owner; http: unknown; managers: readonly Entry[]; uid?: string }) {
  const namespace = opts.namespace ?? 'bookinfo';
  const name = opts.name ?? 'reviews';
  const m = markers(opts.owner, { group: 'networking.istio.io', kind: 'VirtualService', namespace, name });
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {
      name,
      namespace,
      uid: opts.uid ?? `uid-vs-${namespace}-${name}`,
      generation: 1,
      creationTimestamp: '2026-12-01T09:00:00Z',
      labels: m.labels,
      annotations: m.annotations,
      managedFields: managedFields(opts.managers),
    },
    spec: { hosts: ['reviews'], http: opts.http },
  };
}

/** A hand-made ALLOW AuthorizationPolicy (kubectl apply), owned by no GitOps tool. */
export function handMadeAuthorizationPolicy(time: number) {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: {
      name: 'allow-debug',
      namespace: 'bookinfo',
      uid: 'uid-ap-allow-debug',
      generation: 1,
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"spec":{"action":"ALLOW"},"x":"${HEADER_SECRET}"}` },
      managedFields: managedFields([
        entry('kubectl-client-side-apply', 'Update', time, { 'f:metadata': { 'f:annotations': {} }, 'f:spec': { '.': {}, 'f:action': {}, 'f:rules': {} } }),
      ]),
    },
    spec: {
      action: 'ALLOW',
      rules: [{ from: [{ source: { principals: ['*'] } }], when: [{ key: 'request.headers[authorization]', values: [`Bearer ${JWT}`] }] }],
    },
  };
}

/** An HTTPRoute its Gateway did not accept (Gateway API route status). */
export function rejectedHttpRoute(owner: Owner, time: number) {
  const m = markers(owner, { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'bookinfo', name: 'reviews-route' });
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: {
      name: 'reviews-route',
      namespace: 'bookinfo',
      uid: 'uid-route',
      generation: 2,
      labels: m.labels,
      annotations: m.annotations,
      managedFields: managedFields([gitopsEntry(owner, time, { 'f:spec': { 'f:parentRefs': {}, 'f:rules': {} } })]),
    },
    spec: { parentRefs: [{ name: 'public', sectionName: 'https' }], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] },
    status: {
      parents: [
        {
          parentRef: { name: 'public', sectionName: 'https' },
          controllerName: 'istio.io/gateway-controller',
          conditions: [
            {
              type: 'Accepted',
              status: 'False',
              reason: 'NotAllowedByListeners',
              message: 'hostname does not match any listener',
              observedGeneration: 2,
              lastTransitionTime: iso(time),
            },
          ],
        },
      ],
    },
  };
}

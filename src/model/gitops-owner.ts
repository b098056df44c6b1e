import type { OwnerRef } from './signal.ts';

/**
 * Which GitOps object owns a live Kubernetes object, read from the markers Argo CD and Flux put on
 * what they apply (issues #16, #17). The owner found here is the one the Argo CD and Flux sources
 * put in their signals (sources/argocd/application.ts: the Application's namespace and name;
 * sources/flux/normalize.ts: the Kustomization's or HelmRelease's), so a finding built from a live
 * object has the fingerprint of the tool's own verdict on it: one finding, not two.
 *
 * Markers, first match wins:
 * 1. Argo CD annotation tracking, `argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<ns>/<name>`
 *    (`<app-namespace>_<app>` for apps outside Argo CD's namespace). Argo CD ignores a tracking id
 *    that names another object (a copied manifest), and so does this.
 * 2. Flux helm-controller labels `helm.toolkit.fluxcd.io/{name,namespace}` (HelmRelease).
 * 3. Flux kustomize-controller labels `kustomize.toolkit.fluxcd.io/{name,namespace}` (Kustomization).
 * 4. Argo CD label tracking, `app.kubernetes.io/instance: <app>` (the label key is configurable,
 *    '' turns it off). Helm charts set the same label to their release name, so an object Helm
 *    installed by hand looks Argo-managed under label tracking: last, and only when configured.
 */
export interface GitOpsOwnerOptions {
  /** The namespace of Argo CD's Applications when the marker does not name one (Argo CD's own). */
  argoCdNamespace: string;
  /** Argo CD's instance label (`application.instanceLabelKey`); '' when label tracking is off. */
  argoCdInstanceLabel: string;
}

export const ARGOCD_TRACKING_ANNOTATION = 'argocd.argoproj.io/tracking-id';
export const FLUX_KUSTOMIZE_LABEL = 'kustomize.toolkit.fluxcd.io';
export const FLUX_HELM_LABEL = 'helm.toolkit.fluxcd.io';

export interface ObjectIdentity {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

export interface ObjectMarkers {
  labels?: Readonly<Record<string, string>> | undefined;
  annotations?: Readonly<Record<string, string>> | undefined;
}

/** A DNS-1123 label (namespace) or subdomain (object name), as Kubernetes accepts them. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The Argo CD app a tracking id names, if it names this object. */
function fromTrackingId(value: string, obj: ObjectIdentity, argoCdNamespace: string): OwnerRef | undefined {
  if (value.length > 1024) return undefined;
  const first = value.indexOf(':');
  if (first <= 0) return undefined;
  const app = value.slice(0, first);
  // The rest is `<group>/<kind>:<namespace>/<name>`; Argo CD compares it with the object itself.
  const rest = value.slice(first + 1);
  if (rest !== `${obj.group}/${obj.kind}:${obj.namespace}/${obj.name}`) return undefined;
  const sep = app.indexOf('_');
  const [namespace, name] = sep === -1 ? [argoCdNamespace, app] : [app.slice(0, sep), app.slice(sep + 1)];
  if (!DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name)) return undefined;
  return { kind: 'Application', namespace, name };
}

function fromFluxLabels(labels: Readonly<Record<string, string>>, prefix: string, kind: string): OwnerRef | undefined {
  const name = labels[`${prefix}/name`];
  const namespace = labels[`${prefix}/namespace`];
  if (name === undefined || namespace === undefined) return undefined;
  if (!DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name)) return undefined;
  return { kind, namespace, name };
}

/** The GitOps owner of a live object, or undefined when no marker names one (the object is unmanaged). */
export function gitOpsOwnerOf(obj: ObjectIdentity, markers: ObjectMarkers, opts: GitOpsOwnerOptions): OwnerRef | undefined {
  const labels = markers.labels ?? {};
  const tracking = markers.annotations?.[ARGOCD_TRACKING_ANNOTATION];
  if (tracking !== undefined) {
    const owner = fromTrackingId(tracking, obj, opts.argoCdNamespace);
    if (owner) return owner;
  }
  const flux = fromFluxLabels(labels, FLUX_HELM_LABEL, 'HelmRelease') ?? fromFluxLabels(labels, FLUX_KUSTOMIZE_LABEL, 'Kustomization');
  if (flux) return flux;
  if (opts.argoCdInstanceLabel !== '') {
    const app = labels[opts.argoCdInstanceLabel];
    if (app !== undefined && DNS_SUBDOMAIN.test(app)) return { kind: 'Application', namespace: opts.argoCdNamespace, name: app };
  }
  return undefined;
}

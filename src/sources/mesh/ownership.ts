import type { OwnerRef } from '../../model/signal.ts';
import type { ManagerSummary } from './fields.ts';

/**
 * Which GitOps object owns a live mesh object (issue #16), from the markers Argo CD and Flux put on
 * what they apply, so that what the mesh watch reports lands on the same finding (same
 * fingerprint: cluster, tool, owner, resource) as what the Argo CD and Flux sources report:
 *
 * - Flux: helm-controller labels `helm.toolkit.fluxcd.io/name` + `/namespace` (the HelmRelease),
 *   else kustomize-controller labels `kustomize.toolkit.fluxcd.io/name` + `/namespace` (the
 *   Kustomization). The Flux sources name the owner by the Flux object's own namespace and name
 *   (sources/flux/status.ts ownerOfObject, sources/flux/normalize.ts ownerOf): so do these labels.
 * - Argo CD: the annotation `argocd.argoproj.io/tracking-id` (`<app>:<group>/<kind>:<ns>/<name>`,
 *   the default from Argo CD 3) or the instance label (`app.kubernetes.io/instance` by default,
 *   Argo CD's `application.instanceLabelKey`); which one is in use is Argo CD configuration, so
 *   both are read. `<app>` is `<namespace>_<name>` for an app outside Argo CD's own namespace
 *   ("apps in any namespace"), else the bare name, whose namespace is Argo CD's (default
 *   `argocd`). The Argo CD sources name the owner by the Application's metadata.namespace and
 *   name (sources/argocd/application.ts). The instance label is also what Helm charts set to the
 *   release name, so it is believed only when an Argo CD manager wrote the object (managedFields).
 * Flux markers win over Argo CD ones (a HelmRelease's objects carry chart labels too).
 */

export const ARGOCD_TRACKING_ANNOTATION = 'argocd.argoproj.io/tracking-id';
export const DEFAULT_ARGOCD_INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const FLUX_KUSTOMIZE_NAME = 'kustomize.toolkit.fluxcd.io/name';
export const FLUX_KUSTOMIZE_NAMESPACE = 'kustomize.toolkit.fluxcd.io/namespace';
export const FLUX_HELM_NAME = 'helm.toolkit.fluxcd.io/name';
export const FLUX_HELM_NAMESPACE = 'helm.toolkit.fluxcd.io/namespace';

/** The field managers of the GitOps tools (argo-cd common/common.go, kustomize-controller and helm-controller main.go). */
export const DEFAULT_GITOPS_MANAGERS: readonly string[] = ['argocd-controller', 'argocd-application-controller', 'kustomize-controller', 'helm-controller'];
const ARGOCD_MANAGERS = new Set(['argocd-controller', 'argocd-application-controller']);

export interface OwnershipSettings {
  /** Namespace of Applications named without one (Argo CD's own namespace); default `argocd`. */
  argocdNamespace: string;
  /** Argo CD's instance label key; default `app.kubernetes.io/instance`. */
  argocdInstanceLabel: string;
}

export const DEFAULT_OWNERSHIP: OwnershipSettings = { argocdNamespace: 'argocd', argocdInstanceLabel: DEFAULT_ARGOCD_INSTANCE_LABEL };

/** The markers the slim object keeps: the Flux labels, the instance label and the tracking id. */
export function ownerMarkers(
  labels: Readonly<Record<string, string>> | undefined,
  annotations: Readonly<Record<string, string>> | undefined,
  settings: OwnershipSettings,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of [FLUX_KUSTOMIZE_NAME, FLUX_KUSTOMIZE_NAMESPACE, FLUX_HELM_NAME, FLUX_HELM_NAMESPACE, settings.argocdInstanceLabel]) {
    const v = labels?.[key];
    if (v !== undefined) out[key] = v.slice(0, 253);
  }
  const tracking = annotations?.[ARGOCD_TRACKING_ANNOTATION];
  if (tracking !== undefined) out[ARGOCD_TRACKING_ANNOTATION] = tracking.slice(0, 1024);
  return out;
}

/** An Argo CD app reference (`name` or `namespace_name`) as the Application's owner ref. */
export function argoApplication(app: string, settings: OwnershipSettings): OwnerRef | null {
  if (app === '') return null;
  const sep = app.indexOf('_');
  if (sep === -1) return { kind: 'Application', namespace: settings.argocdNamespace, name: app };
  const namespace = app.slice(0, sep);
  const name = app.slice(sep + 1);
  return namespace === '' || name === '' ? null : { kind: 'Application', namespace, name };
}

/** The app part of a tracking id (`<app>:<group>/<kind>:<ns>/<name>`), or null. */
export function trackingApp(trackingId: string): string | null {
  const colon = trackingId.indexOf(':');
  return colon <= 0 ? null : trackingId.slice(0, colon);
}

/** The GitOps owner of an object, or null: unmanaged. */
export function ownerOf(markers: Readonly<Record<string, string>>, managers: readonly ManagerSummary[], settings: OwnershipSettings): OwnerRef | null {
  const helmName = markers[FLUX_HELM_NAME];
  const helmNs = markers[FLUX_HELM_NAMESPACE];
  if (helmName && helmNs) return { kind: 'HelmRelease', namespace: helmNs, name: helmName };
  const ksName = markers[FLUX_KUSTOMIZE_NAME];
  const ksNs = markers[FLUX_KUSTOMIZE_NAMESPACE];
  if (ksName && ksNs) return { kind: 'Kustomization', namespace: ksNs, name: ksName };
  const tracking = markers[ARGOCD_TRACKING_ANNOTATION];
  const app = tracking === undefined ? null : trackingApp(tracking);
  if (app !== null) return argoApplication(app, settings);
  const instance = markers[settings.argocdInstanceLabel];
  if (instance && managers.some((m) => ARGOCD_MANAGERS.has(m.manager))) return argoApplication(instance, settings);
  return null;
}

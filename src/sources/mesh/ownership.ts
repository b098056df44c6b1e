import { gitOpsOwnerOf, type ObjectIdentity, type ObjectMarkers } from '../../model/gitops-owner.ts';
import type { OwnerRef } from '../../model/signal.ts';
import type { ManagerSummary } from './fields.ts';

/**
 * Which GitOps object owns a live mesh object (issue #16): model/gitops-owner.ts reads the markers
 * Argo CD and Flux put on what they apply, so that what the mesh watch reports lands on the same
 * finding (same fingerprint: cluster, tool, owner, resource) as what the Argo CD and Flux sources
 * report:
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
 * A tracking id that names another object (a copied manifest) is ignored, as Argo CD ignores it.
 */

/** The field managers of the GitOps tools (argo-cd common/common.go, kustomize-controller and helm-controller main.go). */
export const DEFAULT_GITOPS_MANAGERS: readonly string[] = ['argocd-controller', 'argocd-application-controller', 'kustomize-controller', 'helm-controller'];
const ARGOCD_MANAGERS = new Set(['argocd-controller', 'argocd-application-controller']);

export interface OwnershipSettings {
  /** Namespace of Applications named without one (Argo CD's own namespace); default `argocd`. */
  argocdNamespace: string;
  /** Argo CD's instance label key; default `app.kubernetes.io/instance`. */
  argocdInstanceLabel: string;
}

export const DEFAULT_OWNERSHIP: OwnershipSettings = { argocdNamespace: 'argocd', argocdInstanceLabel: 'app.kubernetes.io/instance' };

/**
 * The GitOps owner of an object (model/gitops-owner.ts), or undefined: unmanaged. The instance
 * label alone (label tracking) is believed only when an Argo CD manager wrote the object: Helm
 * charts set the same label to their release name.
 */
export function ownerOf(obj: ObjectIdentity, markers: ObjectMarkers, managers: readonly ManagerSummary[], settings: OwnershipSettings): OwnerRef | undefined {
  const opts = { argoCdNamespace: settings.argocdNamespace, argoCdInstanceLabel: '' };
  const owner = gitOpsOwnerOf(obj, markers, opts);
  if (owner !== undefined || !managers.some((m) => ARGOCD_MANAGERS.has(m.manager))) return owner;
  return gitOpsOwnerOf(obj, markers, { ...opts, argoCdInstanceLabel: settings.argocdInstanceLabel });
}

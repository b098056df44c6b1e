import type { RemediationClient } from './action.ts';
import { createArgoCdOperationClient } from './argocd-operation.ts';
import { createArgoCdSyncClient } from './argocd-sync.ts';
import { createFluxReconcileClient } from './flux-reconcile.ts';
import { createAxiosKubeHttp, type KubeHttp } from './kube-http.ts';
import type { RemediationAction } from './policy.ts';

/** Where a remediate receiver's action goes: what {@link buildRemediationClient} needs. */
export interface RemediationClientOptions {
  /** The policy's receiver name (audit records and idempotency keys carry it). */
  name: string;
  /** Needed for `argocd-sync`. */
  argocd?: { apiUrl: string; token: string; controlPlaneNamespace?: string; timeoutMs?: number };
  /** `flux-reconcile` by a base URL and bearer token, or a ready Kubernetes transport (else `kube`). */
  flux?: { apiUrl: string; token: string; timeoutMs?: number } | { http: KubeHttp };
  /**
   * The Kubernetes API of the policy's `kube.cluster` (kube-http.ts `createKubeConfigHttp`): needed
   * for `argocd-operation`, and for `flux-reconcile` without `flux`.
   */
  kube?: KubeHttp;
  /** `flux-reconcile`: annotate the owner's source first (`source_first`). */
  sourceFirst?: boolean;
  now: () => number;
}

/** The client of the receiver's action; a missing transport is a configuration error (thrown, at policy load). */
export function buildRemediationClient(action: RemediationAction, opts: RemediationClientOptions): RemediationClient {
  if (action === 'argocd-sync') {
    if (!opts.argocd) throw new Error(`remediate receiver "${opts.name}": argocd-sync needs the Argo CD API URL and token`);
    return createArgoCdSyncClient(opts.argocd);
  }
  if (action === 'argocd-operation') {
    if (!opts.kube)
      throw new Error(`remediate receiver "${opts.name}": argocd-operation needs the Kubernetes API of a MESHDRIFT_CLUSTERS cluster (kube.cluster)`);
    return createArgoCdOperationClient({ http: opts.kube });
  }
  const sourceFirst = opts.sourceFirst === true;
  const f = opts.flux;
  if (!f) {
    if (!opts.kube)
      throw new Error(
        `remediate receiver "${opts.name}": flux-reconcile needs the Kubernetes API URL and token, or a MESHDRIFT_CLUSTERS cluster (kube.cluster)`,
      );
    return createFluxReconcileClient({ http: opts.kube, now: opts.now, sourceFirst });
  }
  if ('http' in f) return createFluxReconcileClient({ http: f.http, now: opts.now, sourceFirst });
  return createFluxReconcileClient({ http: createAxiosKubeHttp(f), now: opts.now, token: f.token, sourceFirst });
}

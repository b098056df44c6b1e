import { kubeConfigFor, type ClusterConfig } from '../config/clusters.ts';
import type { ReceiverConfig } from '../config/policy.ts';
import { ReceiverConfigError, secret, type ReceiverDeps, type ReceiverFactory } from '../deliver/receivers.ts';
import type { AuditTrail, RemediationOutcome } from './audit.ts';
import { createKubeConfigHttp, type KubeHttp } from './kube-http.ts';
import type { RemediationAction, RemediationConfigInput } from './policy.ts';
import { createRemediator } from './remediator.ts';

/** What the `remediate` receivers of a policy need besides the receivers' common deps. */
export interface RemediateReceiverDeps {
  /** Where remediation receivers record every decision and action. */
  audit: AuditTrail;
  /** Called once per audited outcome (`meshdrift_remediations_total`). */
  onRemediation?: (action: RemediationAction, outcome: RemediationOutcome) => void;
  /** MESHDRIFT_CLUSTERS as loadEnv parsed it (Env.kubeSources.clusters): what `kube.cluster` may name. */
  clusters?: readonly ClusterConfig[];
  /** MESHDRIFT_ARGOCD_DESTINATIONS (Env): which meshdrift cluster an Application's destination is, for `clusters`. */
  destinations?: ReadonlyMap<string, string>;
}

type RemediateConfig = NonNullable<ReceiverConfig['remediate']>;

/** The remediator's guardrail settings from the policy's `remediate` block. */
function remediationConfig(cfg: RemediateConfig): RemediationConfigInput {
  return {
    action: cfg.action,
    dryRun: cfg.dry_run,
    prune: cfg.prune,
    maxPerHour: cfg.max_per_hour,
    flap: { max: cfg.flap.max, withinMs: cfg.flap.within, ...(cfg.flap.escalate_severity ? { escalateSeverity: cfg.flap.escalate_severity } : {}) },
    verifyTimeoutMs: cfg.verify_timeout,
    categories: cfg.categories,
    escalationSeverity: cfg.escalation_severity,
    scope: {
      ...(cfg.clusters ? { clusters: cfg.clusters } : {}),
      ...(cfg.projects ? { projects: cfg.projects } : {}),
      ...(cfg.namespaces ? { namespaces: cfg.namespaces } : {}),
    },
    // Through a cluster's own API, only that cluster's owners.
    ...(cfg.kube ? { cluster: cfg.kube.cluster } : {}),
  };
}

/**
 * The Kubernetes API of the MESHDRIFT_CLUSTERS cluster a remediate receiver names (`kube.cluster`),
 * with that cluster's credentials. An unlisted name, or a kubeconfig that cannot be loaded, is a
 * configuration error now rather than a failed remediation later.
 */
function kubeHttpOf(clusters: readonly ClusterConfig[], receiver: string, cluster: string): KubeHttp {
  const found = clusters.find((c) => c.name === cluster);
  if (!found) {
    const listed = clusters.map((c) => c.name).join(', ');
    throw new ReceiverConfigError(
      `receiver "${receiver}": kube.cluster "${cluster}" is not in MESHDRIFT_CLUSTERS (${listed === '' ? 'it is empty' : `it lists ${listed}`})`,
    );
  }
  try {
    return createKubeConfigHttp(kubeConfigFor(found));
  } catch (err) {
    throw new ReceiverConfigError(`receiver "${receiver}": kube.cluster: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Builds the policy's `remediate` receivers (deliver/receivers.ts `createNotifiers`, from the composition root). */
export function remediateReceiverFactory(rd: RemediateReceiverDeps): ReceiverFactory {
  return (r: ReceiverConfig, deps: ReceiverDeps) => {
    const cfg = r.remediate;
    if (!cfg) throw new ReceiverConfigError(`receiver "${r.name}": missing remediate settings`);
    return createRemediator({
      name: r.name,
      config: remediationConfig(cfg),
      ...(cfg.argocd
        ? { argocd: { apiUrl: cfg.argocd.url, token: secret(deps, r.name, cfg.argocd.token_env), controlPlaneNamespace: cfg.argocd.namespace } }
        : {}),
      ...(cfg.flux ? { flux: { apiUrl: cfg.flux.api_url, token: secret(deps, r.name, cfg.flux.token_env) } } : {}),
      ...(cfg.kube ? { kube: kubeHttpOf(rd.clusters ?? [], r.name, cfg.kube.cluster) } : {}),
      sourceFirst: cfg.source_first,
      ...(cfg.escalate_to ? { escalateTo: cfg.escalate_to } : {}),
      redis: deps.redis,
      keyPrefix: deps.keyPrefix,
      now: deps.now ?? Date.now,
      audit: rd.audit,
      ...(deps.bestEffort ? { bestEffort: deps.bestEffort } : {}),
      ...(rd.onRemediation ? { onOutcome: rd.onRemediation } : {}),
      ...(rd.destinations ? { destinations: rd.destinations } : {}),
    });
  };
}

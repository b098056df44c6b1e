import type { OwnerRef } from './signal.ts';

/**
 * The one home of an owner's string forms (issue #14). An owner is the GitOps object (Argo CD
 * Application, Flux Kustomization or HelmRelease) that holds the drifted resources, in one cluster,
 * seen through one tool. Most forms below are persisted (Redis keys, BullMQ job ids, note ids), so
 * each keeps the exact bytes it had when it lived in its feature folder; golden tests in
 * test/unit/model/owner.test.ts pin them. A new use picks one of these, never a new spelling.
 */
export interface OwnerIdentity {
  readonly cluster: string;
  /** GitOpsTool, or `meshdrift` for meshdrift's own findings. */
  readonly tool: string;
  readonly owner: OwnerRef;
}

/**
 * cluster/tool/kind/namespace/name, each part URI-encoded, so the key is unambiguous. Persisted:
 * the Slack receiver's owner → message index (`…:slack:owner:<key>`), the remediation keys of an
 * owner (`…:remediate:{actions,defer,latest}:…`) and escalation note ids (their job id digests it).
 */
export function ownerKey(o: OwnerIdentity): string {
  return [o.cluster, o.tool, o.owner.kind, o.owner.namespace, o.owner.name].map(encodeURIComponent).join('/');
}

/**
 * cluster/tool/kind/namespace/name as they are (a name holding `/` is ambiguous; kept because it is
 * persisted): the tracker's scope key, hashed into the owner → groups set key
 * (track/redis-store.ts `ownerGroupsKey`), and the remediation job id and its deduplication id.
 */
export function ownerPath(o: OwnerIdentity): string {
  return `${o.cluster}/${o.tool}/${o.owner.kind}/${o.owner.namespace}/${o.owner.name}`;
}

/**
 * cluster, kind, namespace, name joined by NUL (which no Kubernetes name holds), without the tool:
 * one Flux object whatever reported it. Persisted hashed as the Flux revision memory key
 * (sources/flux/revision-store.ts); also the Flux inventory index's key.
 */
export function clusterOwnerId(cluster: string, owner: OwnerRef): string {
  return [cluster, owner.kind, owner.namespace, owner.name].join('\u0000');
}

/**
 * cluster/kind/namespace/name, readable: not persisted. The Flux watch's and the audit cycle's
 * per-owner maps, and the audit's error text.
 */
export function clusterOwnerPath(cluster: string, owner: OwnerRef): string {
  return [cluster, owner.kind, owner.namespace, owner.name].join('/');
}

/** `Application argocd/payments` (for reasons and notes; no cluster, which the audit record carries). */
export function ownerLabel(o: Pick<OwnerIdentity, 'owner'>): string {
  return `${o.owner.kind} ${o.owner.namespace === '' ? '' : `${o.owner.namespace}/`}${o.owner.name}`;
}

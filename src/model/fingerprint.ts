import { hash } from 'node:crypto';
import type { GitOpsTool, OwnerRef, ResourceRef } from './signal.ts';

// A separator that cannot appear in Kubernetes names, so ('a/b','c') and ('a','b/c') differ.
const SEP = '\u0000';

/** The first `length` hex digits of the SHA-256 of `parts` joined by a separator no part contains. */
export function digest(parts: readonly string[], length: number): string {
  // crypto.hash: one call, no Hash object (the same digest; it runs several times per signal).
  return hash('sha256', parts.join(SEP), 'hex').slice(0, length);
}

/**
 * Stable identity of a finding: cluster, GitOps tool, owner and resource identity. Never message
 * text, revision or state, so the same drifted object is one finding whatever source reports it.
 */
export function fingerprintOf(cluster: string, tool: GitOpsTool, owner: OwnerRef, resource: ResourceRef): string {
  return digest([cluster, tool, owner.kind, owner.namespace, owner.name, resource.group, resource.kind, resource.namespace, resource.name], 32);
}

/**
 * An alert group: one per (route identity, receiver, values of the route's group_by labels), as in
 * Alertmanager. Hex only, so it is safe in Redis keys and BullMQ job ids (which may not contain
 * `:`). Without a receiver: the key the code before route identities (issue #12) computed, from
 * the positional route id; groups it stored keep their key (track/grouping.ts adopts them).
 */
export function groupKeyOf(routeId: string, groupBy: Readonly<Record<string, string>>, receiver?: string): string {
  const pairs = Object.keys(groupBy)
    .sort()
    .map((k) => `${k}=${groupBy[k] ?? ''}`);
  return digest(receiver === undefined ? ['group', routeId, ...pairs] : ['group', routeId, `receiver=${receiver}`, ...pairs], 32);
}

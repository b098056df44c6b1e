import { hash } from 'node:crypto';
import type { GitOpsTool, OwnerRef, ResourceRef } from './signal.ts';

// A separator that cannot appear in Kubernetes names, so ('a/b','c') and ('a','b/c') differ.
const SEP = '\u0000';

/** The first `length` hex digits of the SHA-256 of `parts` joined by a separator no part contains. */
export function digest(parts: readonly string[], length: number): string {
  // crypto.hash: one call, no Hash object (the same digest; it runs several times per signal).
  return hash('sha256', parts.join(SEP), 'hex').slice(0, length);
}

// The last few hashed ids by their text: a webhook hashes the same owner's keys more than once
// (its owner-group index is read, then written by the commit; its Flux revision key is read, then
// written), a few milliseconds apart. Bounded: the oldest text is forgotten first.
const recentIds = new Map<string, string>();
const RECENT_IDS_MAX = 1024;

/** The first 32 hex digits of the SHA-256 of `text` (as digest([text], 32)), remembered for the last 1024 texts. */
export function hashedId(text: string): string {
  const known = recentIds.get(text);
  if (known !== undefined) return known;
  const id = hash('sha256', text, 'hex').slice(0, 32);
  if (recentIds.size >= RECENT_IDS_MAX) {
    const oldest = recentIds.keys().next();
    if (oldest.done !== true) recentIds.delete(oldest.value);
  }
  recentIds.set(text, id);
  return id;
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

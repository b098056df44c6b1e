import type { OwnerRef } from '../../src/model/signal.ts';
import { boundedReconcileTime, type FluxRevisionStore, type RememberedRevision } from '../../src/sources/flux/revision-store.ts';

/** The Flux revision memory in a Map, with the Redis store's rules (forward only, seed if absent): for source tests that do not need Redis. */
export function memoryRevisions(maxSkewMs = 60_000): FluxRevisionStore & { revisions: Map<string, RememberedRevision> } {
  const revisions = new Map<string, RememberedRevision>();
  const seen = new Set<string>();
  const key = (cluster: string, o: OwnerRef) => [cluster, o.kind, o.namespace, o.name].join('/');
  return {
    revisions,
    lookup: async (cluster, owner, eventId) => ({ previous: revisions.get(key(cluster, owner)), seen: seen.has(eventId) }),
    commit: async (cluster, owner, remember, eventId) => {
      const current = revisions.get(key(cluster, owner));
      if (remember !== undefined && (current === undefined || current.at <= remember.at)) revisions.set(key(cluster, owner), { ...remember, from: 'event' });
      seen.add(eventId);
    },
    seed: async (cluster, owner, revision, at) => {
      if (revisions.has(key(cluster, owner))) return false;
      revisions.set(key(cluster, owner), { revision, at, from: 'status' });
      return true;
    },
    reconcileTimeOf: (timestamp, now) => boundedReconcileTime(timestamp, now, maxSkewMs),
  };
}

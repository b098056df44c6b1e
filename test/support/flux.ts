import type { OwnerRef } from '../../src/model/signal.ts';
import type { FluxRevisionStore } from '../../src/sources/flux/revision-store.ts';

/** The Flux revision memory in a Map: for source tests that do not need Redis. */
export function memoryRevisions(): FluxRevisionStore {
  const revisions = new Map<string, string>();
  const seen = new Set<string>();
  const key = (cluster: string, o: OwnerRef) => [cluster, o.kind, o.namespace, o.name].join('/');
  return {
    lookup: async (cluster, owner, eventId) => ({ previous: revisions.get(key(cluster, owner)), seen: seen.has(eventId) }),
    commit: async (cluster, owner, revision, eventId) => {
      if (revision !== undefined) revisions.set(key(cluster, owner), revision);
      seen.add(eventId);
    },
  };
}

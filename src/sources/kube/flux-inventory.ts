import type { OwnerRef, ResourceRef } from '../../model/signal.ts';
import { clusterOwnerId } from '../../model/owner.ts';

/**
 * Flux inventories (`status.inventory.entries[].id`, `<namespace>_<name>_<group>_<kind>`,
 * flux.md §3.3), kept per Kustomization/HelmRelease from the watch. Change-set lines name a bare
 * kind; the owner's inventory says which API group that very object belongs to (a `Gateway` is
 * Istio's or Gateway API's).
 */

/** Parses an inventory id like cli-utils `ParseObjMetadata`; undefined if malformed. */
export function parseInventoryId(id: string): ResourceRef | undefined {
  const first = id.indexOf('_');
  const last = id.lastIndexOf('_');
  if (first === -1 || last <= first) return undefined;
  const beforeKind = id.lastIndexOf('_', last - 1);
  if (beforeKind < first) return undefined;
  const namespace = id.slice(0, first);
  const kind = id.slice(last + 1);
  const group = id.slice(beforeKind + 1, last);
  // RBAC names may hold ':', which Flux writes as '__'.
  const name = id.slice(first + 1, beforeKind).replaceAll('__', ':');
  if (kind === '' || name === '') return undefined;
  return { group, kind, namespace, name };
}

export interface InventoryIndex {
  /** Replaces the inventory of `owner` in `cluster` (ids as in status.inventory.entries). */
  set(cluster: string, owner: OwnerRef, ids: readonly string[]): void;
  delete(cluster: string, owner: OwnerRef): void;
  /**
   * The API group of one object the owner lists, or undefined when the inventory does not hold it
   * (or holds it under several groups).
   */
  groupOf(cluster: string, owner: OwnerRef, ref: { kind: string; namespace: string; name: string }): string | undefined;
  /** Owners indexed (for tests and memory accounting). */
  size(): number;
}

const objectKey = (kind: string, namespace: string, name: string): string => [kind, namespace, name].join('\u0000');

export function createInventoryIndex(): InventoryIndex {
  // owner → (kind, ns, name) → group, or null when one object appears under two groups.
  const owners = new Map<string, Map<string, string | null>>();
  return {
    set(cluster, owner, ids) {
      const objects = new Map<string, string | null>();
      for (const id of ids) {
        const ref = parseInventoryId(id);
        if (!ref) continue;
        const key = objectKey(ref.kind, ref.namespace, ref.name);
        const known = objects.get(key);
        objects.set(key, known === undefined || known === ref.group ? ref.group : null);
      }
      if (objects.size === 0) owners.delete(clusterOwnerId(cluster, owner));
      else owners.set(clusterOwnerId(cluster, owner), objects);
    },
    delete(cluster, owner) {
      owners.delete(clusterOwnerId(cluster, owner));
    },
    groupOf(cluster, owner, ref) {
      const group = owners.get(clusterOwnerId(cluster, owner))?.get(objectKey(ref.kind, ref.namespace, ref.name));
      return group === null ? undefined : group;
    },
    size: () => owners.size,
  };
}

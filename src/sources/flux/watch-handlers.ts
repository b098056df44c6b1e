import type { Logger } from '../../log.ts';
import type { Signal } from '../../model/signal.ts';
import { clusterOwnerPath } from '../../model/owner.ts';
import type { Ingest } from '../../track/ingest.ts';
import type { InventoryIndex } from '../kube/flux-inventory.ts';
import type { SignalQueue } from '../kube/signal-queue.ts';
import type { SlimEvent, SlimHelmRelease, SlimKustomization } from '../kube/slim.ts';
import type { WatchHandlers } from '../kube/watch.ts';
import { coreEventToFluxEvent } from './core-event.ts';
import { ownerOf } from './normalize.ts';
import { processFluxEvent, type FluxEventOutcome } from './process-event.ts';
import type { FluxRevisionStore } from './revision-store.ts';
import { baseSignal, helmReleaseToSignal, kustomizationToSignal, ownerOfObject } from './status.ts';

// Watch handlers of Kustomizations, HelmReleases and the core Events of their controllers.

export interface FluxWatchDeps {
  cluster: string;
  ingest: Ingest;
  fluxRevisions: FluxRevisionStore;
  groupOfKind: (kind: string) => string;
  inventory: InventoryIndex;
  queue: SignalQueue;
  log: Logger;
  now: () => number;
}

// The revision is left out: a rollout that changes nothing else must not send a resolving snapshot.
const digestOf = (s: Signal): string => JSON.stringify(s.resources.map((r) => [r.group, r.kind, r.namespace, r.name, r.state, r.detail ?? '']));

/**
 * Kustomization and HelmRelease status signals are sent when what they say changes (and when first
 * seen), not on every status write: Flux updates status on every reconcile, and each snapshot
 * resolves every finding of its owner, including Corrected ones that arrived by event and have
 * not been announced yet.
 */
function statusHandlers<T extends SlimKustomization>(
  deps: FluxWatchDeps,
  kind: 'Kustomization' | 'HelmRelease',
  toSignal: (obj: T) => Signal | undefined,
): WatchHandlers<T> {
  const sent = new Map<string, string>();
  const upsert = (obj: T): void => {
    const owner = ownerOfObject(kind, obj);
    deps.inventory.set(
      deps.cluster,
      owner,
      (obj.status?.inventory?.entries ?? []).map((e) => e.id),
    );
    const signal = toSignal(obj);
    if (signal === undefined) return;
    const key = clusterOwnerPath(deps.cluster, owner);
    const digest = digestOf(signal);
    if (sent.get(key) === digest) return;
    deps.queue.submit(
      key,
      async () => {
        await deps.ingest(signal);
        sent.set(key, digest);
      },
      'latest',
    );
  };
  return {
    add: upsert,
    update: upsert,
    delete(obj) {
      const owner = ownerOfObject(kind, obj);
      deps.inventory.delete(deps.cluster, owner);
      const key = clusterOwnerPath(deps.cluster, owner);
      sent.delete(key);
      // Gone from the cluster: nothing of it is drifted any more.
      const signal: Signal = { ...baseSignal(owner, obj, { cluster: deps.cluster, now: deps.now() }, deps.now(), undefined), resources: [] };
      deps.queue.submit(key, async () => void (await deps.ingest(signal)), 'latest');
    },
  };
}

/**
 * Kustomizations, plus the revision they last applied (`status.lastAppliedRevision`) seeded into
 * the revision memory when it holds none (first start, expired, Redis lost): with a cluster
 * connection the first change set is judged against it instead of being unverified.
 */
export function kustomizationHandlers(deps: FluxWatchDeps): WatchHandlers<SlimKustomization> {
  const handlers = statusHandlers<SlimKustomization>(deps, 'Kustomization', (k) => kustomizationToSignal(k, { cluster: deps.cluster, now: deps.now() }));
  // Every status write tries (SET NX: one cheap no-op while a revision is remembered), so a key
  // that expired or was lost with Redis is settled again at the next reconcile.
  const seed = (k: SlimKustomization): void => {
    const revision = k.status?.lastAppliedRevision;
    if (revision === undefined || revision === '') return;
    const owner = ownerOfObject('Kustomization', k);
    // Its own queue key: a status snapshot queued 'latest' must not replace it, nor it the snapshot.
    deps.queue.submit(
      `${clusterOwnerPath(deps.cluster, owner)}#revision`,
      async () => void (await deps.fluxRevisions.seed(deps.cluster, owner, revision, deps.now())),
      'latest',
    );
  };
  return {
    add: (k) => (handlers.add(k), seed(k)),
    update: (k) => (handlers.update(k), seed(k)),
    delete: (k) => handlers.delete(k),
  };
}

export function helmReleaseHandlers(deps: FluxWatchDeps): WatchHandlers<SlimHelmRelease> {
  return statusHandlers<SlimHelmRelease>(deps, 'HelmRelease', (hr) => {
    const owner = ownerOfObject('HelmRelease', hr);
    return helmReleaseToSignal(hr, {
      cluster: deps.cluster,
      now: deps.now(),
      groupOfKind: deps.groupOfKind,
      groupInInventory: (ref) => deps.inventory.groupOf(deps.cluster, owner, ref),
    });
  });
}

/** Core Events of kustomize-controller and helm-controller, each processed once, in order per owner. */
export function fluxEventHandlers(deps: FluxWatchDeps & { onOutcome?: (outcome: FluxEventOutcome['outcome']) => void }): WatchHandlers<SlimEvent> {
  const receive = (e: SlimEvent): void => {
    const event = coreEventToFluxEvent(e);
    if (event === undefined) return;
    const key = clusterOwnerPath(deps.cluster, ownerOf(event));
    deps.queue.submit(
      key,
      async () => {
        const result = await processFluxEvent(event, {
          cluster: deps.cluster,
          source: 'flux-watch',
          ingest: deps.ingest,
          fluxRevisions: deps.fluxRevisions,
          groupOfKind: deps.groupOfKind,
          groupInInventory: (cluster, owner, ref) => deps.inventory.groupOf(cluster, owner, ref),
          now: deps.now(),
        });
        deps.onOutcome?.(result.outcome);
        if (result.outcome === 'drift')
          deps.log.info({ owner: key, resources: result.signal.resources.length, outcome: result.result.outcome }, 'flux drift seen in a core event');
      },
      'each',
    );
  };
  // An Event is MODIFIED when the recorder counts a repeat (new lastTimestamp): a new occurrence.
  return { add: receive, update: receive, delete: () => undefined };
}

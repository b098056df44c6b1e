import { createHash } from 'node:crypto';
import type { OwnerRef, Signal, SignalSource } from '../../model/signal.ts';
import type { Ingest, IngestOutcome } from '../../track/ingest.ts';
import { fluxRevisionOf, type FluxEvent } from './event.ts';
import { interpretFluxEvent, ownerOf, revisionToRemember } from './normalize.ts';
import type { FluxRevisionStore } from './revision-store.ts';

// One Flux event, from the webhook (http/webhooks.ts) or from a watched core Event (watch-handlers.ts).

/**
 * Identity of a Flux event for replay/duplicate detection: Flux signs nothing time-bound, several
 * Alerts may forward the same event, and a watch relists old Events, so the same event is processed
 * once. A core Event and its webhook copy usually share it (same object, reason, message, second
 * and revision), so the two sources dedupe against each other too.
 */
export function fluxEventId(e: FluxEvent): string {
  const o = e.involvedObject;
  return createHash('sha256')
    .update([o.kind, o.namespace ?? '', o.name, o.uid ?? '', e.reason, e.message, e.timestamp, fluxRevisionOf(e) ?? ''].join('\u0000'))
    .digest('hex')
    .slice(0, 32);
}

export interface FluxEventDeps {
  cluster: string;
  source: Extract<SignalSource, 'flux-webhook' | 'flux-watch'>;
  ingest: Ingest;
  fluxRevisions: FluxRevisionStore;
  /** The catalog's kind → group ('' when unknown or ambiguous). */
  groupOfKind: (kind: string) => string;
  /** The group of one object from the owner's inventory, when known (it beats the catalog). */
  groupInInventory?: (cluster: string, owner: OwnerRef, ref: { kind: string; namespace: string; name: string }) => string | undefined;
  now: number;
}

export type FluxEventOutcome =
  | { outcome: 'duplicate' }
  | { outcome: 'drift'; signal: Signal; result: IngestOutcome }
  | { outcome: 'rollout'; revision: string }
  | { outcome: 'ignored'; why: string };

/**
 * What `receiveFlux` (webhooks.ts) did after parsing, shared with the watch: rollout vs drift is
 * settled by the revision remembered from earlier events; that memory and the "processed" mark are
 * written only after tracking succeeded, so a retried delivery is judged exactly as the first one.
 */
export async function processFluxEvent(event: FluxEvent, deps: FluxEventDeps): Promise<FluxEventOutcome> {
  const owner = ownerOf(event);
  const eventId = fluxEventId(event);
  const { previous, seen } = await deps.fluxRevisions.lookup(deps.cluster, owner, eventId);
  if (seen) return { outcome: 'duplicate' };

  // Reconcile time, bounded so a sender cannot pin the memory in the future.
  const reconciledAt = deps.fluxRevisions.reconcileTimeOf(event.timestamp, deps.now);
  // A revision read from status (the watch) is known to predate only events after that read: an
  // earlier change set at that same revision may be the very rollout that set it (unverified).
  const predatesStatus = previous?.from === 'status' && reconciledAt <= previous.at && fluxRevisionOf(event) === previous.revision;
  const known = predatesStatus ? undefined : previous?.revision;
  const interpretation = interpretFluxEvent(event, {
    cluster: deps.cluster,
    previousRevision: known,
    groupOfKind: deps.groupOfKind,
    now: deps.now,
  });
  let outcome: FluxEventOutcome;
  switch (interpretation.kind) {
    case 'drift': {
      const signal = withInventoryGroups({ ...interpretation.signal, source: deps.source }, deps);
      outcome = { outcome: 'drift', signal, result: await deps.ingest(signal) };
      break;
    }
    case 'rollout':
      outcome = { outcome: 'rollout', revision: interpretation.revision };
      break;
    case 'ignored':
      outcome = { outcome: 'ignored', why: interpretation.why };
      break;
  }
  const revision = revisionToRemember(event);
  await deps.fluxRevisions.commit(deps.cluster, owner, revision === undefined ? undefined : { revision, at: reconciledAt }, eventId);
  return outcome;
}

function withInventoryGroups(signal: Signal, deps: FluxEventDeps): Signal {
  const lookup = deps.groupInInventory;
  if (lookup === undefined) return signal;
  return {
    ...signal,
    resources: signal.resources.map((r) => {
      const group = lookup(signal.cluster, signal.owner, r);
      return group === undefined ? r : { ...r, group };
    }),
  };
}

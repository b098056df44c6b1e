import { hash } from 'node:crypto';
import { toolOf, type OwnerRef, type Signal, type SignalSource } from '../../model/signal.ts';
import { ownerPath } from '../../model/owner.ts';
import type { Ingest, IngestOptions, IngestOutcome } from '../../track/ingest.ts';
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
  return hash(
    'sha256',
    [o.kind, o.namespace ?? '', o.name, o.uid ?? '', e.reason, e.message, e.timestamp, fluxRevisionOf(e) ?? ''].join('\u0000'),
    'hex',
  ).slice(0, 32);
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
  /**
   * Starts the read of an owner's group index (track/ingest.ts readOwnerGroupsAhead), so that it
   * goes out with the revision lookup: one round trip, not two, before the group commit (issue #15).
   */
  ownerGroupsAhead?: (ownerPath: string) => NonNullable<IngestOptions['ownerGroups']>;
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
  const lookup = deps.fluxRevisions.lookup(deps.cluster, owner, eventId);
  // Sent in this same turn of the event loop as the lookup: both replies come in one round trip.
  const ahead = deps.ownerGroupsAhead?.(ownerPath({ cluster: deps.cluster, tool: toolOf(deps.source, owner), owner }));
  const { previous, seen } = await lookup;
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
  const revision = revisionToRemember(event);
  const remember = revision === undefined ? undefined : { revision, at: reconciledAt };
  let outcome: FluxEventOutcome;
  let marked = false;
  switch (interpretation.kind) {
    case 'drift': {
      const signal = withInventoryGroups({ ...interpretation.signal, source: deps.source }, deps);
      // The revision memory and the processed mark ride on the signal's last group commit (only
      // once every group committed); when no commit wrote (nothing changed), they are written below.
      const { marked: done, ...result } = await deps.ingest(signal, {
        ...(ahead === undefined ? {} : { ownerGroups: ahead }),
        ...(deps.fluxRevisions.mark === undefined ? {} : { mark: deps.fluxRevisions.mark(deps.cluster, owner, remember, eventId) }),
      });
      marked = done === true;
      outcome = { outcome: 'drift', signal, result };
      break;
    }
    case 'rollout':
      outcome = { outcome: 'rollout', revision: interpretation.revision };
      break;
    case 'ignored':
      outcome = { outcome: 'ignored', why: interpretation.why };
      break;
  }
  if (!marked) await deps.fluxRevisions.commit(deps.cluster, owner, remember, eventId);
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

import { createHash } from 'node:crypto';
import type { DriftState } from '../../model/signal.ts';
import type { Logger } from '../../log.ts';
import type { OwnerRef, ResourceState, Signal, SignalSource } from '../../model/signal.ts';
import type { Ingest, IngestOutcome } from '../../track/ingest.ts';
import type { InventoryIndex } from '../kube/flux-inventory.ts';
import type { SignalQueue } from '../kube/signal-queue.ts';
import type { SlimCondition, SlimEvent, SlimHelmRelease, SlimKustomization } from '../kube/slim.ts';
import type { WatchHandlers } from '../kube/watch.ts';
import { parseChangeSet } from './change-set.ts';
import { fluxRevisionOf, type FluxEvent } from './event.ts';
import { interpretFluxEvent, ownerOf, revisionToRemember } from './normalize.ts';
import type { FluxRevisionStore } from './revision-store.ts';

// ── One Flux event, from the webhook or from a watched core Event ───────────────────────────────

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

// ── Kustomization and HelmRelease status → snapshot signals ──────────────────────────────────────

export const KUSTOMIZE_GROUP = 'kustomize.toolkit.fluxcd.io';
export const HELM_GROUP = 'helm.toolkit.fluxcd.io';

/** Ready=False reasons that mean Flux failed to apply or to get healthy (flux.md §3.2). */
export const KUSTOMIZATION_FAILURES = ['BuildFailed', 'HealthCheckFailed', 'ReconciliationFailed', 'ArtifactFailed', 'PruneFailed'] as const;
const FAILURES: ReadonlySet<string> = new Set(KUSTOMIZATION_FAILURES);

const MAX_DETAIL = 200;
const clip = (s: string): string => (s.length > MAX_DETAIL ? `${s.slice(0, MAX_DETAIL - 1)}…` : s);
const condition = (conditions: readonly SlimCondition[] | undefined, type: string): SlimCondition | undefined => conditions?.find((c) => c.type === type);
const timeOf = (c: SlimCondition | undefined, now: number): number => {
  const ms = Date.parse(c?.lastTransitionTime ?? '');
  return Number.isFinite(ms) && ms >= 0 ? ms : now;
};

export interface FluxStatusContext {
  cluster: string;
  now: number;
}

function ownerOfObject(kind: string, obj: SlimKustomization): OwnerRef {
  return { kind, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name };
}

function baseSignal(owner: OwnerRef, obj: SlimKustomization, ctx: FluxStatusContext, observedAt: number, revision: string | undefined): Omit<Signal, 'resources'> {
  return {
    source: 'flux-watch',
    cluster: ctx.cluster,
    owner,
    project: '',
    ...(obj.metadata.labels ? { labels: obj.metadata.labels } : {}),
    destination: {},
    ...(revision ? { revision } : {}),
    observedAt,
    completeness: 'snapshot',
  };
}

/**
 * A Kustomization's Ready condition as a snapshot of one pseudo-resource, the Kustomization itself:
 * Ready=False for a failure reason → ApplyFailed (Unhealthy for HealthCheckFailed); Ready=True →
 * InSync, which resolves it. Anything else (Unknown while reconciling, DependencyNotReady...) says
 * nothing: undefined.
 */
export function kustomizationToSignal(k: SlimKustomization, ctx: FluxStatusContext): Signal | undefined {
  const ready = condition(k.status?.conditions, 'Ready');
  if (ready === undefined) return undefined;
  const owner = ownerOfObject('Kustomization', k);
  const self = { group: KUSTOMIZE_GROUP, kind: 'Kustomization', namespace: owner.namespace, name: owner.name };
  // It speaks for the Kustomization's own condition only, never for drift that events reported.
  const covers = { kinds: ['Kustomization'] };
  if (ready.status === 'True') {
    return { ...baseSignal(owner, k, ctx, timeOf(ready, ctx.now), k.status?.lastAppliedRevision), covers, resources: [{ ...self, state: 'InSync' }] };
  }
  if (ready.status !== 'False' || ready.reason === undefined || !FAILURES.has(ready.reason)) return undefined;
  const state = ready.reason === 'HealthCheckFailed' ? 'Unhealthy' : 'ApplyFailed';
  const detail = clip(ready.message ? `${ready.reason}: ${ready.message}` : ready.reason);
  const revision = k.status?.lastAttemptedRevision ?? k.status?.lastAppliedRevision;
  return { ...baseSignal(owner, k, ctx, timeOf(ready, ctx.now), revision), covers, resources: [{ ...self, state, detail }] };
}

export interface HelmReleaseContext extends FluxStatusContext {
  groupOfKind: (kind: string) => string;
  /** The group of an object in this release's own inventory. */
  groupInInventory?: (ref: { kind: string; namespace: string; name: string }) => string | undefined;
}

/**
 * A HelmRelease's `Drifted` condition (helm-controller >= 1.6) as a snapshot: True → the objects its
 * message lists (`changed` → Modified, `removed` → Missing; `excluded` is not drift), or the release
 * itself when no line parses; False → no drift, which resolves them. No condition: undefined
 * (drift detection off, or an older controller).
 */
export function helmReleaseToSignal(hr: SlimHelmRelease, ctx: HelmReleaseContext): Signal | undefined {
  const drifted = condition(hr.status?.conditions, 'Drifted');
  if (drifted === undefined || (drifted.status !== 'True' && drifted.status !== 'False')) return undefined;
  const owner = ownerOfObject('HelmRelease', hr);
  // Drifted speaks for detected drift (Modified/Missing), not for corrections events reported.
  const base = { ...baseSignal(owner, hr, ctx, timeOf(drifted, ctx.now), hr.status?.lastAttemptedRevision), covers: { states: ['Modified', 'Missing'] as DriftState[] } };
  if (drifted.status === 'False') return { ...base, resources: [] };
  // The first line is the header `Cluster state of release <ns>/<name>.v<N> has drifted ...`.
  const lines = (drifted.message ?? '').split('\n');
  const resources: ResourceState[] = [];
  const seen = new Set<string>();
  for (const e of parseChangeSet(lines.slice(1)).entries) {
    const state = e.action === 'changed' ? 'Modified' : e.action === 'removed' ? 'Missing' : undefined;
    if (state === undefined) continue;
    const key = [e.kind, e.namespace, e.name].join('\u0000');
    if (seen.has(key)) continue;
    seen.add(key);
    const group = ctx.groupInInventory?.(e) ?? ctx.groupOfKind(e.kind);
    resources.push({ group, kind: e.kind, namespace: e.namespace, name: e.name, state, detail: clip(e.detail ?? e.action) });
  }
  if (resources.length === 0) {
    resources.push({ group: HELM_GROUP, kind: 'HelmRelease', namespace: owner.namespace, name: owner.name, state: 'Modified', detail: clip(lines[0] || drifted.reason || 'Drifted') });
  }
  return { ...base, resources };
}

// ── Core Events → the event notification-controller would have posted ───────────────────────────

/**
 * A core Event recorded by kustomize-controller or helm-controller, in the shape of the event
 * notification-controller forwards (fluxcd/pkg runtime/events: Warning → error, else info; the
 * recorder's metadata becomes the Event's annotations, still prefixed, which fluxRevisionOf reads).
 * Undefined when the Event is not about a named object.
 */
export function coreEventToFluxEvent(e: SlimEvent): FluxEvent | undefined {
  const o = e.involvedObject;
  if (!o.kind || !o.name) return undefined;
  const timestamp = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? '';
  const metadata = e.metadata.annotations && Object.keys(e.metadata.annotations).length > 0 ? e.metadata.annotations : undefined;
  const controller = e.reportingComponent || e.source?.component;
  return {
    involvedObject: {
      kind: o.kind,
      namespace: o.namespace ?? '',
      name: o.name,
      ...(o.uid ? { uid: o.uid } : {}),
      ...(o.apiVersion ? { apiVersion: o.apiVersion } : {}),
    },
    severity: e.type === 'Warning' ? 'error' : 'info',
    timestamp,
    message: e.message ?? '',
    reason: e.reason ?? '',
    ...(metadata ? { metadata } : {}),
    ...(controller ? { reportingController: controller } : {}),
    ...(e.reportingInstance ? { reportingInstance: e.reportingInstance } : {}),
  };
}

/** Oldest first, so a relist replays Events in the order Flux recorded them (name order is arbitrary). */
export function chronological(events: SlimEvent[]): SlimEvent[] {
  const at = (e: SlimEvent): number => {
    const ms = Date.parse(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? '');
    return Number.isFinite(ms) ? ms : 0;
  };
  return events.map((e, i) => ({ e, i, t: at(e) })).sort((a, b) => a.t - b.t || a.i - b.i).map((x) => x.e);
}

// ── Watch handlers ──────────────────────────────────────────────────────────────────────────────

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

const keyOf = (cluster: string, o: OwnerRef): string => [cluster, o.kind, o.namespace, o.name].join('/');
// The revision is left out: a rollout that changes nothing else must not send a resolving snapshot.
const digestOf = (s: Signal): string => JSON.stringify(s.resources.map((r) => [r.group, r.kind, r.namespace, r.name, r.state, r.detail ?? '']));

/**
 * Kustomization and HelmRelease status signals are sent when what they say changes (and when first
 * seen), not on every status write: Flux updates status on every reconcile, and each snapshot
 * resolves every finding of its owner, including Corrected ones that arrived by event and have
 * not been announced yet.
 */
function statusHandlers<T extends SlimKustomization>(deps: FluxWatchDeps, kind: 'Kustomization' | 'HelmRelease', toSignal: (obj: T) => Signal | undefined): WatchHandlers<T> {
  const sent = new Map<string, string>();
  const upsert = (obj: T): void => {
    const owner = ownerOfObject(kind, obj);
    deps.inventory.set(deps.cluster, owner, (obj.status?.inventory?.entries ?? []).map((e) => e.id));
    const signal = toSignal(obj);
    if (signal === undefined) return;
    const key = keyOf(deps.cluster, owner);
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
      const key = keyOf(deps.cluster, owner);
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
    deps.queue.submit(`${keyOf(deps.cluster, owner)}#revision`, async () => void (await deps.fluxRevisions.seed(deps.cluster, owner, revision, deps.now())), 'latest');
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
    const key = keyOf(deps.cluster, ownerOf(event));
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
        if (result.outcome === 'drift') deps.log.info({ owner: key, resources: result.signal.resources.length, outcome: result.result.outcome }, 'flux drift seen in a core event');
      },
      'each',
    );
  };
  // An Event is MODIFIED when the recorder counts a repeat (new lastTimestamp): a new occurrence.
  return { add: receive, update: receive, delete: () => undefined };
}

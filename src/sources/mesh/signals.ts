import type { Attribution, ChangeList } from '../../model/forensics.ts';
import type { DriftState, OwnerRef, ResourceState, Signal } from '../../model/signal.ts';
import { appSignalFields, type AppFacts } from '../argocd/app-index.ts';
import type { SlimMeshObject } from './slim.ts';

/**
 * The mesh watch's signals (issue #16). Source `mesh-watch` (observed: timed by meshdrift's clock),
 * owner the object's GitOps owner, so the finding is the one the Argo CD and Flux sources report
 * for the same object (model/signal.ts toolOf); an object with no GitOps owner belongs to its
 * namespace (`Namespace` owner, tool meshdrift).
 *
 * - An edit or its revert: a partial signal about one object (Modified, Corrected), at once.
 * - The states only the watch can see (Shadow, NotInEffect for an owned object; Unmanaged,
 *   NotInEffect for an unowned one): a snapshot per owner that `covers` only those states, so it
 *   resolves what went away and never an Argo CD or Flux verdict about the same owner.
 */

export const OWNED_WATCH_STATES: readonly DriftState[] = ['Shadow', 'NotInEffect'];
export const UNOWNED_WATCH_STATES: readonly DriftState[] = ['Unmanaged', 'NotInEffect'];

/** The owner of an object without a GitOps owner: its namespace (cluster-scoped: `''`). */
export const namespaceOwner = (namespace: string): OwnerRef => ({ kind: 'Namespace', namespace: '', name: namespace === '' ? '_cluster' : namespace });

export const ownerOfObject = (obj: SlimMeshObject): OwnerRef => obj.owner ?? namespaceOwner(obj.metadata.namespace ?? '');

export function refOf(obj: SlimMeshObject): Pick<ResourceState, 'group' | 'kind' | 'namespace' | 'name'> {
  return { group: obj.ref.group, kind: obj.ref.kind, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name };
}

/**
 * What the owning Application adds (sources/argocd/app-index.ts), when the Argo CD watch knows it:
 * the cluster Argo CD's findings about it carry, its project, labels and destination (as
 * argocd/application.ts sets them), so the finding and its routing are those of Argo CD's verdict.
 */
export interface AppContext {
  app?: AppFacts | undefined;
  /** A matching ignoreDifferences rule has jq path expressions meshdrift does not evaluate. */
  jq?: boolean;
}

export const JQ_NOTE =
  "; Argo CD ignores some of this object's fields by jq expression, which meshdrift does not evaluate: a change listed may be one Argo CD ignores";

function base(cluster: string, owner: OwnerRef, observedAt: number, ctx: AppContext = {}): Omit<Signal, 'completeness' | 'resources'> {
  const app = ctx.app;
  if (app === undefined) return { source: 'mesh-watch', cluster, owner, project: '', destination: {}, observedAt };
  return { source: 'mesh-watch', owner, ...appSignalFields(app), observedAt };
}

const MAX_DETAIL = 300;
const clip = (s: string): string => (s.length > MAX_DETAIL ? `${s.slice(0, MAX_DETAIL - 1)}…` : s);
const iso = (ms: number | undefined): string => (ms === undefined ? '' : ` at ${new Date(ms).toISOString().replace('.000Z', 'Z')}`);

/** "edited by kubectl-edit at 2026-12-04T14:03:00Z" from the newest attribution. */
export function editDetail(attribution: readonly Attribution[]): string {
  const a = attribution[0];
  return a === undefined
    ? 'edited outside GitOps'
    : clip(`edited outside GitOps by ${a.who} (${a.operation ?? 'Update'}, a field manager, not a person)${iso(a.at)}`);
}

export interface Evidence {
  changes?: ChangeList | undefined;
  attribution: Attribution[];
}

const evidenceOf = (e: Evidence): Pick<ResourceState, 'changes' | 'attribution'> => ({
  ...(e.changes !== undefined ? { changes: e.changes } : {}),
  ...(e.attribution.length > 0 ? { attribution: e.attribution } : {}),
});

/** A watch-seen edit of a GitOps-managed object: Modified, with what changed and who. */
export function editSignal(cluster: string, obj: SlimMeshObject, e: Evidence, observedAt: number, ctx: AppContext = {}): Signal {
  return {
    ...base(cluster, ownerOfObject(obj), observedAt, ctx),
    completeness: 'partial',
    resources: [{ ...refOf(obj), state: 'Modified', detail: clip(editDetail(e.attribution) + (ctx.jq ? JQ_NOTE : '')), ...evidenceOf(e) }],
  };
}

/** The object is back at what its GitOps manager wrote: Corrected, keeping the edit's evidence. */
export function revertSignal(
  cluster: string,
  obj: SlimMeshObject,
  e: Evidence & { by: string; at?: number | undefined },
  observedAt: number,
  ctx: AppContext = {},
): Signal {
  return {
    ...base(cluster, ownerOfObject(obj), observedAt, ctx),
    completeness: 'partial',
    resources: [{ ...refOf(obj), state: 'Corrected', detail: clip(`reverted to the GitOps version by ${e.by}${iso(e.at)}`), ...evidenceOf(e) }],
  };
}

/** One object's watch-only state in its owner's snapshot. */
export interface WatchState {
  state: DriftState;
  detail: string;
  evidence?: Evidence;
}

/** The snapshot of one owner's watch-only states: every object listed resolves nothing else. */
export function watchStatesSignal(
  cluster: string,
  owner: OwnerRef,
  states: readonly { obj: SlimMeshObject; state: WatchState }[],
  observedAt: number,
  ctx: AppContext = {},
): Signal {
  const owned = owner.kind !== 'Namespace';
  return {
    ...base(cluster, owner, observedAt, ctx),
    completeness: 'snapshot',
    covers: { states: [...(owned ? OWNED_WATCH_STATES : UNOWNED_WATCH_STATES)] },
    resources: states.map(({ obj, state }) => ({
      ...refOf(obj),
      state: state.state,
      detail: clip(state.detail),
      ...(state.evidence ? evidenceOf(state.evidence) : {}),
    })),
  };
}

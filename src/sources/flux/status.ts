import type { DriftState, OwnerRef, ResourceState, Signal } from '../../model/signal.ts';
import type { SlimCondition, SlimHelmRelease, SlimKustomization } from '../kube/slim.ts';
import { parseChangeSet } from './change-set.ts';

// Kustomization and HelmRelease status → snapshot signals (pure: used by the watch and the audit cycle).

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

export function ownerOfObject(kind: string, obj: SlimKustomization): OwnerRef {
  return { kind, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name };
}

export function baseSignal(
  owner: OwnerRef,
  obj: SlimKustomization,
  ctx: FluxStatusContext,
  observedAt: number,
  revision: string | undefined,
): Omit<Signal, 'resources'> {
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
  const base = {
    ...baseSignal(owner, hr, ctx, timeOf(drifted, ctx.now), hr.status?.lastAttemptedRevision),
    covers: { states: ['Modified', 'Missing'] as DriftState[] },
  };
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
    resources.push({
      group: HELM_GROUP,
      kind: 'HelmRelease',
      namespace: owner.namespace,
      name: owner.name,
      state: 'Modified',
      detail: clip(lines[0] || drifted.reason || 'Drifted'),
    });
  }
  return { ...base, resources };
}

import { sanitizeRepoUrl } from '../../deliver/links.ts';
import type { DriftState, OwnerRef, ResourceState, Signal } from '../../model/signal.ts';
import { parseChangeSet, type ChangeSetEntry } from './change-set.ts';
import { fluxRevisionOf, type FluxEvent } from './event.ts';

/** What one Flux event means for meshdrift. */
export type FluxInterpretation = { kind: 'drift'; signal: Signal } | { kind: 'rollout'; revision: string } | { kind: 'ignored'; why: string };

/** What the pure interpretation needs besides the event. */
export interface FluxContext {
  /** Default cluster name: Flux events carry none. */
  cluster: string;
  /**
   * The revision meshdrift knows was applied before this event (see `revisionToRemember`), or
   * undefined when none is known: never heard, expired, lost with Redis, or read from status only
   * after the event (processFluxEvent settles which).
   */
  previousRevision: string | undefined;
  /** Maps a bare Kind to its API group ('' if unknown); change-set lines carry no group. */
  groupOfKind: (kind: string) => string;
  /** Epoch ms, used when the event timestamp does not parse. */
  now: number;
}

// kustomize-controller's per-interval success event and its health recovery event (flux.md §3.4).
const HEARTBEAT = /^(?:Reconciliation finished in |Health check passed in )/;
// helm-controller's DriftCorrectionFailed separates errors from the change set with this line.
const SUCCESSFUL_CORRECTIONS = 'Successful corrections:';
// Error text from the API server can be long; a detail is for humans skimming an alert.
const MAX_DETAIL = 200;

const isHeartbeat = (event: FluxEvent): boolean => HEARTBEAT.test(event.message);
const isSsaChange = (e: ChangeSetEntry): boolean => e.action === 'created' || e.action === 'configured' || e.action === 'deleted' || e.action === 'unknown';

/** The Flux object an event is about: the owner of the resources it lists. */
export function ownerOf(event: FluxEvent): OwnerRef {
  const o = event.involvedObject;
  return { kind: o.kind, namespace: o.namespace, name: o.name };
}

/**
 * Kustomization change sets look the same for a rollout and for reverted drift; only "same revision
 * as the one last applied" tells them apart (flux.md §3.5). HelmReleases have dedicated reasons.
 */
export function interpretFluxEvent(event: FluxEvent, ctx: FluxContext): FluxInterpretation {
  switch (event.involvedObject.kind) {
    case 'Kustomization':
      return interpretKustomization(event, ctx);
    case 'HelmRelease':
      return interpretHelmRelease(event, ctx);
    default:
      return ignored(`${event.involvedObject.kind} events are not drift (only Kustomization and HelmRelease are)`);
  }
}

/**
 * The revision to store as the owner's last applied one, or undefined to keep the stored one.
 * Only info events that prove an apply count: a Kustomization change set, `Reconciliation
 * finished` or `Health check passed`. Error events never count (a failed apply of a new revision
 * must not make its later successful rollout look like drift), and neither does e.g.
 * `Dependencies do not meet ready condition`, which carries the new, not yet applied, revision.
 */
export function revisionToRemember(event: FluxEvent): string | undefined {
  if (event.severity !== 'info') return undefined;
  const revision = fluxRevisionOf(event);
  if (revision === undefined) return undefined;
  switch (event.involvedObject.kind) {
    case 'Kustomization':
      return isHeartbeat(event) || parseChangeSet(event.message).entries.some(isSsaChange) ? revision : undefined;
    case 'HelmRelease':
      // helm-controller attaches a revision only to events about a release it installed, upgraded,
      // tested or corrected (`eventMeta` in internal/reconcile/release.go).
      return revision;
    default:
      return undefined;
  }
}

function interpretKustomization(event: FluxEvent, ctx: FluxContext): FluxInterpretation {
  if (event.severity === 'error') return ignored('error events are not drift');
  if (event.severity !== 'info') return ignored(`severity "${event.severity}" is not handled`);
  if (isHeartbeat(event)) return ignored('heartbeat');
  const changes = parseChangeSet(event.message).entries.filter(isSsaChange);
  if (changes.length === 0) return ignored('no change-set lines in the message');
  const revision = fluxRevisionOf(event);
  if (revision === undefined) return ignored('change set without a revision: cannot tell drift from a rollout');
  // Without a known earlier revision this may be the rollout of `revision` or reverted drift: it is
  // never dropped, but told as unverified (severity capped at low, classify.ts), and the revision
  // is remembered so the next change set is judged (docs/flux.md "First change set").
  if (ctx.previousRevision === undefined) {
    const unverified = `unverified: no earlier revision known, may be the rollout of ${revision}`;
    return {
      kind: 'drift',
      signal: signalOf(
        event,
        changes.map((e) => ({ ...resourceOf(e, 'Corrected', `${e.action}; ${unverified}`, ctx), unverified: true as const })),
        ctx,
      ),
    };
  }
  if (revision !== ctx.previousRevision) return { kind: 'rollout', revision };
  const resources = changes.map((e) => resourceOf(e, 'Corrected', e.action, ctx));
  return { kind: 'drift', signal: signalOf(event, resources, ctx) };
}

function interpretHelmRelease(event: FluxEvent, ctx: FluxContext): FluxInterpretation {
  // The first line is the header `Cluster state of release <ns>/<name>.v<N> ...`, never an object.
  const lines = event.message.split('\n').slice(1);
  let resources: ResourceState[];
  switch (event.reason) {
    case 'DriftDetected':
      resources = parseChangeSet(lines).entries.flatMap((e): ResourceState[] => {
        if (e.action === 'changed') return [resourceOf(e, 'Modified', e.detail, ctx)];
        if (e.action === 'removed') return [resourceOf(e, 'Missing', 'removed', ctx)];
        return []; // `excluded`: ignored by the release's driftDetection rules, so not drift.
      });
      break;
    case 'DriftCorrected':
      resources = parseChangeSet(lines)
        .entries.filter(isSsaChange)
        .map((e) => resourceOf(e, 'Corrected', e.action, ctx));
      break;
    case 'DriftCorrectionFailed': {
      const split = lines.findIndex((l) => l.trim() === SUCCESSFUL_CORRECTIONS);
      const failedLines = split === -1 ? lines : lines.slice(0, split);
      const correctedLines = split === -1 ? [] : lines.slice(split + 1);
      resources = [
        ...parseChangeSet(failedLines).entries.map((e) => resourceOf(e, 'ApplyFailed', e.detail ?? e.action, ctx)),
        ...parseChangeSet(correctedLines)
          .entries.filter(isSsaChange)
          .map((e) => resourceOf(e, 'Corrected', e.action, ctx)),
      ];
      break;
    }
    default:
      return ignored(`HelmRelease reason ${event.reason} is not drift`);
  }
  if (resources.length === 0) return ignored(`${event.reason} without drifted object lines`);
  return { kind: 'drift', signal: signalOf(event, resources, ctx) };
}

function resourceOf(entry: ChangeSetEntry, state: DriftState, detail: string | undefined, ctx: FluxContext): ResourceState {
  const resource: ResourceState = { group: ctx.groupOfKind(entry.kind), kind: entry.kind, namespace: entry.namespace, name: entry.name, state };
  if (detail !== undefined) resource.detail = detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail;
  return resource;
}

/**
 * Where a Flux event can name its Git repository (for commit links): Flux's events carry no source
 * URL, only what the user adds: an Alert's `spec.eventMetadata: {repoURL: …}` or the annotation
 * `event.toolkit.fluxcd.io/repoURL` on the Kustomization or HelmRelease, both forwarded as
 * `repoURL` (flux.md §1.2); the prefixed key is read too. Sanitised (deliver/links.ts): no
 * credentials, http(s) or ssh only, bounded.
 */
const REPO_URL_KEYS = ['repoURL', 'event.toolkit.fluxcd.io/repoURL'] as const;

export function fluxRepoURLOf(event: FluxEvent): string | undefined {
  for (const key of REPO_URL_KEYS) {
    const value = event.metadata?.[key];
    if (value !== undefined && value !== '') return sanitizeRepoUrl(value);
  }
  return undefined;
}

function signalOf(event: FluxEvent, resources: ResourceState[], ctx: FluxContext): Signal {
  const revision = fluxRevisionOf(event);
  const repoURL = fluxRepoURLOf(event);
  return {
    source: 'flux-webhook',
    cluster: ctx.cluster,
    owner: ownerOf(event),
    project: '',
    destination: {},
    ...(revision === undefined ? {} : { revision }),
    ...(repoURL === undefined ? {} : { repoURL }),
    observedAt: observedAtOf(event.timestamp, ctx.now),
    completeness: 'partial',
    resources: uniqueResources(resources),
  };
}

function observedAtOf(timestamp: string, now: number): number {
  const ms = Date.parse(timestamp);
  return Number.isFinite(ms) && ms >= 0 ? ms : now;
}

// An object listed twice (it should not happen) would give two findings with one identity.
function uniqueResources(resources: ResourceState[]): ResourceState[] {
  const seen = new Set<string>();
  return resources.filter((r) => {
    const key = [r.group, r.kind, r.namespace, r.name].join('\u0000');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const ignored = (why: string): FluxInterpretation => ({ kind: 'ignored', why });

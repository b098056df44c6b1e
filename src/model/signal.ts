import { z } from 'zod';
import { attributionsSchema, changeListSchema } from './forensics.ts';
import { codePointName, firstUnsafeChar } from './text-chars.ts';

/**
 * What one GitOps object (an Argo CD Application, a Flux Kustomization or HelmRelease) says about
 * its resources at one moment. Every source normalizes to this; nothing downstream knows the wire
 * format it came from.
 */

/** The producer of a signal. The tool part (before the first `-`) is what fingerprints use. */
export const SIGNAL_SOURCES = [
  'argocd-webhook',
  'argocd-watch',
  'argocd-api',
  'flux-webhook',
  'flux-watch',
  'audit',
  'demo',
  'meshdrift',
  /** meshdrift's own watch of the mesh objects (issue #16): observed. */
  'mesh-watch',
  /** The recorder admission webhook (issue #17): told (by whoever reaches the listener) until a watch event confirms it. */
  'admission',
] as const;
export const signalSourceSchema = z.enum(SIGNAL_SOURCES);
export type SignalSource = z.infer<typeof signalSourceSchema>;

/**
 * Sources meshdrift reads itself (Kubernetes watches, the audit re-list, the Argo CD API poll, its
 * own reachability): evidence, timed by meshdrift's shared clock. The others (webhooks, the demo)
 * are what a sender tells: their timestamps are bounded to the receipt, and they never outrank an
 * observation (track/decide.ts isStaleSnapshot).
 */
export const OBSERVED_SOURCES: ReadonlySet<SignalSource> = new Set<SignalSource>([
  'argocd-watch',
  'argocd-api',
  'flux-watch',
  'audit',
  'meshdrift',
  'mesh-watch',
]);

export function isObservedSource(source: SignalSource): boolean {
  return OBSERVED_SOURCES.has(source);
}

/**
 * The GitOps tool behind a signal: part of every fingerprint, so webhook and watch agree.
 * `meshdrift` is meshdrift itself, for what it reports about its own sources (a cluster it cannot
 * reach: sources/reachability.ts); such findings are never remediated.
 */
export const TOOLS = ['argocd', 'flux', 'meshdrift'] as const;
export type GitOpsTool = (typeof TOOLS)[number];

export function toolOf(source: SignalSource, owner: OwnerRef): GitOpsTool {
  if (source === 'meshdrift') return 'meshdrift';
  if (source.startsWith('argocd')) return 'argocd';
  if (source.startsWith('flux')) return 'flux';
  if (source === 'mesh-watch' || source === 'admission') {
    // What meshdrift sees on the mesh itself belongs to the object's GitOps owner when it has one
    // (so a watch-seen edit and the tool's later verdict are one finding), else to meshdrift.
    if (owner.kind === 'Application') return 'argocd';
    if (owner.kind === 'Kustomization' || owner.kind === 'HelmRelease') return 'flux';
    return 'meshdrift';
  }
  return owner.kind === 'Application' ? 'argocd' : 'flux';
}

/**
 * How a resource stands against Git.
 * - Modified: live differs from Git (Argo CD OutOfSync on a live object).
 * - Missing: in Git, not live.  - Extraneous: live, not in Git (Argo CD requiresPruning).
 * - Unhealthy: Degraded/Missing health.  - Corrected: Flux reverted a change.
 * - ApplyFailed: the GitOps tool failed to apply it.
 * - Unreachable: its live state cannot be read, so drift there cannot be seen: a cluster whose
 *   watches all fail, or an Argo CD app whose comparison failed (sync Unknown). Such findings
 *   inhibit the per-resource findings they hide (config/load.ts BUILTIN_INHIBIT_RULES).
 * - Shadow: the GitOps tool calls it Synced, but fields Git never set are owned only by non-GitOps
 *   `Update` managers (a hand-added field: issue #16).
 * - Unmanaged: a mesh object in a watched namespace that no GitOps tool owns.
 * - NotInEffect: Git and the tool agree, but the mesh does not apply it (a route its Gateway did
 *   not accept, an Istio resource istiod rejected).
 */
export const DRIFT_STATES = [
  'Modified',
  'Missing',
  'Extraneous',
  'Unhealthy',
  'Corrected',
  'ApplyFailed',
  'Unreachable',
  'Shadow',
  'Unmanaged',
  'NotInEffect',
] as const;
export const driftStateSchema = z.enum(DRIFT_STATES);
export type DriftState = z.infer<typeof driftStateSchema>;

/**
 * A part of an identity (cluster, kind, namespace, name): no control (C0, DEL, C1), bidi or
 * zero-width character. Kubernetes names cannot contain them, so refusing them costs nothing, and
 * two identities that differ only by one (`a` and `a\0`) can neither collapse into one finding
 * downstream nor look alike in an alert.
 */
export const identityTextSchema = z.string().superRefine((s, ctx) => {
  const bad = firstUnsafeChar(s);
  if (bad !== null)
    ctx.addIssue({ code: 'custom', message: `must not contain control, bidi or zero-width characters (${codePointName(bad.codePoint)} at ${bad.index})` });
});

export const ownerRefSchema = z.object({
  kind: identityTextSchema.min(1),
  namespace: identityTextSchema,
  name: identityTextSchema.min(1),
});
/** The GitOps object that owns the resources (Application, Kustomization, HelmRelease). */
export type OwnerRef = z.infer<typeof ownerRefSchema>;

export const resourceRefSchema = z.object({
  /** API group, '' for the core group. */
  group: identityTextSchema,
  kind: identityTextSchema.min(1),
  /** '' for cluster-scoped resources. */
  namespace: identityTextSchema,
  name: identityTextSchema.min(1),
});
/** Identity of one Kubernetes object. */
export type ResourceRef = z.infer<typeof resourceRefSchema>;

export const resourceStateSchema = resourceRefSchema.extend({
  /** 'InSync' for a resource that matches Git; snapshots may list those too. */
  state: z.union([driftStateSchema, z.literal('InSync')]),
  /** Short human detail from the source (e.g. `1 changes`); never part of a fingerprint. */
  detail: z.string().optional(),
  /**
   * The source cannot tell this from a routine change (a Flux change set with no earlier revision
   * known: rollout or reverted drift): told, never dropped, with severity capped at `low`.
   */
  unverified: z.literal(true).optional(),
  /** What changed, field by field, redacted (model/forensics.ts). */
  changes: changeListSchema.optional(),
  /** Who changed it (managedFields managers, admission records), redacted. */
  attribution: attributionsSchema.optional(),
});
export type ResourceState = z.infer<typeof resourceStateSchema>;

export const signalSchema = z.object({
  source: signalSourceSchema,
  cluster: identityTextSchema.min(1),
  owner: ownerRefSchema,
  /** Argo CD project or similar grouping; '' when the tool has none. */
  project: z.string().default(''),
  /** The owner's Kubernetes labels (Argo CD Application metadata.labels); rules can match them. */
  labels: z.record(z.string(), z.string()).optional(),
  /** Where the owner deploys (Argo CD destination namespace/cluster name), for routing. */
  destination: z.object({ name: z.string().optional(), namespace: z.string().optional() }).default({}),
  revision: z.string().optional(),
  /** The Git repository the revision belongs to (Argo CD spec.source.repoURL, Flux source URL), for links. */
  repoURL: z.string().max(2048).optional(),
  sync: z.enum(['Synced', 'OutOfSync', 'Unknown']).optional(),
  health: z.string().optional(),
  /** Epoch milliseconds. */
  observedAt: z.number().int().nonnegative(),
  /**
   * When the tool last compared live with Git (Argo CD `status.reconciledAt`, epoch ms, its
   * clock). A snapshot does not resolve a finding whose evidence names a later write to the object
   * (a watch-seen edit: track/decide.ts): its verdict is about the object before that write.
   */
  comparedAt: z.number().int().nonnegative().optional(),
  /**
   * `snapshot`: the full list of the owner's resources; a tracked finding that is absent or InSync
   * resolves. `partial`: an event about some resources; it never resolves the others.
   */
  completeness: z.enum(['snapshot', 'partial']),
  /**
   * What a snapshot speaks for, when not all of the owner's findings: e.g. a Kustomization's Ready
   * condition covers only its own ApplyFailed/Unhealthy pseudo-finding, not drift that Flux events
   * reported. Unset: every finding of the owner.
   */
  covers: z.object({ kinds: z.array(z.string()).optional(), states: z.array(driftStateSchema).optional() }).optional(),
  resources: z.array(resourceStateSchema),
});
export type Signal = z.infer<typeof signalSchema>;

/** Why a signal's identity is refused: the field (`resources.3.name`) and what is wrong with it. */
export interface SignalIdentityIssue {
  field: string;
  reason: string;
}

const signalIdentitySchema = z.object({
  cluster: signalSchema.shape.cluster,
  owner: ownerRefSchema,
  resources: z.array(resourceRefSchema),
});

/**
 * Checks the identity parts of a signal (cluster, owner, each resource's group, kind, namespace,
 * name) against the schemas above; the first issue, or null. Every source's signal passes through
 * it (track/ingest.ts), whatever produced it: webhook, watch, poll or audit.
 */
export function signalIdentityIssue(signal: Pick<Signal, 'cluster' | 'owner' | 'resources'>): SignalIdentityIssue | null {
  const parsed = signalIdentitySchema.safeParse({ cluster: signal.cluster, owner: signal.owner, resources: signal.resources });
  if (parsed.success) return null;
  const issue = parsed.error.issues[0];
  return { field: issue === undefined ? 'signal' : issue.path.map(String).join('.') || 'signal', reason: issue?.message ?? 'invalid' };
}

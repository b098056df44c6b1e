import { z } from 'zod';
import { SEVERITIES } from '../model/severity.ts';
import { CATEGORIES } from '../model/finding.ts';
import { MESH_CATEGORIES } from '../classify/catalog.ts';
import type { Notification, NotifyReason, TrackedFinding } from '../model/alert-group.ts';
import type { DriftState, GitOpsTool, OwnerRef, ResourceRef } from '../model/signal.ts';
import { ownerKey, ownerLabel } from '../model/owner.ts';

/**
 * The pure guardrail check of a remediation receiver (issue #6, STYLE.md rule 11): given one
 * notification, one owner and what Redis and the GitOps tool say, it decides whether to sync, skip
 * or escalate. No I/O and no clock: `now` comes in.
 */

export const REMEDIATION_ACTIONS = ['argocd-sync', 'argocd-operation', 'flux-reconcile'] as const;
export const remediationActionSchema = z.enum(REMEDIATION_ACTIONS);
/**
 * What a remediation receiver does: sync an Argo CD Application through its API server
 * (`argocd-sync`) or by setting its `operation` through the Kubernetes API (`argocd-operation`), or
 * ask Flux to reconcile.
 */
export type RemediationAction = z.infer<typeof remediationActionSchema>;

export const DEFAULT_FLAP_WITHIN_MS = 3_600_000;
export const DEFAULT_VERIFY_TIMEOUT_MS = 5 * 60_000;
export const RATE_WINDOW_MS = 3_600_000;

export const remediationConfigSchema = z.strictObject({
  action: remediationActionSchema,
  /** Log, audit and notify what would happen, and call nothing. On unless the policy turns it off. */
  dryRun: z.boolean().default(true),
  /** Argo CD only: let the sync delete live-only (Extraneous) resources it names. */
  prune: z.boolean().default(false),
  /** At most this many actions per owner in any hour; 0 disables actions. */
  maxPerHour: z.number().int().nonnegative().default(3),
  /** Flap breaker: a finding remediated `max` times within `withinMs` that still drifts is escalated, not remediated. */
  flap: z
    .strictObject({
      max: z.number().int().positive().default(3),
      withinMs: z.number().int().positive().default(DEFAULT_FLAP_WITHIN_MS),
      /** The severity the escalation is told at; default the highest of the tripped findings. */
      escalateSeverity: z.enum(SEVERITIES).optional(),
    })
    .prefault({}),
  /**
   * How long a remediated finding is given to show up resolved. Until then it is not remediated
   * again (a notification about other findings of the group must not re-sync it); after that, a
   * finding that is still drifted counts as having come back.
   */
  verifyTimeoutMs: z.number().int().positive().default(DEFAULT_VERIFY_TIMEOUT_MS),
  /**
   * The MESHDRIFT_CLUSTERS cluster whose Kubernetes API the action writes to (`kube.cluster`):
   * findings of other clusters are never remediated through it.
   */
  cluster: z.string().min(1).optional(),
  /** The finding categories it acts on: the mesh ones unless the policy lists others. */
  categories: z.array(z.enum(CATEGORIES)).default([...MESH_CATEGORIES]),
  /** Allow-lists checked against what meshdrift reads of the target (scope.ts); unset: any. */
  scope: z
    .strictObject({
      clusters: z.array(z.string()).optional(),
      projects: z.array(z.string()).optional(),
      namespaces: z.array(z.string()).optional(),
    })
    .prefault({}),
  /** The severity escalations (flap breaker open, verify failed) are notified at. */
  escalationSeverity: z.enum(SEVERITIES).default('high'),
});

/** Whether an action syncs an Argo CD Application (either way) rather than reconciling Flux. */
export function isArgoCdAction(action: RemediationAction): boolean {
  return action === 'argocd-sync' || action === 'argocd-operation';
}
/** A remediation receiver's settings, defaults applied. */
export type RemediationConfig = z.infer<typeof remediationConfigSchema>;
/** The same settings as written (every field but `action` optional). */
export type RemediationConfigInput = z.input<typeof remediationConfigSchema>;

/** Notification reasons that may cause an action; `some-resolved` and `resolved` never do. */
export const TRIGGERING_REASONS: readonly NotifyReason[] = ['first', 'new-findings', 'severity-raised', 'repeat'];

/** One GitOps owner within a notification: remediation, rate limits and locks are per owner. */
export interface RemediationOwner {
  cluster: string;
  tool: GitOpsTool;
  owner: OwnerRef;
}

/** What meshdrift remembers about remediating one finding (by fingerprint). */
export interface FindingRemediationHistory {
  /** Epoch ms of each real (not dry-run) remediation of this finding, in any order. */
  remediatedAt: readonly number[];
  /** Epoch ms at which the flap breaker last tripped for it. */
  escalatedAt?: number | undefined;
}

export interface RemediationInput {
  notification: Notification;
  owner: RemediationOwner;
  config: RemediationConfig;
  /** Epoch ms of this owner's recent real actions (the rate limit counts those in the last hour). */
  recentActions: readonly number[];
  /** By fingerprint; a finding without an entry was never remediated. */
  history: Readonly<Record<string, FindingRemediationHistory>>;
  /** An Argo CD operation is pending or running on the Application. */
  inProgress: boolean;
  /** The Flux object has `spec.suspend: true` (the CLI refuses to reconcile it, and so do we). */
  suspended?: boolean;
  /** Resources the GitOps tool now reports as Synced: an earlier operation already fixed them. */
  alreadySynced?: readonly ResourceRef[];
  /** Someone else started an operation moments ago (who, on what, when): wait for it, as for one in progress. */
  recentOperation?: string;
  now: number;
}

/**
 * Why nothing is done now. `in-progress` is the only deferral (re-queue with backoff); the others
 * are final for this notification.
 */
export type RemediationSkip = 'not-triggering' | 'no-findings' | 'nothing-to-remediate' | 'suspended' | 'rate-limited' | 'in-progress';

export interface RemediationDecision {
  /** `escalate`: the only thing to do is to escalate tripped findings (see `escalate`). */
  action: 'sync' | 'skip' | 'escalate';
  /** One human sentence (audited, shown in Slack later); never holds a secret. */
  reason: string;
  /** What to sync (action `sync` only): the drifted resources, never the owner's others. */
  resources: ResourceRef[];
  /** The findings behind `resources`. */
  fingerprints: string[];
  dryRun: boolean;
  /** Ask the sync to prune (Argo CD, only when the policy allows it and an Extraneous finding is synced). */
  prune: boolean;
  /** Findings whose flap breaker trips now: stop remediating them and escalate. May accompany any action. */
  escalate: string[];
  skip?: RemediationSkip;
  /** rate-limited: ms until the owner's next action is allowed. */
  retryAfterMs?: number;
}

const ARGOCD_STATES: ReadonlySet<DriftState> = new Set(['Modified', 'Missing', 'Extraneous']);
const FLUX_STATES: ReadonlySet<DriftState> = new Set(['Modified', 'Missing', 'Extraneous', 'ApplyFailed']);
const FLUX_KINDS: ReadonlySet<string> = new Set(['Kustomization', 'HelmRelease']);

/** The owners of a notification's firing findings, in first-seen order. */
export function ownersOf(n: Notification): RemediationOwner[] {
  const seen = new Map<string, RemediationOwner>();
  for (const f of n.firing) {
    const key = ownerKey(f);
    if (!seen.has(key)) seen.set(key, { cluster: f.cluster, tool: f.tool, owner: f.owner });
  }
  return [...seen.values()];
}

function resourceLabel(r: ResourceRef): string {
  return `${r.kind} ${r.namespace === '' ? '' : `${r.namespace}/`}${r.name}`;
}

function sameResource(a: ResourceRef, b: ResourceRef): boolean {
  return a.group === b.group && a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}

// Why the configured action cannot fix this finding, or null when it can.
function notRemediable(f: TrackedFinding, config: RemediationConfig): string | null {
  if (!config.categories.includes(f.category)) return `category ${f.category} is not one this receiver remediates (${config.categories.join(', ')})`;
  if (config.cluster !== undefined && f.cluster !== config.cluster) return `in cluster ${f.cluster}, not ${config.cluster} (the receiver's kube.cluster)`;
  if (isArgoCdAction(config.action)) {
    if (f.tool !== 'argocd' || f.owner.kind !== 'Application') return 'not owned by an Argo CD Application';
    if (f.state === 'Extraneous' && !config.prune) return 'live only; deleting it needs prune: true';
    if (!ARGOCD_STATES.has(f.state)) return `a sync does not fix ${f.state}`;
    return null;
  }
  if (f.tool !== 'flux' || !FLUX_KINDS.has(f.owner.kind)) return 'not owned by a Flux Kustomization or HelmRelease';
  if (f.state === 'Corrected') return 'Flux already reverted it';
  if (!FLUX_STATES.has(f.state)) return `a reconcile does not fix ${f.state}`;
  return null;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Decides what a remediation receiver does for one owner of a notification. Checks, in order:
 * trigger reason; the owner's firing findings (only those the notification carries, which the
 * route chose); whether the action can fix each; flap breaker open; awaiting the result of an
 * earlier action; already synced; breaker tripping now; suspended; rate limit; operation in
 * progress. Dry run changes only the outcome's label: every check still runs.
 */
export function decideRemediation(input: RemediationInput): RemediationDecision {
  const { notification: n, config, now } = input;
  const key = ownerKey(input.owner);
  const base = { dryRun: config.dryRun, prune: false, resources: [] as ResourceRef[], fingerprints: [] as string[], escalate: [] as string[] };
  const skip = (code: RemediationSkip, reason: string, extra: Partial<RemediationDecision> = {}): RemediationDecision => ({
    ...base,
    action: 'skip',
    skip: code,
    reason,
    ...extra,
  });

  if (n.status !== 'firing' || !TRIGGERING_REASONS.includes(n.reason)) {
    return skip('not-triggering', `a ${n.reason} notification does not trigger remediation`);
  }
  const findings = n.firing.filter((f) => f.status === 'firing' && ownerKey(f) === key);
  if (findings.length === 0) return skip('no-findings', `no firing finding of ${ownerLabel(input.owner)} in this notification`);

  const held: string[] = [];
  const sync: TrackedFinding[] = [];
  const escalate: string[] = [];
  for (const f of findings) {
    const why = notRemediable(f, config);
    if (why !== null) {
      held.push(`${resourceLabel(f.resource)}: ${why}`);
      continue;
    }
    const h = input.history[f.fingerprint];
    if (h?.escalatedAt !== undefined && now - h.escalatedAt < config.flap.withinMs) {
      held.push(`${resourceLabel(f.resource)}: flap breaker open since ${isoOf(h.escalatedAt)}`);
      continue;
    }
    const times = h?.remediatedAt ?? [];
    const last = times.length === 0 ? undefined : Math.max(...times);
    // Same drift episode as the last action and still within its verify time: the action's result
    // is not in yet. Re-syncing would double the action and count a flap that is not one.
    if (last !== undefined && f.firstSeen <= last && now - last < config.verifyTimeoutMs) {
      held.push(`${resourceLabel(f.resource)}: remediated at ${isoOf(last)}, awaiting the result`);
      continue;
    }
    if (input.alreadySynced?.some((r) => sameResource(r, f.resource))) {
      held.push(`${resourceLabel(f.resource)}: already synced`);
      continue;
    }
    // Every remediation within the window was followed by the drift coming back (or staying), as
    // this notification shows.
    const returns = times.filter((t) => now - t < config.flap.withinMs).length;
    if (returns >= config.flap.max) {
      escalate.push(f.fingerprint);
      held.push(
        `${resourceLabel(f.resource)}: drifted again after ${plural(returns, 'remediation')} within ${Math.round(config.flap.withinMs / 60_000)}m; escalating instead`,
      );
      continue;
    }
    sync.push(f);
  }

  const heldNote = held.length === 0 ? '' : ` (held: ${held.join('; ')})`;
  if (sync.length === 0) {
    if (escalate.length > 0) {
      return {
        ...base,
        action: 'escalate',
        escalate,
        reason: `flap breaker tripped for ${plural(escalate.length, 'finding')} of ${ownerLabel(input.owner)}; auto-remediation stopped for them${heldNote}`,
      };
    }
    return skip('nothing-to-remediate', `nothing to remediate in ${ownerLabel(input.owner)}${heldNote}`);
  }

  if (input.suspended === true) {
    return skip('suspended', `${ownerLabel(input.owner)} is suspended (spec.suspend: true); resume it to reconcile`, { escalate });
  }
  const recent = input.recentActions.filter((t) => now - t < RATE_WINDOW_MS && t <= now);
  if (recent.length >= config.maxPerHour) {
    const retryAfterMs = recent.length === 0 ? RATE_WINDOW_MS : Math.max(0, Math.min(...recent) + RATE_WINDOW_MS - now);
    return skip(
      'rate-limited',
      `rate limit: ${plural(recent.length, 'action')} on ${ownerLabel(input.owner)} in the last hour (max ${config.maxPerHour})${heldNote}`,
      { escalate, retryAfterMs },
    );
  }
  if (input.recentOperation !== undefined) {
    return skip('in-progress', `${input.recentOperation}; waiting for Argo CD to compare again before acting`, { escalate });
  }
  if (input.inProgress) {
    return skip('in-progress', `an operation is in progress on ${ownerLabel(input.owner)}; retrying when it is done`, { escalate });
  }

  const resources = sync.map((f) => f.resource);
  const what = `${plural(resources.length, 'drifted resource')} of ${ownerLabel(input.owner)} (${resources.map(resourceLabel).join(', ')})`;
  const verb = isArgoCdAction(config.action) ? 'sync' : 'reconcile';
  return {
    ...base,
    action: 'sync',
    resources,
    fingerprints: sync.map((f) => f.fingerprint),
    prune: isArgoCdAction(config.action) && config.prune && sync.some((f) => f.state === 'Extraneous'),
    escalate,
    reason: `${config.dryRun ? `dry run: would ${verb}` : verb} ${what} after a ${n.reason} notification${heldNote}`,
  };
}

/**
 * The wait before retrying a deferred action: `baseMs` doubling with each consecutive deferral of
 * the same owner (1-based), capped at `capMs`, so a long operation is polled less and less often.
 */
export function deferDelayMs(deferrals: number, baseMs: number, capMs: number): number {
  const n = Math.max(1, Math.floor(deferrals));
  return Math.min(capMs, baseMs * 2 ** Math.min(n - 1, 30));
}

import { z } from 'zod';
import { findingSchema } from './finding.ts';
import { ownerRefSchema, TOOLS } from './signal.ts';
import { severitySchema } from './severity.ts';

/** Alertmanager's notification reasons, in drift terms. */
export const NOTIFY_REASONS = ['first', 'new-findings', 'severity-raised', 'some-resolved', 'resolved', 'repeat', 'none'] as const;
export const notifyReasonSchema = z.enum(NOTIFY_REASONS);
export type NotifyReason = z.infer<typeof notifyReasonSchema>;

export const trackedFindingSchema = findingSchema.extend({
  firstSeen: z.number(),
  lastSeen: z.number(),
  status: z.enum(['firing', 'resolved']),
  resolvedAt: z.number().optional(),
  /**
   * Set on a reverted (Corrected) finding told resolved, which its group keeps until then (epoch
   * ms) so that a late second report of the same revert opens no new episode (track/decide.ts
   * REVERT_MEMORY_MS). Never in a notification. Absent in states of older versions.
   */
  rememberedUntil: z.number().optional(),
});
/** A finding as the tracker holds it: with its lifecycle. */
export type TrackedFinding = z.infer<typeof trackedFindingSchema>;

/**
 * When a resolved finding's drift ended, by meshdrift's clock, never after `fallback` (the
 * notification's time; also the answer when nothing says, a finding of an older version):
 * - its `resolvedAt`, when the snapshot that no longer reported it was applied;
 * - for drift the GitOps tool had already reverted when it reported it (`Corrected`: Flux's
 *   DriftCorrected or change set, the mesh watch's revert), `lastSeen`, when that report came. Its
 *   `resolvedAt` is when meshdrift told it and let it resolve itself (track/decide.ts flush), the
 *   time of its first notification, not of the drift's end.
 * The group's end (track/decide.ts driftEndedAt) is the latest of its findings'.
 */
export function findingEndedAt(f: Pick<TrackedFinding, 'state' | 'lastSeen' | 'resolvedAt'>, fallback: number): number {
  const resolved = Math.min(f.resolvedAt ?? fallback, fallback);
  return f.state === 'Corrected' ? Math.min(resolved, f.lastSeen) : resolved;
}

export const groupLabelsSchema = z.object({
  /** Cluster, tool, owner and project of the group's first finding (all share them under the default group_by). */
  cluster: z.string(),
  tool: z.enum(TOOLS),
  owner: ownerRefSchema,
  project: z.string(),
  /** The route that formed the group, its receiver, and the values of its group_by labels. */
  route: z.string().optional(),
  receiver: z.string().optional(),
  groupBy: z.record(z.string(), z.string()).optional(),
});
export type GroupLabels = z.infer<typeof groupLabelsSchema>;

/**
 * What a drift storm's summary says besides its headline (deliver/storm.ts): the receivers render
 * it as one event with these counts (PagerDuty custom_details, Alertmanager/webhook annotations).
 */
export const stormSummarySchema = z.object({
  id: z.string(),
  /** What the members share: one revision, one cluster, or only that they came at once. */
  cause: z.enum(['revision', 'cluster', 'burst']),
  revision: z.string().optional(),
  cluster: z.string().optional(),
  /** The storm's headline ("1,412 resources in 387 apps drifted in prod-eu after revision abc123, 12 critical"). */
  headline: z.string(),
  /** Member groups firing now, and every group that joined over the storm's life. */
  groups: z.number().int().nonnegative(),
  joined: z.number().int().nonnegative(),
  apps: z.number().int().nonnegative(),
  resources: z.number().int().nonnegative(),
  critical: z.number().int().nonnegative(),
  clusters: z.number().int().nonnegative(),
  /** Where every member is listed: GET /api/v1/storms/{id} (absolute with MESHDRIFT_PUBLIC_URL). */
  href: z.string(),
});
export type StormSummary = z.infer<typeof stormSummarySchema>;

/**
 * Set on a remediation escalation only (never stored with a group; remediate/escalation.ts): auto-
 * remediation gave up on an owner (its flap breaker opened, or an action did not converge), told
 * as a notification of its own with its own group key (so its own PagerDuty dedup key), resolved
 * when remediation succeeds again or a human acts.
 */
export const remediationEscalationSchema = z.object({
  kind: z.enum(['flap-breaker', 'verify-failed']),
  /** The remediate receiver that gave up. */
  receiver: z.string().max(300),
  /** One plain sentence: what stopped and why. */
  headline: z.string().max(1000),
  /** The escalation's id (the audit and the jobs carry it). */
  id: z.string().max(500),
});
export type RemediationEscalationSummary = z.infer<typeof remediationEscalationSchema>;

export const notificationSchema = z.object({
  groupKey: z.string(),
  /** 1, 2, 3…: the n-th notification of this group's lifetime. */
  seq: z.number().int().positive(),
  reason: notifyReasonSchema.exclude(['none']),
  status: z.enum(['firing', 'resolved']),
  labels: groupLabelsSchema,
  severity: severitySchema,
  firing: z.array(trackedFindingSchema),
  resolved: z.array(trackedFindingSchema),
  /** Epoch ms of the decision. */
  at: z.number(),
  /** Epoch ms at which the group first fired (for MTTD and "firing for …"). */
  firstSeen: z.number(),
  /**
   * A resolved notification's: epoch ms the drift ended (its last finding resolved, meshdrift's
   * clock), so `resolvedAt - firstSeen` is how long it lasted. Absent from notifications of older
   * versions: `at` is the best known then.
   */
  resolvedAt: z.number().optional(),
  /** Set on a drift storm's summary only (never stored with a group). */
  storm: stormSummarySchema.optional(),
  /** Set on a remediation escalation only (never stored with a group). */
  escalation: remediationEscalationSchema.optional(),
});
/** What one notification of an alert group says; the same object goes to every receiver. */
export type Notification = z.infer<typeof notificationSchema>;

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
});
/** A finding as the tracker holds it: with its lifecycle. */
export type TrackedFinding = z.infer<typeof trackedFindingSchema>;

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
});
/** What one notification of an alert group says; the same object goes to every receiver. */
export type Notification = z.infer<typeof notificationSchema>;

import { z } from 'zod';
import { groupLabelsSchema, notificationSchema, trackedFindingSchema } from '../model/alert-group.ts';

/**
 * Everything the tracker keeps about one alert group, stored as one JSON value in Redis so that a
 * read-decide-commit cycle is one WATCH/GET/MULTI. Validated when read back: a value written by an
 * older or newer meshdrift fails loudly instead of being half-understood.
 */
export const groupStateSchema = z.object({
  v: z.literal(1),
  groupKey: z.string(),
  labels: groupLabelsSchema,
  /** By fingerprint. Firing ones, and resolved ones not yet announced. */
  findings: z.record(z.string(), trackedFindingSchema),
  /** Epoch ms the current episode started (first finding of an unresolved group). */
  firstSeen: z.number(),
  /** Newest accepted snapshot's observation time; older snapshots are stale and ignored. */
  lastSnapshotAt: z.number(),
  /** Last flush sequence number allocated (flush job ids derive from it). */
  flushSeq: z.number().int().nonnegative(),
  /** A flush (notification decision) is scheduled. */
  pendingFlush: z.object({ seq: z.number().int().positive(), dueAt: z.number() }).nullable(),
  /** The flush seq whose decision was committed last (to recover its jobs after a crash). */
  handledFlushSeq: z.number().int().nonnegative(),
  lastNotification: notificationSchema.nullable(),
});
export type GroupState = z.infer<typeof groupStateSchema>;

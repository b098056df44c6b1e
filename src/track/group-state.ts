import { z } from 'zod';
import { groupLabelsSchema, notificationSchema, trackedFindingSchema } from '../model/alert-group.ts';

/**
 * What a group remembers of an owner's last accepted snapshot, for the order rules
 * (track/decide.ts isStaleSnapshot): when (meshdrift's shared clock, or a sender's time bounded to
 * the receipt) and whether meshdrift observed it itself (watch, re-list, API poll) or was told it
 * (webhook).
 */
export const snapshotRecordSchema = z.object({ at: z.number(), observed: z.boolean() });
export type SnapshotRecord = z.infer<typeof snapshotRecordSchema>;

export const timingSchema = z.object({
  /** Wait before the first notification of a group, to batch what drifts together. */
  groupWaitMs: z.number().nonnegative(),
  /** Minimum time between two notifications of the same group. */
  groupIntervalMs: z.number().nonnegative(),
  /** Re-notify a group still firing after this long. */
  repeatIntervalMs: z.number().nonnegative(),
  /** A finding must stay drifted this long before it is notified (flap suppression). */
  pendingForMs: z.number().nonnegative(),
  /**
   * Wait before a group whose every finding resolved is told so (the all-clear), instead of
   * group_interval. Absent in states written before it existed (a rolling upgrade): such a group
   * is told at group_interval, as before (track/decide.ts resolveWaitOf).
   */
  resolveWaitMs: z.number().nonnegative().optional(),
});
/** The timers of the route that formed a group (Alertmanager's, plus pending_for). */
export type Timing = z.infer<typeof timingSchema>;

/**
 * Everything the tracker keeps about one alert group. Stored a field per finding since issue #15
 * (track/group-layout.ts); before, as one JSON value (field `s`), which this schema still checks
 * when such a group is read (a rolling upgrade): a value it does not understand fails loudly
 * instead of being half-understood.
 */
export const groupStateSchema = z.object({
  v: z.literal(1),
  groupKey: z.string(),
  /**
   * When this incarnation of the group was created. Flush job ids include it: a group deleted and
   * created again restarts its flush seq, and must not collide with the old (completed) jobs.
   */
  createdAt: z.number(),
  labels: groupLabelsSchema,
  /** The route's timers, refreshed by every signal (so a policy reload takes effect). */
  timing: timingSchema,
  /** By fingerprint. Firing ones, and resolved ones not yet announced. */
  findings: z.record(z.string(), trackedFindingSchema),
  /** Epoch ms the current episode started (first finding of an unresolved group). */
  firstSeen: z.number(),
  /**
   * Per owner (a group may span several): the time of the last accepted snapshot. Kept (as
   * `snapshotRecords[owner].at`) for replicas of the previous version during a rolling upgrade;
   * read as a told time when `snapshotRecords` has no entry (a state written before it existed).
   */
  snapshots: z.record(z.string(), z.number()),
  /** Per owner: the last accepted snapshot, told or observed. Absent in states written before. */
  snapshotRecords: z.record(z.string(), snapshotRecordSchema).optional(),
  /** Last flush sequence number allocated (flush job ids derive from it). */
  flushSeq: z.number().int().nonnegative(),
  /** A flush (notification decision) is scheduled. */
  pendingFlush: z.object({ seq: z.number().int().positive(), dueAt: z.number() }).nullable(),
  /** The flush seq whose decision was committed last (to recover its jobs after a crash). */
  handledFlushSeq: z.number().int().nonnegative(),
  lastNotification: notificationSchema.nullable(),
});
export type GroupState = z.infer<typeof groupStateSchema>;

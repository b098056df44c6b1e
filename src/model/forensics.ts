import { z } from 'zod';

/**
 * What changed on a drifted mesh object and who changed it (issues #16, #17). Sources attach these
 * to a resource of a signal (model/signal.ts resourceStateSchema); classify copies them onto the
 * finding; every receiver renders them. Everything here is already redacted (what leaves the
 * process is never a raw value: see the redaction module) and bounded in size by the schemas below,
 * so a stored group cannot grow without bound through them.
 */

/** Longest rendered value kept for one side of a change (characters). */
export const MAX_CHANGE_VALUE = 256;
/** Most field changes kept per finding; the rest are counted in `omitted`. */
export const MAX_CHANGES = 20;
/** Most attributions (writers) kept per finding. */
export const MAX_ATTRIBUTIONS = 5;

export const fieldChangeSchema = z.object({
  /** Field path in the object, dotted with indexes or keys: `spec.http[0].route[1].weight`. */
  path: z.string().min(1).max(512),
  /** Rendered value before (JSON text, redacted, truncated); absent: the field did not exist. */
  before: z.string().max(MAX_CHANGE_VALUE).optional(),
  /** Rendered value after; absent: the field was removed. */
  after: z.string().max(MAX_CHANGE_VALUE).optional(),
  /** A masked value (a secret-looking key or value, an EnvoyFilter patch): shown as changed only. */
  masked: z.literal(true).optional(),
});
/** One field that differs between what the GitOps tool wants (before) and what is live (after). */
export type FieldChange = z.infer<typeof fieldChangeSchema>;

export const CHANGE_SOURCES = ['argocd-managed-resources', 'snapshot', 'admission'] as const;

export const changeListSchema = z.object({
  /**
   * Where the comparison came from: Argo CD's managed-resources API (predicted vs normalized live
   * state), meshdrift's own snapshot of the object as its GitOps manager last wrote it, or an
   * admission request's oldObject → object.
   */
  source: z.enum(CHANGE_SOURCES),
  changes: z.array(fieldChangeSchema).max(MAX_CHANGES),
  /** How many further changes the size budget left out. */
  omitted: z.number().int().nonnegative().optional(),
});
export type ChangeList = z.infer<typeof changeListSchema>;

export const attributionSchema = z.object({
  /**
   * `person`: a user named by the API server in an admission request (userInfo.username, or its
   * hash when the policy says so). `tool`: a field manager from managedFields (`kubectl-edit`),
   * which names a workflow that any client can claim, never a person.
   */
  kind: z.enum(['person', 'tool']),
  /** The username (or `sha256:…` of it) for a person; the field manager for a tool. */
  who: z.string().min(1).max(256),
  /** The field manager or client the person used (`kubectl-edit`), when known. */
  via: z.string().max(256).optional(),
  /** `Update`/`Apply` (managedFields) or `CREATE`/`UPDATE`/`DELETE` (admission). */
  operation: z.string().max(32).optional(),
  /** Epoch ms of the write (managedFields `time` is per manager entry: best effort). */
  at: z.number().int().nonnegative().optional(),
  source: z.enum(['managedFields', 'admission']),
  /** Changed paths this writer's fields intersect. */
  paths: z.array(z.string().max(512)).max(MAX_CHANGES).optional(),
});
/** Who wrote a drifted field, and how sure meshdrift is of it (`kind`). */
export type Attribution = z.infer<typeof attributionSchema>;

export const attributionsSchema = z.array(attributionSchema).max(MAX_ATTRIBUTIONS);

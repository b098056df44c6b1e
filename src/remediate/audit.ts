import type { Redis } from 'ioredis';
import { z } from 'zod';
import { ownerRefSchema, resourceRefSchema } from '../model/signal.ts';
import { REMEDIATION_ACTIONS } from './policy.ts';

/**
 * The one audit trail (issue #6, STYLE.md rule 11): every remediation decision and action, every
 * Slack button click, and every PagerDuty acknowledge — who or what asked, what, when, and the
 * result — in one Redis stream `${keyPrefix}:audit`, trimmed by length and by age.
 * `GET /api/v1/audit` reads it through {@link AuditTrail.list}.
 */

/**
 * Small enum: the metric label `outcome` of `meshdrift_remediations_total` and the audit outcome.
 * `verified` / `verify-failed` close a `performed` action (the verify step); `denied` is a Slack
 * click by someone the route does not allow.
 */
export const REMEDIATION_OUTCOMES = [
  'performed',
  'dry-run',
  'deferred',
  'failed',
  'rate-limited',
  'escalated',
  'skipped',
  'verified',
  'verify-failed',
  'denied',
] as const;
export const remediationOutcomeSchema = z.enum(REMEDIATION_OUTCOMES);
export type RemediationOutcome = z.infer<typeof remediationOutcomeSchema>;

/**
 * What produced a record: a remediation receiver, a Slack button, a PagerDuty acknowledge, or a
 * write on the web page (issue #21). A replica of an older version skips `web` records (unknown kind).
 */
export const AUDIT_KINDS = ['remediation', 'slack-action', 'pagerduty', 'web'] as const;
/** Remediation actions, and what a Slack button, a PagerDuty event or the web page asks for. */
export const AUDIT_ACTIONS = [...REMEDIATION_ACTIONS, 'sync', 'silence', 'acknowledge', 'expire', 'retry'] as const;

export const auditEntrySchema = z.object({
  /** Records written before kinds existed were all remediation. */
  kind: z.enum(AUDIT_KINDS).default('remediation'),
  /** Epoch ms of the decision. */
  at: z.number().int().nonnegative(),
  /** `meshdrift` for automatic decisions; `slack:<user id>` for button clicks. */
  actor: z.string().min(1),
  action: z.enum(AUDIT_ACTIONS),
  cluster: z.string(),
  /** Absent only for a click on an alert group that no longer exists. */
  owner: ownerRefSchema.optional(),
  resources: z.array(resourceRefSchema).default([]),
  fingerprints: z.array(z.string()).default([]),
  dryRun: z.boolean().default(false),
  outcome: remediationOutcomeSchema,
  reason: z.string(),
  /** The alert group and notification that caused it, when one did. */
  groupKey: z.string().optional(),
  seq: z.number().int().positive().optional(),
  /** The silence a Slack "Silence" click created. */
  silenceId: z.string().optional(),
  /** Resources and fingerprints left out of the lists (at most AUDIT_ENTRY_REFS of each are kept). */
  omitted: z.number().int().nonnegative().optional(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;
/** An entry as written: kind (default remediation), resources, fingerprints and dryRun may be left out. */
export type AuditEntryInput = z.input<typeof auditEntrySchema>;
/** An entry as read back, with its stream id (a cursor for paging). */
export type AuditRecord = AuditEntry & { id: string };

export interface AuditListOptions {
  /** At most this many records, newest first (1…1000). */
  limit: number;
  /** Only records written at or after this epoch ms (by the stream id, i.e. the Redis clock). */
  since?: number;
  /** Only records older than this id (the last id of the previous page). */
  before?: string;
}

export interface AuditTrail {
  /** Appends one entry; resolves its id. Rejects when Redis does (the caller must not act unaudited). */
  append(entry: AuditEntryInput): Promise<string>;
  /** Newest first. Entries that do not parse (written by a newer version) are left out. */
  list(opts: AuditListOptions): Promise<AuditRecord[]>;
}

export interface RedisAuditTrailOptions {
  /** Approximate maximum entries kept; default 100,000. */
  maxLen?: number;
  /** Entries older than this are trimmed on append; default 30 days. */
  retentionMs?: number;
  now: () => number;
}

export const DEFAULT_AUDIT_MAX_LEN = 100_000;
/** Resources and fingerprints one record names; the rest are counted in `omitted` (issue #12). */
export const AUDIT_ENTRY_REFS = 20;
/** Longest reason and actor kept; longer ones end in `…`. */
export const AUDIT_REASON_CHARS = 1000;
export const AUDIT_ACTOR_CHARS = 256;

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/**
 * An entry bounded in size: at most AUDIT_ENTRY_REFS resources and fingerprints (the others
 * counted in `omitted`), reason and actor clipped. One entry stays a few KB whatever it is about.
 */
export function boundedAuditEntry(e: AuditEntry): AuditEntry {
  const omitted = Math.max(0, e.resources.length - AUDIT_ENTRY_REFS) + Math.max(0, e.fingerprints.length - AUDIT_ENTRY_REFS) + (e.omitted ?? 0);
  return {
    ...e,
    actor: clip(e.actor, AUDIT_ACTOR_CHARS),
    reason: clip(e.reason, AUDIT_REASON_CHARS),
    resources: e.resources.slice(0, AUDIT_ENTRY_REFS),
    fingerprints: e.fingerprints.slice(0, AUDIT_ENTRY_REFS),
    ...(omitted > 0 ? { omitted } : {}),
  };
}
export const DEFAULT_AUDIT_RETENTION_MS = 30 * 86_400_000;
const MAX_LIST = 1000;

// Stream field values are strings; structured ones are JSON.
const storedSchema = z.object({
  kind: z.string().optional(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  cluster: z.string(),
  owner: z.string().optional(),
  resources: z.string(),
  fingerprints: z.string(),
  dryRun: z.enum(['true', 'false']),
  outcome: z.string(),
  reason: z.string(),
  groupKey: z.string().optional(),
  seq: z.string().optional(),
  silenceId: z.string().optional(),
  omitted: z.string().optional(),
});

/** The audit trail in a Redis stream. */
export function createRedisAuditTrail(redis: Redis, keyPrefix: string, opts: RedisAuditTrailOptions): AuditTrail {
  const key = `${keyPrefix}:audit`;
  const maxLen = opts.maxLen ?? DEFAULT_AUDIT_MAX_LEN;
  const retentionMs = opts.retentionMs ?? DEFAULT_AUDIT_RETENTION_MS;

  return {
    async append(entry) {
      const e = boundedAuditEntry(auditEntrySchema.parse(entry));
      const fields: string[] = [
        'kind',
        e.kind,
        'at',
        String(e.at),
        'actor',
        e.actor,
        'action',
        e.action,
        'cluster',
        e.cluster,
        ...(e.owner === undefined ? [] : ['owner', JSON.stringify(e.owner)]),
        'resources',
        JSON.stringify(e.resources),
        'fingerprints',
        JSON.stringify(e.fingerprints),
        'dryRun',
        String(e.dryRun),
        'outcome',
        e.outcome,
        'reason',
        e.reason,
        ...(e.groupKey === undefined ? [] : ['groupKey', e.groupKey]),
        ...(e.seq === undefined ? [] : ['seq', String(e.seq)]),
        ...(e.silenceId === undefined ? [] : ['silenceId', e.silenceId]),
        ...(e.omitted === undefined ? [] : ['omitted', String(e.omitted)]),
      ];
      // One trim strategy per XADD: MAXLEN ~ here, exact MINID (age) in the same transaction (exact,
      // because `~` trims only whole stream nodes and would never trim a small stream by age). Stream ids
      // are Redis's clock; a few seconds of skew against `now` does not matter at day scale.
      const minId = Math.max(0, opts.now() - retentionMs);
      // The stream expires too, retentionMs after its last record (all of them are older by then).
      const res = await redis
        .multi()
        .xadd(key, 'MAXLEN', '~', String(maxLen), '*', ...fields)
        .xtrim(key, 'MINID', String(minId))
        .pexpire(key, retentionMs)
        .exec();
      const first = res?.[0];
      if (!first || first[0] !== null || typeof first[1] !== 'string') throw new Error(`audit append failed: ${first?.[0]?.message ?? 'transaction aborted'}`);
      return first[1];
    },
    async list({ limit, since, before }) {
      const count = Math.max(1, Math.min(MAX_LIST, Math.floor(limit)));
      const end = before === undefined ? '+' : `(${before}`;
      const start = since === undefined ? '-' : `${Math.max(0, Math.floor(since))}-0`;
      const rows = await redis.xrevrange(key, end, start, 'COUNT', count);
      const out: AuditRecord[] = [];
      for (const [id, flat] of rows) {
        const record = decode(id, flat);
        if (record !== undefined) out.push(record);
      }
      return out;
    },
  };
}

function decode(id: string, flat: string[]): AuditRecord | undefined {
  const obj: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) obj[flat[i] ?? ''] = flat[i + 1] ?? '';
  const stored = storedSchema.safeParse(obj);
  if (!stored.success) return undefined;
  const s = stored.data;
  try {
    const entry = auditEntrySchema.safeParse({
      ...(s.kind === undefined ? {} : { kind: s.kind }),
      at: Number(s.at),
      actor: s.actor,
      action: s.action,
      cluster: s.cluster,
      ...(s.owner === undefined ? {} : { owner: JSON.parse(s.owner) }),
      resources: JSON.parse(s.resources),
      fingerprints: JSON.parse(s.fingerprints),
      dryRun: s.dryRun === 'true',
      outcome: s.outcome,
      reason: s.reason,
      ...(s.groupKey === undefined ? {} : { groupKey: s.groupKey }),
      ...(s.seq === undefined ? {} : { seq: Number(s.seq) }),
      ...(s.silenceId === undefined ? {} : { silenceId: s.silenceId }),
      ...(s.omitted === undefined ? {} : { omitted: Number(s.omitted) }),
    });
    return entry.success ? { ...entry.data, id } : undefined;
  } catch {
    return undefined;
  }
}

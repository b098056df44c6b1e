import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Notification, TrackedFinding } from '../model/alert-group.ts';
import { ownerKey, ownerLabel } from '../model/owner.ts';
import { SEVERITIES } from '../model/severity.ts';
import { ownerRefSchema, resourceRefSchema, TOOLS } from '../model/signal.ts';
import type { RemediationKeys } from './keys.ts';

/**
 * A remediation escalation (issue #22): auto-remediation gave up on an owner (its flap breaker
 * opened, or an action did not converge) and says so as a notification of its own, through the
 * receivers the remediate receiver names (`escalate_to`, default the root route's), with its own
 * group key, so its own PagerDuty dedup key; resolved when remediation succeeds again or a human
 * acts. One open escalation per receiver and owner is kept in Redis (keys.ts `escalation`), so
 * a resolve finds it on any replica and a retried job tells the same event again (fixed job ids:
 * nothing twice, nothing lost).
 */

/** How long an open escalation is remembered (to resolve it); a resolved one, to re-tell its resolve on a retry. */
export const ESCALATION_TTL_MS = 7 * 86_400_000;
export const RESOLVED_ESCALATION_TTL_MS = 86_400_000;
/** Resources and fingerprints one event names (the rest are in the audit trail's record). */
export const ESCALATION_REFS = 20;

export const escalationEventSchema = z.object({
  /** Fixed per escalation: `flap:<receiver>:<group>:<seq>:<owner>` or `verify:<actionId>`. */
  id: z.string().min(1).max(2000),
  status: z.enum(['firing', 'resolved']),
  kind: z.enum(['flap-breaker', 'verify-failed']),
  /** The remediate receiver that gave up. */
  receiver: z.string().min(1),
  cluster: z.string(),
  tool: z.enum(TOOLS),
  owner: ownerRefSchema,
  project: z.string(),
  severity: z.enum(SEVERITIES),
  /** Why it escalated (or, resolved, why it is over): one plain sentence. */
  reason: z.string().max(1000),
  resources: z.array(resourceRefSchema).max(ESCALATION_REFS),
  fingerprints: z.array(z.string()).max(ESCALATION_REFS),
  /** The notification the findings are read from (notification store), for the message's resource list. */
  groupKey: z.string(),
  seq: z.number().int().positive(),
  /** Epoch ms: when it escalated, and this event's time (the resolve's, once resolved). */
  firstAt: z.number(),
  at: z.number(),
});
export type EscalationEvent = z.infer<typeof escalationEventSchema>;

/** The escalation's own group key: one per remediate receiver and owner (PagerDuty's dedup key derives from it). */
export function escalationGroupKey(receiver: string, owner: Pick<EscalationEvent, 'cluster' | 'tool' | 'owner'>): string {
  return `remediation-escalation:${receiver}:${ownerKey(owner)}`;
}

const clip = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/** What the receivers read as the title. */
export function escalationHeadline(e: EscalationEvent): string {
  const who = ownerLabel(e);
  if (e.status === 'resolved') return clip(`Auto-remediation of ${who} (${e.receiver}) no longer escalated: ${e.reason}`, 1000);
  const what = e.kind === 'flap-breaker' ? 'stopped' : 'did not converge';
  return clip(`Auto-remediation ${what} for ${who} (${e.receiver}): ${e.reason}`, 1000);
}

/**
 * The escalation as a {@link Notification}: its own group key, seq 1 firing and 2 resolved, the
 * severity the policy sets, the findings it gave up on (from the source notification, when still
 * stored), and `escalation` set, which the receivers render as one event about the owner. Pure.
 */
export function escalationNotification(e: EscalationEvent, source: Notification | null): Notification {
  const wanted = new Set(e.fingerprints);
  const picked: TrackedFinding[] = [...(source?.firing ?? []), ...(source?.resolved ?? [])].filter((f) => wanted.has(f.fingerprint));
  const firing = e.status === 'firing';
  return {
    groupKey: escalationGroupKey(e.receiver, e),
    seq: firing ? 1 : 2,
    reason: firing ? 'first' : 'resolved',
    status: e.status,
    labels: { cluster: e.cluster, tool: e.tool, owner: e.owner, project: e.project !== '' ? e.project : (source?.labels.project ?? '') },
    severity: e.severity,
    firing: firing ? picked : [],
    resolved: firing ? [] : picked.map((f) => ({ ...f, status: 'resolved' as const, resolvedAt: e.at })),
    at: e.at,
    firstSeen: e.firstAt,
    escalation: { kind: e.kind, receiver: e.receiver, headline: escalationHeadline(e), id: e.id },
  };
}

/** The open escalations of the remediate receivers, in Redis. */
export interface EscalationState {
  /** Opens (or replaces) the owner's escalation. */
  open(e: EscalationEvent): Promise<void>;
  /** The escalation stored for the receiver and owner when it has this id (a retry re-tells it). */
  find(receiver: string, oKey: string, id: string): Promise<EscalationEvent | undefined>;
  /** Resolves the owner's open escalation: its resolved event, or undefined when none is open. */
  resolve(receiver: string, oKey: string, at: number, reason: string): Promise<EscalationEvent | undefined>;
}

export function createEscalationState(redis: Redis, keys: RemediationKeys): EscalationState {
  const read = async (key: string): Promise<EscalationEvent | undefined> => {
    const raw = await redis.get(key);
    if (raw === null) return undefined;
    try {
      const parsed = escalationEventSchema.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    async open(e) {
      await redis.set(keys.escalation(e.receiver, ownerKey(e)), JSON.stringify(e), 'PX', ESCALATION_TTL_MS);
    },
    async find(receiver, oKey, id) {
      const e = await read(keys.escalation(receiver, oKey));
      return e?.id === id ? e : undefined;
    },
    // Two replicas resolving at once both tell the same resolve id: the job id makes it one.
    async resolve(receiver, oKey, at, reason) {
      const key = keys.escalation(receiver, oKey);
      const e = await read(key);
      if (e === undefined || e.status !== 'firing') return undefined;
      const resolved: EscalationEvent = { ...e, status: 'resolved', at, reason: clip(reason, 1000) };
      await redis.set(key, JSON.stringify(resolved), 'PX', RESOLVED_ESCALATION_TTL_MS);
      return resolved;
    },
  };
}

import { V1MicroTime } from '@kubernetes/client-node';
import { z } from 'zod';

/**
 * The Lease of leader election (kube/leader.ts), pure: the record as read (zod) and written, and
 * client-go's timing decisions on it (tryAcquireOrRenew, the renew deadline).
 */

// ── The Lease, as read (zod) and written ────────────────────────────────────────────────────────

// The typed client hands MicroTime fields back as the wire strings (it does not know the type);
// a Date is accepted too, in case a later client version converts them.
const microTime = z
  .union([z.string(), z.date()])
  .nullable()
  .optional()
  .transform((v): number | undefined => {
    if (v === null || v === undefined) return undefined;
    const ms = v instanceof Date ? v.getTime() : Date.parse(v);
    return Number.isFinite(ms) ? ms : undefined;
  });

const leaseSchema = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string().optional(), resourceVersion: z.string().optional() }),
  spec: z
    .object({
      holderIdentity: z.string().nullable().optional(),
      leaseDurationSeconds: z.number().nullable().optional(),
      acquireTime: microTime,
      renewTime: microTime,
      leaseTransitions: z.number().nullable().optional(),
    })
    .optional(),
});

/** The leader election record held in a Lease (client-go's LeaderElectionRecord). */
export interface LeaseRecord {
  /** '' when free (released, or never held). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** Epoch ms. */
  acquireTime?: number;
  /** Epoch ms. */
  renewTime?: number;
  leaseTransitions: number;
  resourceVersion: string;
}

export function parseLease(raw: unknown): LeaseRecord {
  const lease = leaseSchema.parse(raw);
  const spec = lease.spec;
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    ...(spec?.acquireTime !== undefined ? { acquireTime: spec.acquireTime } : {}),
    ...(spec?.renewTime !== undefined ? { renewTime: spec.renewTime } : {}),
    leaseTransitions: spec?.leaseTransitions ?? 0,
    resourceVersion: lease.metadata.resourceVersion ?? '',
  };
}

/** RFC 3339 with microseconds, as the apiserver writes MicroTime: `2026-01-02T03:04:05.678000Z`. */
export function microTimeString(ms: number): string {
  return new V1MicroTime(ms).toISOString();
}

// ── Pure timing decisions ───────────────────────────────────────────────────────────────────────

/** When a lease stops protecting its holder (epoch ms); a lease never renewed is expired. */
export function leaseExpiresAt(lease: Pick<LeaseRecord, 'renewTime' | 'leaseDurationSeconds'>): number {
  return lease.renewTime === undefined ? Number.NEGATIVE_INFINITY : lease.renewTime + lease.leaseDurationSeconds * 1000;
}

export type LeaseDecision =
  /** No Lease exists: create it, held by us. */
  | { action: 'create' }
  /** Take it: free or expired (a new term: acquireTime now, one more transition). */
  | { action: 'acquire' }
  /** It is ours: renew it (same term). */
  | { action: 'renew' }
  /** Someone else holds a valid lease: wait; it is free to take after `expiresAt`. */
  | { action: 'wait'; holder: string; expiresAt: number };

/** What a candidate does with the Lease it just read (client-go tryAcquireOrRenew). */
export function decideLease(lease: LeaseRecord | undefined, identity: string, now: number): LeaseDecision {
  if (lease === undefined) return { action: 'create' };
  if (lease.holderIdentity === identity) return { action: 'renew' };
  if (lease.holderIdentity === '') return { action: 'acquire' };
  const expiresAt = leaseExpiresAt(lease);
  // Expired only strictly after renewTime + duration, as client-go's `observedTime + duration > now` is valid.
  if (expiresAt < now) return { action: 'acquire' };
  return { action: 'wait', holder: lease.holderIdentity, expiresAt };
}

/** A leader whose last successful renewal is older than `renewDeadlineMs` gives up leadership. */
export function shouldStepDown(lastRenewedAt: number, now: number, renewDeadlineMs: number): boolean {
  return now - lastRenewedAt > renewDeadlineMs;
}

/** The spec to write for a decision (create/acquire/renew); undefined for `wait`. */
export function nextLeaseSpec(
  decision: LeaseDecision,
  lease: LeaseRecord | undefined,
  identity: string,
  now: number,
  leaseDurationSeconds: number,
): Omit<LeaseRecord, 'resourceVersion'> | undefined {
  switch (decision.action) {
    case 'wait':
      return undefined;
    case 'create':
      return { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 };
    case 'renew':
      return {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: lease?.acquireTime ?? now,
        renewTime: now,
        leaseTransitions: lease?.leaseTransitions ?? 0,
      };
    case 'acquire':
      return {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: now,
        renewTime: now,
        // client-go counts a transition only when the lease changes hands from a named holder.
        leaseTransitions: (lease?.leaseTransitions ?? 0) + (lease !== undefined && lease.holderIdentity !== '' ? 1 : 0),
      };
  }
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { z } from 'zod';
import type { Logger } from '../../log.ts';
import { sleep, type Delay } from './backoff.ts';
import { statusOf } from './watch.ts';

/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics
 * (k8s.io/client-go/tools/leaderelection, LeaseLock):
 * - every `retryPeriod` a candidate reads the Lease; it creates it when absent, and takes it when
 *   it is free (no holder), expired (renewTime + leaseDurationSeconds < now) or already ours;
 * - every write is an update carrying the read `resourceVersion`: a 409 Conflict means another
 *   candidate wrote first, and this round is lost (no retry until the next period);
 * - the leader renews every `retryPeriod`; when no renewal succeeded for `renewDeadline` it steps
 *   down (before the lease, `leaseDuration` > `renewDeadline`, can expire and be taken);
 * - `stop()` releases the Lease (ReleaseOnCancel): holder '' and leaseDurationSeconds 1, so the
 *   next candidate takes over at its next retry instead of after a whole lease duration.
 *
 * Expiry is judged on the Lease's renewTime, as the brief asks; client-go instead times the lease
 * from when it last saw the record change, which tolerates clock skew between replicas. With
 * synchronized clocks (NTP) the two agree.
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

/** A default identity: the pod name (HOSTNAME in a pod) or host name, and a random suffix. */
export function defaultIdentity(): string {
  const host = process.env.HOSTNAME?.trim() || hostname();
  return `${host}_${randomBytes(4).toString('hex')}`;
}

/** The pod's namespace from its service account, else `fallback`. */
export async function podNamespace(fallback = 'default', file = '/var/run/secrets/kubernetes.io/serviceaccount/namespace'): Promise<string> {
  try {
    const { readFile } = await import('node:fs/promises');
    const ns = (await readFile(file, 'utf8')).trim();
    return ns === '' ? fallback : ns;
  } catch {
    return fallback;
  }
}

// ── The elector ─────────────────────────────────────────────────────────────────────────────────

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Default `meshdrift-watch`. */
  name?: string;
  /** Default `defaultIdentity()`. Must be unique among candidates. */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** One Lease call that takes longer fails (default 2 × retryPeriod, kept under the lease's slack). */
  requestTimeoutMs?: number;
  /** Called when this candidate becomes the leader (not awaited by the election loop). */
  onStartedLeading?: () => void;
  /** Called when it stops being the leader: renewals failed, or stop(). */
  onStoppedLeading?: () => void;
  /** Each observed change of holder (including to ''), e.g. for a log or metric. */
  onNewLeader?: (identity: string) => void;
  now?: () => number;
  delay?: Delay;
  log: Logger;
}

export interface LeaderElection {
  isLeader(): boolean;
  readonly identity: string;
  /** Steps down (onStoppedLeading), releases the Lease if held, and ends the loop. */
  stop(): Promise<void>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const describe = (err: unknown): string => {
  const status = statusOf(err);
  const first = ((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '').slice(0, 200);
  return status === undefined ? first : `HTTP ${status}: ${first}`;
};

export function startLeaderElection(opts: LeaderElectionOptions): LeaderElection {
  const name = opts.name ?? 'meshdrift-watch';
  const identity = opts.identity ?? defaultIdentity();
  const leaseDurationMs = opts.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs && retryPeriodMs > 0)) {
    throw new Error(`leader election needs leaseDuration > renewDeadline > retryPeriod > 0 (got ${leaseDurationMs}, ${renewDeadlineMs}, ${retryPeriodMs})`);
  }
  const requestTimeoutMs = opts.requestTimeoutMs ?? Math.min(2 * retryPeriodMs, leaseDurationMs - renewDeadlineMs);
  const leaseDurationSeconds = Math.max(1, Math.ceil(leaseDurationMs / 1000));
  const now = opts.now ?? Date.now;
  const delay = opts.delay ?? sleep;
  const log = opts.log.child({ lease: `${opts.namespace}/${name}`, identity });
  const api = opts.kubeConfig.makeApiClient(CoordinationV1Api);
  const abort = new AbortController();

  let leader = false;
  let lastRenewedAt = 0;
  let observed: LeaseRecord | undefined;
  let lastHolder: string | undefined;
  let stopped = false;

  const toBody = (spec: Omit<LeaseRecord, 'resourceVersion'>, resourceVersion?: string): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: opts.namespace, ...(resourceVersion !== undefined ? { resourceVersion } : {}) },
    spec: {
      holderIdentity: spec.holderIdentity,
      leaseDurationSeconds: spec.leaseDurationSeconds,
      ...(spec.acquireTime !== undefined ? { acquireTime: new V1MicroTime(spec.acquireTime) } : {}),
      ...(spec.renewTime !== undefined ? { renewTime: new V1MicroTime(spec.renewTime) } : {}),
      leaseTransitions: spec.leaseTransitions,
    },
  });

  const seeHolder = (holder: string): void => {
    if (holder === lastHolder) return;
    lastHolder = holder;
    if (holder !== identity) log.info({ holder: holder || '(none)' }, 'lease holder changed');
    opts.onNewLeader?.(holder);
  };

  const read = async (): Promise<LeaseRecord | undefined> => {
    try {
      return parseLease(await withTimeout(api.readNamespacedLease({ name, namespace: opts.namespace }), requestTimeoutMs, 'read lease'));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  };

  /** One round: true when we hold the lease afterwards (client-go tryAcquireOrRenew). */
  const tryAcquireOrRenew = async (): Promise<boolean> => {
    const lease = await read();
    if (lease !== undefined) {
      observed = lease;
      seeHolder(lease.holderIdentity);
    }
    const at = now();
    const decision = decideLease(lease, identity, at);
    const spec = nextLeaseSpec(decision, lease, identity, at, leaseDurationSeconds);
    if (spec === undefined) return false;
    try {
      const written =
        decision.action === 'create'
          ? await withTimeout(api.createNamespacedLease({ namespace: opts.namespace, body: toBody(spec) }), requestTimeoutMs, 'create lease')
          : await withTimeout(api.replaceNamespacedLease({ name, namespace: opts.namespace, body: toBody(spec, lease?.resourceVersion) }), requestTimeoutMs, 'update lease');
      observed = parseLease(written);
      seeHolder(identity);
      return true;
    } catch (err) {
      // 409: AlreadyExists (create) or Conflict (update): another candidate wrote first.
      if (statusOf(err) === 409) {
        log.debug({ action: decision.action }, 'lost the lease race (409); backing off until the next retry');
        return false;
      }
      throw err;
    }
  };

  const stepDown = (why: string): void => {
    if (!leader) return;
    leader = false;
    log.warn({ why }, 'stopped leading');
    try {
      opts.onStoppedLeading?.();
    } catch (err) {
      log.error({ error: describe(err) }, 'onStoppedLeading failed');
    }
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      let held = false;
      try {
        held = await tryAcquireOrRenew();
      } catch (err) {
        log.warn({ error: describe(err), leader }, 'lease call failed');
      }
      if (stopped) break;
      const at = now();
      if (held) {
        lastRenewedAt = at;
        if (!leader) {
          leader = true;
          log.info('started leading');
          try {
            opts.onStartedLeading?.();
          } catch (err) {
            log.error({ error: describe(err) }, 'onStartedLeading failed');
          }
        }
      } else if (leader) {
        // Lost the lease to someone else outright, or renewals keep failing past the deadline.
        const taken = observed !== undefined && observed.holderIdentity !== identity && observed.holderIdentity !== '';
        if (taken) stepDown(`the lease is held by ${observed?.holderIdentity ?? '?'}`);
        else if (shouldStepDown(lastRenewedAt, at, renewDeadlineMs)) stepDown(`no renewal for ${at - lastRenewedAt}ms (renew deadline ${renewDeadlineMs}ms)`);
      }
      await delay(retryPeriodMs, abort.signal);
    }
  };

  const running = loop();

  return {
    identity,
    isLeader: () => leader,
    async stop() {
      if (stopped) return;
      stopped = true;
      abort.abort();
      await running;
      const wasLeader = leader;
      stepDown('stopping');
      if (!wasLeader || observed === undefined) return;
      // ReleaseOnCancel: free the lease so a successor need not wait for it to expire.
      const at = now();
      try {
        await withTimeout(
          api.replaceNamespacedLease({
            name,
            namespace: opts.namespace,
            body: toBody({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: at, renewTime: at, leaseTransitions: observed.leaseTransitions }, observed.resourceVersion),
          }),
          requestTimeoutMs,
          'release lease',
        );
        log.info('released the lease');
      } catch (err) {
        log.warn({ error: describe(err) }, 'could not release the lease; it expires by itself');
      }
    },
  };
}

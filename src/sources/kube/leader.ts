import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../log.ts';
import { sleep, type Delay } from './backoff.ts';
import { decideLease, nextLeaseSpec, parseLease, shouldStepDown, type LeaseRecord } from './lease.ts';
import { statusOf } from './watch.ts';
import { withTimeout } from '../../net/with-timeout.ts';
import { firstLineOf } from '../../model/error-message.ts';

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

const describe = (err: unknown): string => {
  const status = statusOf(err);
  const first = firstLineOf(err, 200);
  return status === undefined ? first : `HTTP ${status}: ${first}`;
};

export function startLeaderElection(opts: LeaderElectionOptions): LeaderElection {
  const name = opts.name ?? 'meshdrift-watch';
  const identity = opts.identity ?? defaultIdentity();
  const { renewDeadlineMs, retryPeriodMs, requestTimeoutMs, leaseDurationSeconds } = electionTimings(opts);
  const now = opts.now ?? Date.now;
  const delay = opts.delay ?? sleep;
  const log = opts.log.child({ lease: `${opts.namespace}/${name}`, identity });
  const lock = leaseCalls(opts.kubeConfig.makeApiClient(CoordinationV1Api), name, opts.namespace, requestTimeoutMs);
  const abort = new AbortController();

  let leader = false;
  let lastRenewedAt = 0;
  let observed: LeaseRecord | undefined;
  let lastHolder: string | undefined;
  let stopped = false;

  const seeHolder = (holder: string): void => {
    if (holder === lastHolder) return;
    lastHolder = holder;
    if (holder !== identity) log.info({ holder: holder || '(none)' }, 'lease holder changed');
    opts.onNewLeader?.(holder);
  };

  /** One round: true when we hold the lease afterwards (client-go tryAcquireOrRenew). */
  const tryAcquireOrRenew = async (): Promise<boolean> => {
    const lease = await lock.read();
    if (lease !== undefined) {
      observed = lease;
      seeHolder(lease.holderIdentity);
    }
    const at = now();
    const decision = decideLease(lease, identity, at);
    const spec = nextLeaseSpec(decision, lease, identity, at, leaseDurationSeconds);
    if (spec === undefined) return false;
    try {
      const written = decision.action === 'create' ? await lock.create(spec) : await lock.replace(spec, lease?.resourceVersion, 'update lease');
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
    notify(log, opts.onStoppedLeading, 'onStoppedLeading');
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
          notify(log, opts.onStartedLeading, 'onStartedLeading');
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
      const released = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: at, renewTime: at, leaseTransitions: observed.leaseTransitions };
      try {
        await lock.replace(released, observed.resourceVersion, 'release lease');
        log.info('released the lease');
      } catch (err) {
        log.warn({ error: describe(err) }, 'could not release the lease; it expires by itself');
      }
    },
  };
}

/** Calls a caller's callback; what it throws is logged, never thrown into the election loop. */
function notify(log: Logger, callback: (() => void) | undefined, what: string): void {
  try {
    callback?.();
  } catch (err) {
    log.error({ error: describe(err) }, `${what} failed`);
  }
}

/** The election's periods, checked (leaseDuration > renewDeadline > retryPeriod > 0), with their defaults. */
function electionTimings(opts: Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs' | 'requestTimeoutMs'>): {
  renewDeadlineMs: number;
  retryPeriodMs: number;
  requestTimeoutMs: number;
  leaseDurationSeconds: number;
} {
  const leaseDurationMs = opts.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs && retryPeriodMs > 0)) {
    throw new Error(`leader election needs leaseDuration > renewDeadline > retryPeriod > 0 (got ${leaseDurationMs}, ${renewDeadlineMs}, ${retryPeriodMs})`);
  }
  const requestTimeoutMs = opts.requestTimeoutMs ?? Math.min(2 * retryPeriodMs, leaseDurationMs - renewDeadlineMs);
  const leaseDurationSeconds = Math.max(1, Math.ceil(leaseDurationMs / 1000));
  return { renewDeadlineMs, retryPeriodMs, requestTimeoutMs, leaseDurationSeconds };
}

/** The Lease calls of one election, each bounded by `requestTimeoutMs`; `read` answers undefined when there is no Lease (404). */
function leaseCalls(
  api: CoordinationV1Api,
  name: string,
  namespace: string,
  requestTimeoutMs: number,
): {
  read(): Promise<LeaseRecord | undefined>;
  create(spec: Omit<LeaseRecord, 'resourceVersion'>): Promise<V1Lease>;
  replace(spec: Omit<LeaseRecord, 'resourceVersion'>, resourceVersion: string | undefined, what: 'update lease' | 'release lease'): Promise<V1Lease>;
} {
  return {
    async read() {
      try {
        return parseLease(await withTimeout(api.readNamespacedLease({ name, namespace }), requestTimeoutMs, 'read lease'));
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    create: (spec) => withTimeout(api.createNamespacedLease({ namespace, body: leaseBody(name, namespace, spec) }), requestTimeoutMs, 'create lease'),
    replace: (spec, resourceVersion, what) =>
      withTimeout(api.replaceNamespacedLease({ name, namespace, body: leaseBody(name, namespace, spec, resourceVersion) }), requestTimeoutMs, what),
  };
}

/** The Lease object to write for a spec (with the read resourceVersion on an update). */
function leaseBody(name: string, namespace: string, spec: Omit<LeaseRecord, 'resourceVersion'>, resourceVersion?: string): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(resourceVersion !== undefined ? { resourceVersion } : {}) },
    spec: {
      holderIdentity: spec.holderIdentity,
      leaseDurationSeconds: spec.leaseDurationSeconds,
      ...(spec.acquireTime !== undefined ? { acquireTime: new V1MicroTime(spec.acquireTime) } : {}),
      ...(spec.renewTime !== undefined ? { renewTime: new V1MicroTime(spec.renewTime) } : {}),
      leaseTransitions: spec.leaseTransitions,
    },
  };
}

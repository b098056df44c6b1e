import { afterEach, describe, expect, it } from 'vitest';
import { createCatalog } from '../../src/classify/catalog.ts';
import { createLogger } from '../../src/log.ts';
import type { Signal } from '../../src/model/signal.ts';
import { sleep, type Delay } from '../../src/sources/kube/backoff.ts';
import { startLeaderGatedKubeSources, type LeaderGatedKubeSources, type Role } from '../../src/sources/kube/gated.ts';
import { startLeaderElection, type LeaderElection, type LeaderElectionOptions } from '../../src/sources/kube/leader.ts';
import { APPLICATIONS } from '../../src/sources/kube/resources.ts';
import type { Ingest } from '../../src/track/ingest.ts';
import { LEASES, startFakeKubeApi, type FakeKubeApi } from '../fakes/kube-api.ts';
import { meshApp } from '../support/argocd.ts';
import { waitFor } from '../support/redis.ts';
import { memoryRevisions } from '../support/flux.ts';

// Short, real timings: lease 800 ms, renew deadline 500 ms, retry 100 ms.
const TIMING = { leaseDurationMs: 800, renewDeadlineMs: 500, retryPeriodMs: 100 } as const;
const NS = 'meshdrift';
const NAME = 'meshdrift-watch';
const log = createLogger('silent');

const fakes: FakeKubeApi[] = [];
const electors: LeaderElection[] = [];
const gated: LeaderGatedKubeSources[] = [];
afterEach(async () => {
  await Promise.all(gated.splice(0).map((g) => g.stop()));
  await Promise.all(electors.splice(0).map((e) => e.stop()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function fake(): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi();
  fakes.push(api);
  return api;
}

interface Candidate {
  elector: LeaderElection;
  events: string[];
}

function candidate(api: FakeKubeApi, identity: string, extra: Partial<LeaderElectionOptions> = {}): Candidate {
  const events: string[] = [];
  const elector = startLeaderElection({
    kubeConfig: api.kubeConfig(),
    namespace: NS,
    name: NAME,
    identity,
    ...TIMING,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
    log,
    ...extra,
  });
  electors.push(elector);
  return { elector, events };
}

const holderOf = (api: FakeKubeApi): string | undefined =>
  (api.get(LEASES, NS, NAME) as unknown as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity;
const leaseWrites = (api: FakeKubeApi, status?: number) =>
  api.requests.filter((r) => r.path.includes('/leases') && r.method !== 'GET' && (status === undefined || r.status === status));

/** A delay that, once frozen, never returns until aborted: a hung process that stops renewing. */
function freezable(): { delay: Delay; freeze(): void } {
  let frozen = false;
  return {
    freeze: () => void (frozen = true),
    delay: (ms, signal) => (frozen ? new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true })) : sleep(ms, signal)),
  };
}

describe('leader election on a coordination.k8s.io/v1 Lease (fake API server)', () => {
  it('elects exactly one of two candidates and keeps it, with MicroTime timestamps in the Lease', async () => {
    const api = await fake();
    const a = candidate(api, 'replica-a');
    const b = candidate(api, 'replica-b');
    await waitFor(() => a.elector.isLeader() || b.elector.isLeader(), 5_000, 'a leader');
    for (let i = 0; i < 15; i++) {
      expect([a, b].filter((c) => c.elector.isLeader())).toHaveLength(1);
      await sleep(50);
    }
    const leader = a.elector.isLeader() ? a : b;
    expect(holderOf(api)).toBe(leader.elector.identity);
    expect(leader.events).toEqual(['started']);
    const lease = api.get(LEASES, NS, NAME) as unknown as {
      spec: { renewTime: string; acquireTime: string; leaseDurationSeconds: number; leaseTransitions: number };
    };
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(lease.spec.acquireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(lease.spec.leaseDurationSeconds).toBe(1);
    // It renews (same term) every retry period.
    const renewed = Date.parse(lease.spec.renewTime);
    const readLease = () => api.get(LEASES, NS, NAME) as unknown as { spec: { renewTime: string; acquireTime: string } };
    // The next renewal, however long a loaded machine takes to get there (not a fixed 300 ms).
    await waitFor(() => Date.parse(readLease().spec.renewTime) > renewed, 5_000, 'the next renewal');
    const later = readLease();
    expect(Date.parse(later.spec.renewTime)).toBeGreaterThan(renewed);
    expect(later.spec.acquireTime).toBe(lease.spec.acquireTime);
    // Only one create succeeded; the loser's attempt got 409 AlreadyExists or it waited.
    expect(leaseWrites(api).filter((r) => r.method === 'POST' && r.status === 201)).toHaveLength(1);
  });

  it('hands over at once when the leader stops (releases the lease)', async () => {
    const api = await fake();
    const a = candidate(api, 'replica-a');
    await waitFor(() => a.elector.isLeader(), 5_000, 'a leads');
    const b = candidate(api, 'replica-b');
    await sleep(300);
    expect(b.elector.isLeader()).toBe(false);
    const stoppedAt = Date.now();
    await a.elector.stop();
    expect(a.events).toEqual(['started', 'stopped']);
    await waitFor(() => b.elector.isLeader(), 5_000, 'b takes over');
    // Released: no need to wait for the lease to expire.
    expect(Date.now() - stoppedAt).toBeLessThan(TIMING.leaseDurationMs);
    expect(holderOf(api)).toBe('replica-b');
  });

  it('takes over within leaseDuration + retryPeriod when the leader hangs and stops renewing', async () => {
    const api = await fake();
    const hang = freezable();
    const a = candidate(api, 'replica-a', { delay: hang.delay });
    await waitFor(() => a.elector.isLeader(), 5_000, 'a leads');
    const b = candidate(api, 'replica-b');
    await sleep(250);
    expect(b.elector.isLeader()).toBe(false);
    const lastRenew = Date.parse((api.get(LEASES, NS, NAME) as unknown as { spec: { renewTime: string } }).spec.renewTime);
    hang.freeze();
    await waitFor(() => b.elector.isLeader(), 5_000, 'b takes over');
    const tookOver = Date.now();
    // Not before the lease expired, and within one retry after (plus scheduling slack).
    expect(tookOver - lastRenew).toBeGreaterThanOrEqual(1_000 - 50);
    expect(tookOver - lastRenew).toBeLessThanOrEqual(1_000 + TIMING.retryPeriodMs * 2 + 300);
    expect(holderOf(api)).toBe('replica-b');
    const lease = api.get(LEASES, NS, NAME) as unknown as { spec: { leaseTransitions: number } };
    expect(lease.spec.leaseTransitions).toBe(1);
  });

  it('backs off on 409 Conflict when a rival updates the Lease between its read and its write', async () => {
    const api = await fake();
    // An expired lease of a dead replica.
    const old = new Date(Date.now() - 60_000).toISOString().replace('Z', '000Z');
    api.apply(LEASES, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: NAME, namespace: NS },
      spec: { holderIdentity: 'dead', leaseDurationSeconds: 1, renewTime: old, acquireTime: old, leaseTransitions: 0 },
    });
    let rivalled = false;
    api.intercept((req) => {
      if (!rivalled && req.method === 'PUT' && req.path.endsWith(`/leases/${NAME}`)) {
        rivalled = true;
        // The rival wins the race: it writes first, so our resourceVersion is stale.
        const now = new Date().toISOString().replace('Z', '000Z');
        api.apply(LEASES, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: NAME, namespace: NS },
          spec: { holderIdentity: 'rival', leaseDurationSeconds: 1, renewTime: now, acquireTime: now, leaseTransitions: 1 },
        });
      }
      return undefined;
    });
    const a = candidate(api, 'replica-a');
    await waitFor(() => leaseWrites(api, 409).length === 1, 5_000, 'the conflict');
    await sleep(400);
    // The rival holds a valid lease: no leadership, no write until it expires.
    expect(a.elector.isLeader()).toBe(false);
    expect(a.events).toEqual([]);
    expect(holderOf(api)).toBe('rival');
    // The rival never renews: after its lease expires, a takes it.
    await waitFor(() => a.elector.isLeader(), 5_000, 'a acquires after the rival’s lease expired');
    expect(holderOf(api)).toBe('replica-a');
  });

  it('steps down when renewals fail past the renew deadline, and leads again when the API recovers', async () => {
    const api = await fake();
    const a = candidate(api, 'replica-a');
    await waitFor(() => a.elector.isLeader(), 5_000, 'a leads');
    const failingSince = Date.now();
    api.intercept((req) => (req.path.includes('/leases') ? 500 : undefined));
    await waitFor(() => !a.elector.isLeader(), 5_000, 'a steps down');
    const after = Date.now() - failingSince;
    expect(after).toBeGreaterThanOrEqual(TIMING.renewDeadlineMs - TIMING.retryPeriodMs);
    // Before the lease (800 ms) could expire and be taken by another replica.
    expect(after).toBeLessThan(TIMING.leaseDurationMs + 100);
    expect(a.events).toEqual(['started', 'stopped']);
    api.intercept(undefined);
    await waitFor(() => a.elector.isLeader(), 5_000, 'a leads again');
    expect(a.events).toEqual(['started', 'stopped', 'started']);
  });
});

// ── Leader-gated watches ────────────────────────────────────────────────────────────────────────

function replica(api: FakeKubeApi, identity: string, leaderElection = true) {
  const signals: Signal[] = [];
  const roles: Role[] = [];
  const ingest: Ingest = async (s) => {
    signals.push(s);
    return { outcome: 'tracked', groups: [], findings: s.resources.length };
  };
  const g = startLeaderGatedKubeSources({
    clusters: [{ name: 'east', access: { kind: 'in-cluster' } }],
    kinds: ['applications'],
    ingest,
    fluxRevisions: memoryRevisions(),
    catalog: createCatalog(),
    log,
    kubeConfig: () => api.kubeConfig(),
    delay: (ms, signal) => sleep(ms >= 10_000 ? ms : Math.min(ms, 100), signal),
    backoff: { baseMs: 10, maxMs: 40 },
    leaderElection: leaderElection ? { namespace: NS, name: NAME, identity, ...TIMING } : false,
    onRoleChange: (r) => roles.push(r),
  });
  gated.push(g);
  return { g, signals, roles };
}

describe('Kubernetes watches gated by leadership', () => {
  it('only the leader watches; when it stops, the other starts watching and sees what changed', async () => {
    const api = await fake();
    api.serve(APPLICATIONS);
    api.apply(APPLICATIONS, meshApp('OutOfSync'));
    const a = replica(api, 'replica-a');
    await waitFor(() => a.g.isLeader() && api.openWatches(APPLICATIONS) === 1, 5_000, 'a leads and watches');
    const b = replica(api, 'replica-b');
    await waitFor(() => a.signals.length === 1, 5_000, 'a’s snapshot');
    await sleep(400);
    expect(b.g.role()).toBe('follower');
    expect(b.signals).toEqual([]);
    expect(api.openWatches(APPLICATIONS)).toBe(1);
    expect(b.g.health()).toEqual({ ready: true, clusters: [], watches: [] });
    expect(a.g.health().watches[0]).toMatchObject({ state: 'up' });

    await a.g.stop();
    expect(a.roles).toEqual(['follower', 'leader', 'follower']);
    await waitFor(() => b.g.isLeader() && api.openWatches(APPLICATIONS) === 1, 5_000, 'b takes over the watch');
    api.apply(APPLICATIONS, meshApp('Synced', '2026-11-24T10:30:00Z'));
    await waitFor(() => b.signals.some((s) => s.sync === 'Synced'), 5_000, 'b sees the change');
    expect(b.roles).toEqual(['follower', 'leader']);
  });

  it('stops watching when leadership is lost (renewals fail), and resumes when regained', async () => {
    const api = await fake();
    api.serve(APPLICATIONS);
    const a = replica(api, 'replica-a');
    await waitFor(() => a.g.isLeader() && api.openWatches(APPLICATIONS) === 1, 5_000, 'a watches');
    api.intercept((req) => (req.path.includes('/leases') ? 503 : undefined));
    await waitFor(() => a.g.role() === 'follower', 5_000, 'a loses leadership');
    await a.g.settled();
    await waitFor(() => api.openWatches(APPLICATIONS) === 0, 5_000, 'the watch is closed');
    api.intercept(undefined);
    await waitFor(() => a.g.isLeader() && api.openWatches(APPLICATIONS) === 1, 5_000, 'a watches again');
  });

  it('leaderElection: false watches at once, with no Lease', async () => {
    const api = await fake();
    api.serve(APPLICATIONS);
    const a = replica(api, 'solo', false);
    await waitFor(() => api.openWatches(APPLICATIONS) === 1, 5_000, 'the watch');
    expect(a.g.role()).toBe('disabled');
    expect(api.requests.some((r) => r.path.includes('/leases'))).toBe(false);
  });
});

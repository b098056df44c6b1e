import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClassifyPolicy } from '../../src/classify/classify.ts';
import { loadPolicyText } from '../../src/config/load.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { DriftState, Signal } from '../../src/model/signal.ts';
import { countActiveFindings } from '../../src/track/active-findings.ts';
import type { GroupState } from '../../src/track/group-state.ts';
import { createIngest, createRedisOwnerGroupIndex, type Ingest } from '../../src/track/ingest.ts';
import { createRedisTrackStore, readActiveFindings, reconcileActiveFindings, type TrackStore } from '../../src/track/redis-store.ts';
import { activeFindingsKeys } from '../../src/track/keys.ts';
import { assembleGroup } from '../../src/track/group-layout.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

// Two routes: critical findings also page (continue: true), so one finding sits in two groups.
const ROUTES = `receivers:
  - { name: chat, console: {} }
  - { name: pager, console: {} }
route:
  receiver: chat
  group_wait: 30s
  group_interval: 5m
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - receiver: chat
`;

function policy(rules = ''): ClassifyPolicy {
  const loaded = loadPolicyText(`${rules}${ROUTES}`, 'policy.yaml');
  if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.message).join('; '));
  return loaded.policy.classify;
}

// Policy A: the default severities (a modified AuthorizationPolicy is critical, a VirtualService high).
const POLICY_A = policy();
// Policy B: AuthorizationPolicies lowered to medium (leave the pager group), VirtualService vs-1 raised
// to critical (joins it).
const POLICY_B = policy(`rules:
  - match: { kind: AuthorizationPolicy }
    set: { severity: medium }
  - match: { kind: VirtualService, name: vs-1 }
    set: { severity: critical }
`);

type Resource = { kind: 'VirtualService' | 'AuthorizationPolicy' | 'HTTPRoute'; name: string; state: DriftState | 'InSync' };
const GROUPS: Record<Resource['kind'], string> = {
  VirtualService: 'networking.istio.io',
  AuthorizationPolicy: 'security.istio.io',
  HTTPRoute: 'gateway.networking.k8s.io',
};

/** An Argo CD snapshot of an Application, or with `flux` a Flux event (partial) or re-list (snapshot) of a Kustomization. */
function signal(
  app: string,
  observedAt: number,
  resources: Resource[],
  completeness: 'snapshot' | 'partial' = 'snapshot',
  flux = completeness === 'partial',
): Signal {
  return {
    source: flux ? 'flux-webhook' : 'argocd-webhook',
    cluster: 'prod',
    owner: flux ? { kind: 'Kustomization', namespace: 'flux-system', name: app } : { kind: 'Application', namespace: 'argocd', name: app },
    project: 'default',
    destination: {},
    observedAt,
    completeness,
    resources: resources.map((r) => ({ group: GROUPS[r.kind], kind: r.kind, namespace: 'mesh', name: r.name, state: r.state })),
  };
}

let prefix: string;
let redis: Redis;
let store: TrackStore;
let current: ClassifyPolicy;
let now: number;

function ingestVia(s: TrackStore, client: Redis): Ingest {
  return createIngest({
    policy: () => current,
    store: s,
    // Flushes are run by hand below (the worker's part), at their due time.
    flushes: { recorded: () => undefined },
    owners: createRedisOwnerGroupIndex(client, prefix),
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    now: () => now,
  });
}

async function groupStates(): Promise<GroupState[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:group:*`, 'COUNT', 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const states: GroupState[] = [];
  for (const key of keys) {
    const state = assembleGroup(key.slice(`${prefix}:group:`.length), await redis.hgetall(key));
    if (state !== null) states.push(state);
  }
  return states;
}

/** The counts the commits kept, as `severity|mesh|category` → count. */
async function kept(): Promise<Record<string, number>> {
  const counts = await readActiveFindings(redis, prefix);
  return Object.fromEntries(counts.map((c) => [`${c.severity}|${c.mesh}|${c.category}`, c.count]).sort(([a], [b]) => String(a).localeCompare(String(b))));
}

/** Asserts the kept counts equal a recount from every group's state, and returns them. */
async function exact(): Promise<Record<string, number>> {
  const recount = Object.fromEntries([...countActiveFindings(await groupStates())].sort(([a], [b]) => a.localeCompare(b)));
  const counts = await kept();
  expect(counts).toEqual(recount);
  // No reference or count is left at zero or below.
  const keys = activeFindingsKeys(prefix);
  for (const v of [...Object.values(await redis.hgetall(keys.refs)), ...Object.values(await redis.hgetall(keys.counts))]) expect(Number(v)).toBeGreaterThan(0);
  return counts;
}

/** Runs every flush that is due by `at` (the worker's part), at its due time. */
async function flushDue(at: number): Promise<number> {
  let ran = 0;
  for (const state of await groupStates()) {
    const pending = state.pendingFlush;
    if (!pending || pending.dueAt > at) continue;
    await store.flush(state.groupKey, state.createdAt, pending.seq, () => ({ now: pending.dueAt }));
    ran++;
  }
  return ran;
}

beforeEach(() => {
  prefix = testPrefix('active-findings');
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  store = createRedisTrackStore({ redis, keyPrefix: prefix });
  current = POLICY_A;
  now = Date.UTC(2026, 10, 24, 10, 0, 0);
});

afterEach(async () => {
  redis.disconnect();
  await deleteKeys(redisUrl(), prefix);
});

const drifted: Resource[] = [
  { kind: 'VirtualService', name: 'vs-1', state: 'Modified' },
  { kind: 'VirtualService', name: 'vs-2', state: 'Modified' },
  { kind: 'AuthorizationPolicy', name: 'authz', state: 'Modified' },
];

describe('active findings counts, kept by the CAS commits on real Redis', () => {
  it('stay equal to a recount from the group states through new, duplicate, severity change, resolve and group deletion', async () => {
    const ingest = ingestVia(store, redis);

    // New: 2 high VirtualServices, 1 critical AuthorizationPolicy in two groups (chat and pager): counted once.
    await ingest(signal('shop', 1, drifted));
    expect(await exact()).toEqual({ 'critical|istio|security': 1, 'high|istio|traffic': 2 });
    expect((await groupStates()).filter((g) => Object.values(g.findings).some((f) => f.resource.kind === 'AuthorizationPolicy'))).toHaveLength(2);

    // Duplicate: nothing changes.
    now += 1000;
    expect((await ingest(signal('shop', 2, drifted))).outcome).toBe('unchanged');
    expect(await exact()).toEqual({ 'critical|istio|security': 1, 'high|istio|traffic': 2 });

    // The first notifications (group_wait): nothing fires or resolves, nothing moves.
    now += 30_000;
    expect(await flushDue(now)).toBe(2);
    expect(await exact()).toEqual({ 'critical|istio|security': 1, 'high|istio|traffic': 2 });

    // Severity change via a policy reload: authz drops to medium and leaves the pager group (resolved
    // there by the snapshot through the owner index); vs-1 rises to critical and joins it.
    current = POLICY_B;
    now += 1000;
    expect((await ingest(signal('shop', 3, drifted))).outcome).toBe('tracked');
    expect(await exact()).toEqual({ 'critical|istio|traffic': 1, 'high|istio|traffic': 1, 'medium|istio|security': 1 });

    // A partial event (Flux) for another owner adds, and resolves nothing.
    await ingest(signal('gateways', 4, [{ kind: 'HTTPRoute', name: 'web', state: 'Corrected' }], 'partial'));
    expect(await exact()).toEqual({ 'critical|istio|traffic': 1, 'high|istio|traffic': 1, 'medium|istio|security': 1, 'medium|gateway-api|traffic': 1 });

    // Resolve: vs-1 back in sync (from both its groups), the rest still drifted.
    now += 1000;
    await ingest(signal('shop', 5, [{ ...drifted[0], state: 'InSync' } as Resource, ...drifted.slice(1)]));
    expect(await exact()).toEqual({ 'high|istio|traffic': 1, 'medium|istio|security': 1, 'medium|gateway-api|traffic': 1 });

    // Group deleted by a flush: a drift that resolves within group_wait leaves nothing to keep.
    now += 1000;
    await ingest(signal('payments', 6, [{ kind: 'VirtualService', name: 'pay', state: 'Modified' }]));
    expect(await exact()).toEqual({ 'high|istio|traffic': 2, 'medium|istio|security': 1, 'medium|gateway-api|traffic': 1 });
    await ingest(signal('payments', 7, [{ kind: 'VirtualService', name: 'pay', state: 'InSync' }]));
    const before = (await groupStates()).length;
    now += 10 * 60_000;
    expect(await flushDue(now)).toBeGreaterThan(0);
    expect((await groupStates()).length).toBeLessThan(before);
    // Flux's Corrected finding was announced, then resolved by itself at the follow-up flush.
    now += 10 * 60_000;
    await flushDue(now);
    expect(await exact()).toEqual({ 'high|istio|traffic': 1, 'medium|istio|security': 1 });

    // Everything back in sync: no counts and no references left.
    now += 1000;
    await ingest(
      signal(
        'shop',
        8,
        drifted.map((r) => ({ ...r, state: 'InSync' as const })),
      ),
    );
    expect(await exact()).toEqual({});
    expect(await redis.exists(activeFindingsKeys(prefix).refs, activeFindingsKeys(prefix).counts)).toBe(0);
  });

  it('stay exact with three replicas racing on the same groups', async () => {
    const clients = [redis, new Redis(redisUrl(), { maxRetriesPerRequest: 1 }), new Redis(redisUrl(), { maxRetriesPerRequest: 1 })];
    try {
      const replicas = clients.map((c) => ingestVia(createRedisTrackStore({ redis: c, keyPrefix: prefix }), c));
      // 60 snapshots of 4 apps, each a different subset of drifted resources, delivered out of order by
      // three replicas at once: CAS conflicts and retries, stale snapshots, severity changes.
      const jobs = Array.from({ length: 60 }, (_, i) => {
        const resources: Resource[] = drifted.map((r, k) => ({ ...r, state: (i + k) % 3 === 0 ? 'InSync' : (i + k) % 3 === 1 ? 'Modified' : 'Missing' }));
        return () => replicas[i % 3]?.(signal(`app-${i % 4}`, 1000 + ((i * 7) % 60), resources));
      });
      await Promise.all(jobs.map((job) => job()));
      const counts = await exact();
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    } finally {
      for (const c of clients.slice(1)) c.disconnect();
    }
  });

  it('are rebuilt from the active groups when they are missing (first start of this version), at most once per period', async () => {
    const ingest = ingestVia(store, redis);
    await ingest(signal('shop', 1, drifted));
    await ingest(signal('gateways', 2, [{ kind: 'HTTPRoute', name: 'web', state: 'Modified' }], 'partial'));
    const expected = await exact();

    // Groups written by a meshdrift without the counts: the counts are absent.
    const keys = activeFindingsKeys(prefix);
    await redis.del(keys.refs, keys.counts);
    expect(await kept()).toEqual({});
    // A resolve of something never counted (a Flux re-list with nothing drifted) does not go below zero.
    now += 1000;
    await ingest(signal('gateways', 3, [], 'snapshot', true));
    expect(await kept()).toEqual({});

    expect(await reconcileActiveFindings(redis, prefix, 60)).toBe(2); // the active groups: shop's chat and pager
    const { 'high|gateway-api|traffic': _gone, ...rest } = expected;
    expect(await exact()).toEqual(rest);
    // Another replica a moment later: the marker says it was just done.
    expect(await reconcileActiveFindings(redis, prefix, 60)).toBeNull();

    // From there the commits keep them exact.
    current = POLICY_B;
    now += 1000;
    await ingest(signal('shop', 5, drifted));
    expect(await exact()).toEqual({ 'critical|istio|traffic': 1, 'high|istio|traffic': 1, 'medium|istio|security': 1 });
  });
});

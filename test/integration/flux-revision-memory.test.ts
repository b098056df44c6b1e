import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCatalog } from '../../src/classify/catalog.ts';
import { createLogger } from '../../src/log.ts';
import { classify, defaultPolicy } from '../../src/classify/classify.ts';
import type { Signal } from '../../src/model/signal.ts';
import { createRedisFluxRevisionStore, type FluxRevisionStore } from '../../src/sources/flux/revision-store.ts';
import { processFluxEvent, type FluxEventOutcome } from '../../src/sources/flux/process-event.ts';
import { kustomizationHandlers } from '../../src/sources/flux/watch-handlers.ts';
import type { FluxEvent } from '../../src/sources/flux/event.ts';
import { createInventoryIndex } from '../../src/sources/kube/flux-inventory.ts';
import { slimKustomizationSchema } from '../../src/sources/kube/slim.ts';
import { memoryRevisions } from '../support/flux.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

// Issue #12 item 8 and #13 item 9: the Flux revision memory (rollout vs reverted drift) moves only
// forward in reconcile time, expires, and a change set with no earlier revision is told, never dropped.
const catalog = createCatalog();
const T0 = Date.UTC(2026, 0, 2, 3, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
const owner = { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' };

function event(revision: string, at: number, message: string, reason = 'Progressing'): FluxEvent {
  return { involvedObject: { ...owner }, severity: 'info', timestamp: iso(at), message, reason, metadata: { revision } };
}
const heartbeat = (revision: string, at: number) => event(revision, at, 'Reconciliation finished in 94ms, next run in 10m0s', 'ReconciliationSucceeded');
const change = (revision: string, at: number) => event(revision, at, 'AuthorizationPolicy/mesh/deny-all configured');

function harness(store: FluxRevisionStore) {
  const signals: Signal[] = [];
  const run = (e: FluxEvent, now: number): Promise<FluxEventOutcome> =>
    processFluxEvent(e, {
      cluster: 'east',
      source: 'flux-webhook',
      ingest: async (s) => (signals.push(s), { outcome: 'tracked', groups: [], findings: s.resources.length }),
      fluxRevisions: store,
      groupOfKind: catalog.groupOfKind,
      now,
    });
  return { signals, run };
}

let redis: Redis;
let prefix: string;
beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
});
afterAll(() => redis.disconnect());
beforeEach(async (ctx) => {
  prefix = testPrefix('fluxrev');
  ctx.onTestFinished(() => deleteKeys(redisUrl(), prefix));
});

describe.each([
  ['Redis store', () => createRedisFluxRevisionStore(redis, prefix, { ttlSeconds: 3600, maxSkewMs: 60_000 })],
  ['test memory store', () => memoryRevisions(60_000)],
] as const)('Flux revision memory (%s)', (_name, makeStore) => {
  it('a late, older event (Flux retrying a 503) does not rewind it: the next correction is drift, not a rollout', async () => {
    const { run, signals } = harness(makeStore());
    expect((await run(heartbeat('r1', T0), T0)).outcome).toBe('ignored');
    expect(await run(change('r2', T0 + 60_000), T0 + 60_000)).toEqual({ outcome: 'rollout', revision: 'r2' });
    // The r1 heartbeat's first delivery got a 503; Flux re-sends it later (retried: a new id).
    expect((await run({ ...heartbeat('r1', T0 + 30_000), message: 'Reconciliation finished in 95ms, next run in 10m0s' }, T0 + 120_000)).outcome).toBe(
      'ignored',
    );
    const corrected = await run(change('r2', T0 + 600_000), T0 + 600_000);
    expect(corrected.outcome).toBe('drift');
    expect(signals.at(-1)?.resources).toEqual([expect.objectContaining({ kind: 'AuthorizationPolicy', state: 'Corrected', detail: 'configured' })]);
    expect(signals.at(-1)?.resources[0]).not.toHaveProperty('unverified');
  });

  it('a timestamp far in the future counts as receipt + max skew, so it cannot pin the memory', async () => {
    const { run } = harness(makeStore());
    expect((await run(heartbeat('forged', Date.UTC(2099, 0, 1)), T0)).outcome).toBe('ignored');
    // Five minutes later (past the 1m skew) the genuine heartbeat moves it on.
    expect((await run(heartbeat('r1', T0 + 300_000), T0 + 300_000)).outcome).toBe('ignored');
    expect((await run(change('r1', T0 + 900_000), T0 + 900_000)).outcome).toBe('drift');
  });

  it('the first change set with no revision known is told as unverified (capped at low), never dropped; then the revision is known', async () => {
    const { run, signals } = harness(makeStore());
    const first = await run(change('r1', T0), T0);
    expect(first.outcome).toBe('drift');
    const resource = signals[0]?.resources[0];
    expect(resource).toMatchObject({ kind: 'AuthorizationPolicy', state: 'Corrected', unverified: true });
    expect(resource?.detail).toMatch(/^configured; unverified: no earlier revision known, may be the rollout of r1$/);
    const [finding] = classify(signals[0] as Signal, defaultPolicy(catalog, ['console']));
    expect(finding?.severity).toBe('low'); // security Corrected is `high` when verified
    expect(finding?.reasons).toContain('unverified by its source: severity capped at low');
    // A later heartbeat settles the revision: the next change set at it is verified drift.
    await run(heartbeat('r1', T0 + 600_000), T0 + 600_000);
    expect((await run(change('r1', T0 + 700_000), T0 + 700_000)).outcome).toBe('drift');
    expect(signals.at(-1)?.resources[0]).not.toHaveProperty('unverified');
    expect(classify(signals.at(-1) as Signal, defaultPolicy(catalog, ['console']))[0]?.severity).toBe('high');
  });

  it('a revision read from status (the watch) settles change sets after the read; one from before it stays unverified', async () => {
    const store = makeStore();
    const { run, signals } = harness(store);
    expect(await store.seed('east', owner, 'r1', T0)).toBe(true);
    expect(await store.seed('east', owner, 'r0', T0 + 1)).toBe(false); // only when none is remembered
    // Before the read, at another revision: an older rollout (and it does not rewind the memory).
    expect(await run(change('r0', T0 - 10_000), T0 + 500)).toEqual({ outcome: 'rollout', revision: 'r0' });
    // Emitted before the read: possibly the rollout that set lastAppliedRevision.
    expect((await run(change('r1', T0 - 5_000), T0 + 1_000)).outcome).toBe('drift');
    expect(signals.at(-1)?.resources[0]?.unverified).toBe(true);
    expect((await run({ ...change('r1', T0 + 60_000), message: 'AuthorizationPolicy/mesh/allow configured' }, T0 + 60_000)).outcome).toBe('drift');
    expect(signals.at(-1)?.resources[0]).not.toHaveProperty('unverified');
    expect(await run(change('r2', T0 + 120_000), T0 + 120_000)).toEqual({ outcome: 'rollout', revision: 'r2' });
  });
});

describe('a Flux event timestamp past the skew', () => {
  it('is reported (log + metric in app.ts) and counted as receipt + skew; one within it is not', () => {
    const hits: Array<[number, number]> = [];
    const store = createRedisFluxRevisionStore(redis, prefix, {
      ttlSeconds: 3600,
      maxSkewMs: 60_000,
      onFutureTimestamp: (claimed, now) => void hits.push([claimed, now]),
    });
    expect(store.reconcileTimeOf(iso(T0 + 30_000), T0)).toBe(T0 + 30_000);
    expect(hits).toEqual([]);
    expect(store.reconcileTimeOf('2099-01-01T00:00:00Z', T0)).toBe(T0 + 60_000);
    expect(hits).toEqual([[Date.UTC(2099, 0, 1), T0]]);
    expect(store.reconcileTimeOf('not a time', T0)).toBe(T0);
    expect(hits).toHaveLength(1);
  });
});

describe('Redis keys of the revision memory', () => {
  it('have a TTL, refreshed on each write; an expired one is as never known (unverified)', async () => {
    const store = createRedisFluxRevisionStore(redis, prefix, { ttlSeconds: 3600, maxSkewMs: 60_000 });
    const { run, signals } = harness(store);
    await run(heartbeat('r1', T0), T0);
    const [key] = await redis.keys(`${prefix}:flux:revision:*`);
    expect(key).toBeDefined();
    const ttl = await redis.ttl(key as string);
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
    await redis.expire(key as string, 100);
    await run(heartbeat('r1', T0 + 600_000), T0 + 600_000);
    expect(await redis.ttl(key as string)).toBeGreaterThan(3500);
    // Expired (or lost with Redis): the next change set is unverified, not a silent rollout.
    await redis.del(key as string);
    expect((await run(change('r1', T0 + 700_000), T0 + 700_000)).outcome).toBe('drift');
    expect(signals.at(-1)?.resources[0]?.unverified).toBe(true);
    expect(await redis.ttl(key as string)).toBeGreaterThan(3500);
  });

  it('a value written before reconcile times were kept (a bare revision) still counts, as time 0', async () => {
    const store = createRedisFluxRevisionStore(redis, prefix, { ttlSeconds: 3600, maxSkewMs: 60_000 });
    const { run } = harness(store);
    await run(heartbeat('r1', T0), T0);
    const [key] = await redis.keys(`${prefix}:flux:revision:*`);
    await redis.set(key as string, 'r1');
    expect((await run(change('r1', T0 + 60_000), T0 + 60_000)).outcome).toBe('drift');
    expect(JSON.parse((await redis.get(key as string)) ?? '{}')).toEqual({ r: 'r1', t: T0 + 60_000, s: 'event' });
  });
});

describe('the Kustomization watch seeds the memory from status.lastAppliedRevision', () => {
  it('seeds when nothing is remembered, never over a remembered revision', async () => {
    const store = memoryRevisions();
    const tasks: Array<() => Promise<void>> = [];
    const handlers = kustomizationHandlers({
      cluster: 'east',
      ingest: async () => ({ outcome: 'tracked', groups: [], findings: 0 }),
      fluxRevisions: store,
      groupOfKind: catalog.groupOfKind,
      inventory: createInventoryIndex(),
      queue: { submit: (_key, task) => void tasks.push(task), idle: async () => undefined, stop: () => undefined },
      log: createLogger('silent'),
      now: () => T0,
    });
    const k = (rev: string) =>
      slimKustomizationSchema.parse({
        metadata: { ...owner },
        status: { lastAppliedRevision: rev, conditions: [{ type: 'Ready', status: 'True', reason: 'ReconciliationSucceeded', lastTransitionTime: iso(T0) }] },
      });
    handlers.add(k('r1'));
    for (const t of tasks.splice(0)) await t();
    expect(store.revisions.get(`east/Kustomization/flux-system/mesh`)).toEqual({ revision: 'r1', at: T0, from: 'status' });
    handlers.update(k('r2'));
    for (const t of tasks.splice(0)) await t();
    expect(store.revisions.get(`east/Kustomization/flux-system/mesh`)?.revision).toBe('r1');
  });
});

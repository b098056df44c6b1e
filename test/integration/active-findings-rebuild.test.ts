import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCatalog } from '../../src/classify/catalog.ts';
import { defaultPolicy } from '../../src/classify/classify.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { DriftState, Signal } from '../../src/model/signal.ts';
import { countActiveFindings } from '../../src/track/active-findings.ts';
import { RebuildAbandonedError, rebuildActiveFindings } from '../../src/track/active-findings-rebuild.ts';
import { assembleGroup } from '../../src/track/group-layout.ts';
import type { GroupState } from '../../src/track/group-state.ts';
import { createIngest, createRedisOwnerGroupIndex, type Ingest } from '../../src/track/ingest.ts';
import { activeFindingsKeys, activeFindingsRebuildKeys } from '../../src/track/keys.ts';
import { createRedisTrackStore, readActiveFindings } from '../../src/track/redis-store.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

/**
 * The rebuild of the active-findings counts in bounded steps (issue #15): commits interleave with
 * its steps, and the counts it swaps in are still exactly the recount of every group's state.
 */

const KINDS = [
  ['networking.istio.io', 'VirtualService'],
  ['security.istio.io', 'AuthorizationPolicy'],
  ['gateway.networking.k8s.io', 'HTTPRoute'],
] as const;

function snapshot(app: string, observedAt: number, drifted: number, state: DriftState = 'Modified'): Signal {
  return {
    source: 'argocd-webhook',
    cluster: 'prod',
    owner: { kind: 'Application', namespace: 'argocd', name: app },
    project: 'default',
    destination: {},
    observedAt,
    completeness: 'snapshot',
    resources: Array.from({ length: drifted }, (_, i) => {
      const [group, kind] = KINDS[i % KINDS.length] ?? KINDS[0];
      return { group, kind, namespace: 'mesh', name: `r-${i}`, state };
    }),
  };
}

let prefix: string;
let redis: Redis;
let ingest: Ingest;
let now: number;

async function groupStates(): Promise<GroupState[]> {
  const states: GroupState[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:group:*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      // Either layout (track/group-layout.ts); the key names the group (a hand-written meta may not).
      const groupKey = key.slice(`${prefix}:group:`.length);
      const state = assembleGroup(groupKey, await redis.hgetall(key));
      if (state !== null) states.push({ ...state, groupKey });
    }
  } while (cursor !== '0');
  return states;
}

async function expectExact(): Promise<void> {
  const recount = Object.fromEntries([...countActiveFindings(await groupStates())].sort(([a], [b]) => a.localeCompare(b)));
  const counts = Object.fromEntries(
    (await readActiveFindings(redis, prefix))
      .map((c) => [`${c.severity}|${c.mesh}|${c.category}`, c.count])
      .sort(([a], [b]) => String(a).localeCompare(String(b))),
  );
  expect(counts).toEqual(recount);
  const live = activeFindingsKeys(prefix);
  for (const v of [...Object.values(await redis.hgetall(live.refs)), ...Object.values(await redis.hgetall(live.counts))]) expect(Number(v)).toBeGreaterThan(0);
  // Nothing of the rebuild is left behind, and the live counts keep no TTL of the shadow's.
  const rb = activeFindingsRebuildKeys(prefix);
  expect(await redis.exists(rb.running, rb.refs, rb.counts, rb.done, rb.todo)).toBe(0);
  expect(await redis.pttl(live.counts)).toBe(-1);
}

/** Counts made wrong the way a group written before the counts existed, or by an older replica, leaves them. */
async function spoilCounts(): Promise<void> {
  const live = activeFindingsKeys(prefix);
  await redis.del(live.refs);
  await redis.hset(live.counts, 'critical|istio|security', '99', 'low|nothing|traffic', '3');
}

beforeEach(() => {
  prefix = testPrefix('rebuild');
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  now = Date.UTC(2026, 11, 4, 10, 0, 0);
  ingest = createIngest({
    policy: () => defaultPolicy(createCatalog(), ['console'], { groupWaitMs: 3_600_000 }),
    store: createRedisTrackStore({ redis, keyPrefix: prefix }),
    flushes: { recorded: () => undefined },
    owners: createRedisOwnerGroupIndex(redis, prefix),
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    now: () => now,
  });
});

afterEach(async () => {
  redis.disconnect();
  await deleteKeys(redisUrl(), prefix);
});

describe('active findings rebuild in steps', () => {
  it('swaps in the exact recount although commits change groups between its steps', async () => {
    for (let i = 0; i < 30; i++) await ingest(snapshot(`app-${i}`, 10, 1 + (i % 4)));
    await spoilCounts();
    let step = 0;
    let t = 20;
    // Between steps: groups resolve, grow, shrink, and new groups appear (after the ZSCAN passed them, or before).
    const result = await rebuildActiveFindings(redis, prefix, {
      everySeconds: 60,
      batch: 4,
      onStep: async () => {
        step++;
        t++;
        const i = step % 30;
        if (step % 3 === 0) await ingest(snapshot(`app-${i}`, t, 0));
        else if (step % 3 === 1) await ingest(snapshot(`app-${i}`, t, 5));
        else await ingest(snapshot(`new-${step}`, t, 2));
      },
    });
    expect(result?.groups).toBe(30);
    expect(result?.steps).toBeGreaterThan(10);
    await expectExact();
    // Once per `everySeconds` across replicas.
    expect(await rebuildActiveFindings(redis, prefix, { everySeconds: 60 })).toBeNull();
  });

  it('adds a group larger than one step in chunks, and takes them back when the group changes between them', async () => {
    await ingest(snapshot('big', 10, 40));
    await ingest(snapshot('small', 10, 2));
    await spoilCounts();
    let changes = 0;
    const result = await rebuildActiveFindings(redis, prefix, {
      everySeconds: 60,
      batch: 8,
      onStep: async () => {
        // The big group changes twice while its chunks are added (then it settles).
        if (changes < 2) {
          changes++;
          await ingest(snapshot('big', 20 + changes, 40 - changes * 3));
        }
      },
    });
    expect(result).not.toBeNull();
    await expectExact();
  });

  it('reads a group stored one finding per field (meta `m`, `f:<fingerprint>`) as well as one stored whole', async () => {
    await ingest(snapshot('whole', 10, 2));
    // The per-finding layout (track/group-layout.ts): its `s` holds a marker, not the state.
    const key = `${prefix}:group:fields`;
    const finding = (fp: string, status: string, severity: string) =>
      JSON.stringify({ fingerprint: fp, status, severity, mesh: 'istio', category: 'security' });
    await redis.hset(
      key,
      'v',
      '999',
      'm',
      '{"v":2}',
      's',
      '{"v":2,"layout":"per-finding fields"}',
      'f:aa',
      finding('aa', 'firing', 'critical'),
      'f:bb',
      finding('bb', 'firing', 'low'),
      'f:cc',
      finding('cc', 'resolved', 'low'),
      'o:x',
      '{"fps":[]}',
    );
    await redis.expire(key, 600);
    await redis.zadd(`${prefix}:groups:active`, 1, 'fields');
    await spoilCounts();
    expect((await rebuildActiveFindings(redis, prefix, { everySeconds: 60, batch: 1 }))?.groups).toBe(2);
    const counts = Object.fromEntries((await readActiveFindings(redis, prefix)).map((c) => [`${c.severity}|${c.mesh}|${c.category}`, c.count]));
    const whole = Object.fromEntries(countActiveFindings((await groupStates()).filter((g) => g.groupKey !== 'fields')));
    expect(counts).toEqual({
      ...whole,
      'critical|istio|security': (whole['critical|istio|security'] ?? 0) + 1,
      'low|istio|security': (whole['low|istio|security'] ?? 0) + 1,
    });
  });

  it('gives up, changing nothing live, when another rebuild replaced it', async () => {
    for (let i = 0; i < 10; i++) await ingest(snapshot(`app-${i}`, 10, 2));
    const before = await readActiveFindings(redis, prefix);
    const rb = activeFindingsRebuildKeys(prefix);
    let replaced = false;
    const run = rebuildActiveFindings(redis, prefix, {
      everySeconds: 60,
      batch: 2,
      onStep: async () => {
        if (!replaced && (await redis.exists(rb.refs)) === 1) {
          replaced = true;
          await redis.set(rb.running, 'someone-else', 'PX', 60_000);
        }
      },
    });
    await expect(run).rejects.toBeInstanceOf(RebuildAbandonedError);
    expect(await readActiveFindings(redis, prefix)).toEqual(before);
    // The other rebuild's keys are its own: left alone.
    expect(await redis.get(rb.running)).toBe('someone-else');
  });
});

import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCatalog } from '../../src/classify/catalog.ts';
import { classify, defaultPolicy } from '../../src/classify/classify.ts';
import type { Signal } from '../../src/model/signal.ts';
import { applySignal } from '../../src/track/decide.ts';
import { groupInputs } from '../../src/track/grouping.ts';
import { createRedisTrackStore, type TrackStore } from '../../src/track/redis-store.ts';
import { groupRedisKey } from '../../src/track/keys.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

/**
 * Group versions never repeat, so a compare-and-set from a read made before a group was deleted
 * cannot pass against the group re-created after it (ABA): the writer re-reads and decides again.
 */

const policy = defaultPolicy(createCatalog(), ['console']);
let prefix: string;
let redis: Redis;
let store: TrackStore;

function snapshot(observedAt: number): Signal {
  return {
    source: 'argocd-webhook',
    cluster: 'prod',
    owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
    project: 'default',
    destination: {},
    observedAt,
    completeness: 'snapshot',
    resources: [{ group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'payments', name: 'allow', state: 'Modified' }],
  };
}

beforeEach(() => {
  prefix = testPrefix('versions');
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  store = createRedisTrackStore({ redis, keyPrefix: prefix });
});

afterEach(async () => {
  redis.disconnect();
  await deleteKeys(redisUrl(), prefix);
});

describe('group versions', () => {
  it('a group deleted and re-created never gets a version an earlier reader saw', async () => {
    const signal = snapshot(1_000);
    const [input] = groupInputs(signal, classify(signal, policy), policy.route);
    if (!input) throw new Error('no group input');
    const key = groupRedisKey(prefix, input.groupKey);

    const seen: string[] = [];
    for (let round = 0; round < 3; round++) {
      await store.apply({ ...input, observedAt: 1_000 + round }, 2_000 + round);
      seen.push((await redis.hget(key, 'v')) ?? '');
      await redis.del(key);
    }
    expect(new Set(seen).size).toBe(3);

    // A stale writer holding the first version: its compare-and-set must fail against the new group.
    await store.apply(input, 5_000);
    const stale = applySignal(null, input, 5_000);
    const cas = (redis as unknown as { meshdriftCas: (...args: Array<string | number>) => Promise<number> }).meshdriftCas;
    const ok = await cas.call(
      redis,
      key,
      `${prefix}:active`,
      key,
      `${prefix}:r`,
      `${prefix}:c`,
      `${prefix}:group-version`,
      `${prefix}:known`,
      seen[0] ?? '',
      JSON.stringify(stale.next),
      3600,
      input.groupKey,
      'add',
      0,
      '',
      5,
      100,
      3600,
      'set',
    );
    expect(ok).toBe(0);
  });
});

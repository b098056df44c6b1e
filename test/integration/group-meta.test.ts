import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.ts';
import { findingField } from '../../src/track/group-layout.ts';
import { createRedisGroupMetaReader } from '../../src/track/group-meta.ts';
import type { GroupState, Timing } from '../../src/track/group-state.ts';
import { groupRedisKey } from '../../src/track/keys.ts';
import { createRedisTrackStore, type TrackStore } from '../../src/track/redis-store.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

// A group's labels and last notification from its meta record only (track/group-meta.ts): what a
// Slack click or a PagerDuty acknowledge needs, at a cost that does not grow with the group.

const GROUP = 'g1';
const timing: Timing = { groupWaitMs: 10_000, groupIntervalMs: 300_000, repeatIntervalMs: 4 * 3_600_000, pendingForMs: 0 };
const owner = { kind: 'Application', namespace: 'argocd', name: 'a' };
const labels = { cluster: 'prod', tool: 'argocd' as const, owner, project: 'p', route: 'route', receiver: 'pager', groupBy: { cluster: 'prod' } };

function finding(name: string): Finding {
  return {
    fingerprint: `fp-${name}`,
    groupKey: GROUP,
    cluster: 'prod',
    tool: 'argocd',
    owner,
    project: 'p',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'ns', name },
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    receivers: ['pager'],
    reasons: [],
    observedAt: 0,
  };
}

let prefix: string;
let redis: Redis;
let store: TrackStore;

beforeEach(() => {
  prefix = testPrefix('group-meta');
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  store = createRedisTrackStore({ redis, keyPrefix: prefix });
});

afterEach(async () => {
  redis.disconnect();
  await deleteKeys(redisUrl(), prefix);
});

describe('reading a group meta record', () => {
  it('gives the labels and the last notification without reading a finding, for both layouts, and null for no group', async () => {
    const reader = createRedisGroupMetaReader(redis, prefix);
    expect(await reader.meta(GROUP)).toBeNull();
    const findings = Array.from({ length: 50 }, (_, i) => finding(`vs-${i}`));
    await store.apply(
      { groupKey: GROUP, labels, timing, findings, completeness: 'snapshot', scope: { cluster: 'prod', tool: 'argocd', owner }, observedAt: 1 },
      1_000,
    );
    expect(await reader.meta(GROUP)).toEqual({ labels, last: null });
    const whole = (await store.get(GROUP)) as GroupState;
    const seq = whole.pendingFlush?.seq ?? 0;
    await store.flush(GROUP, whole.createdAt, seq, () => ({ now: whole.pendingFlush?.dueAt ?? 20_000 }));
    const told = await reader.meta(GROUP);
    expect(told?.last?.status).toBe('firing');
    // Findings are not what it reads: a group whose finding fields are unreadable still answers.
    await redis.hset(groupRedisKey(prefix, GROUP), findingField('fp-vs-0'), 'not json');
    expect((await reader.meta(GROUP))?.labels).toEqual(labels);

    // A group stored whole by the version before per-finding storage (field `s`).
    const legacy: GroupState = { ...whole, groupKey: 'old', lastNotification: null };
    await redis.hset(groupRedisKey(prefix, 'old'), 'v', '3', 's', JSON.stringify(legacy));
    await redis.expire(groupRedisKey(prefix, 'old'), 3600);
    expect(await reader.meta('old')).toEqual({ labels, last: null });
  });
});

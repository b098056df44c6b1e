import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createCatalog } from '../../src/classify/catalog.ts';
import { classify, defaultPolicy } from '../../src/classify/classify.ts';
import type { Signal } from '../../src/model/signal.ts';
import { ownerPath } from '../../src/model/owner.ts';
import { groupInputs } from '../../src/track/grouping.ts';
import { createRedisTrackStore, GroupLimitError } from '../../src/track/redis-store.ts';
import { activeGroupsKey, groupRedisKey, historyKey, inhibitSourcesKey, knownGroupsKey, ownerGroupsKey } from '../../src/track/keys.ts';
import { AUDIT_ENTRY_REFS, createRedisAuditTrail } from '../../src/remediate/audit.ts';
import { createRedisInhibitSourceStore } from '../../src/track/inhibit-sources.ts';
import { createRedisHistory, HISTORY_ENTRY_FINDINGS } from '../../src/track/history.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { makeNotification, makeTrackedFinding } from '../support/notifications.ts';
import { meshAppBody } from '../support/argocd.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

/**
 * Issue #12 item 5: what a sender can make meshdrift keep is bounded. Every key a signal creates
 * expires (refreshed while its source keeps reporting), the number of alert groups is capped (a
 * signal past the cap fails, so its sender retries), and the per-app metric keeps a bounded number
 * of series.
 */

const DAY = 86_400;

/** A snapshot of one anonymous app with one drifted AuthorizationPolicy (critical). */
function anonApp(i: number, observedAt = Date.now()): Signal {
  return {
    source: 'argocd-webhook',
    cluster: 'prod',
    owner: { kind: 'Application', namespace: 'argocd', name: `anon-${i}` },
    project: 'default',
    destination: {},
    observedAt,
    completeness: 'snapshot',
    resources: [{ group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: `ns-${i}`, name: 'allow', state: 'Modified' }],
  };
}

/**
 * Keys that may live without a TTL: singletons whose size is bounded by what they describe
 * (docs/operations.md, Limits). Everything else under the prefix must expire.
 */
const BOUNDED_SINGLETONS = [
  /^:group-version$/, // one counter
  /^:groups:(active|known|flush-due)$/, // the groups (at most MESHDRIFT_MAX_ALERT_GROUPS; one flush intent each), pruned as their keys expire
  /^:findings:active:(refs|counts)$/, // firing findings of those groups, rebuilt hourly
  /^:silences(:ends|:expired|:expired:ends|:version|:indexed)?$/, // at most MESHDRIFT_SILENCES_MAX each side
  // BullMQ's own keys (queue/queues.ts): its structures, and jobs removed on completion or kept
  // by count and age (removeOnComplete, removeOnFail).
  /^:(flush|deliver|remediate|acknowledge):(meta|id|events|completed|failed|wait|paused|active|delayed|prioritized|marker|pc|limiter|repeat|stalled|waiting-children)$/,
  /^:(flush|deliver|remediate|acknowledge):[A-Za-z]+-[0-9a-f]{16,}$/,
];

describe('state bounds through the service', () => {
  let slack: FakeSlack;
  let svc: (App & { url: string }) | undefined;
  let prefix: string;
  let redis: Redis;

  beforeEach(async () => {
    prefix = testPrefix('bounds');
    slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  });

  afterEach(async () => {
    await stopService(svc, redisUrl(), prefix);
    svc = undefined;
    await slack.close();
    redis.disconnect();
  });

  async function start(env: Record<string, string> = {}): Promise<App & { url: string }> {
    const dir = mkdtempSync(`${tmpdir()}/meshdrift-bounds-`);
    writeFileSync(
      `${dir}/p.yaml`,
      [
        'receivers:',
        '  - { name: chat, slack: { channel: "#mesh-drift" } }',
        'route:',
        '  receiver: chat',
        '  group_wait: 200ms',
        '  group_interval: 400ms',
        'inhibit_rules:',
        '  - { source_matchers: [severity="critical"], target_matchers: [severity="low"], equal: [cluster] }',
        '',
      ].join('\n'),
    );
    svc = await startService({
      redisUrl: redisUrl(),
      prefix,
      slackUrl: slack.url,
      env: { MESHDRIFT_POLICY: `${dir}/p.yaml`, MESHDRIFT_API_TOKEN: 'api-token-at-least-16-chars', ...env },
    });
    return svc;
  }

  async function keysOf(): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  }

  it('every key a signal, its notifications, a resolve and a silence create expires, but the documented bounded singletons', async () => {
    const app = await start();
    expect((await postArgocd(app.url, meshAppBody())).status).toBe(202);
    await waitFor(() => slack.messages.size >= 1, 10_000, 'the first notification');
    const created = await fetch(`${app.url}/api/v1/silences`, {
      method: 'POST',
      headers: { authorization: 'Bearer api-token-at-least-16-chars', 'content-type': 'application/json' },
      body: JSON.stringify({ matchers: ['namespace="other"'], duration: '1h', createdBy: 'sre', comment: 'test' }),
    });
    expect(created.status).toBe(201);
    // A second owner that resolves: its group is kept for the resolved retention.
    const [groupKey] = (await app.ingest(anonApp(1))).groups;
    await app.ingest({ ...anonApp(1, Date.now() + 1), resources: [] });
    await waitFor(
      async () => {
        const g = await app.store.get(groupKey ?? '');
        return g === null || !g.pendingFlush;
      },
      10_000,
      'the resolved group flushed',
    );
    await waitFor(async () => (await redis.exists(`${prefix}:history`)) === 1, 10_000, 'a notification recorded');

    const keys = await keysOf();
    const families = new Set(
      keys.map((k) =>
        k
          .slice(prefix.length + 1)
          .split(':')
          .slice(0, 2)
          .join(':'),
      ),
    );
    expect([...families].some((f) => f.startsWith('group:'))).toBe(true);
    expect(keys.some((k) => k.includes(':owner-groups:'))).toBe(true);
    expect(keys.some((k) => k.endsWith(':inhibit:sources'))).toBe(true);
    expect(keys.some((k) => k.endsWith(':history'))).toBe(true);

    const pipeline = redis.pipeline();
    for (const k of keys) pipeline.pttl(k);
    const ttls = ((await pipeline.exec()) ?? []).map(([, v]) => Number(v));
    if (process.env.BOUNDS_DUMP)
      console.log(
        keys
          .map((k, i) => `${k.slice(prefix.length)} ${ttls[i]}`)
          .sort()
          .join('\n'),
      );
    const forever = keys.filter((k, i) => (ttls[i] ?? -1) <= 0 && !BOUNDED_SINGLETONS.some((re) => re.test(k.slice(prefix.length))));
    expect(forever).toEqual([]);
  });

  it('20,000 distinct apps: 50 groups kept (MESHDRIFT_MAX_ALERT_GROUPS), the rest refused and counted; keys, memory and /metrics stay bounded', async () => {
    const app = await start({ MESHDRIFT_MAX_ALERT_GROUPS: '50', MESHDRIFT_APP_METRICS: 'top:5' });
    const N = 20_000;
    let refused = 0;
    let other = 0;
    for (let i = 0; i < N; i += 500) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(500, N - i) }, (_, j) => app.ingest(anonApp(i + j))));
      for (const r of batch) {
        if (r.status === 'fulfilled') continue;
        if (r.reason instanceof GroupLimitError) refused++;
        else other++;
      }
    }
    expect(other).toBe(0);
    expect(refused).toBe(N - 50);
    expect(await redis.zcard(knownGroupsKey(prefix))).toBe(50);
    expect(await redis.zcard(activeGroupsKey(prefix))).toBe(50);

    // A webhook past the bound fails with 503 (the sender retries), naming the limit.
    const res = await postArgocd(app.url, meshAppBody());
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('60');
    expect(((await res.json()) as { error: string }).error).toMatch(/MESHDRIFT_MAX_ALERT_GROUPS/);

    const keys = await keysOf();
    // 50 groups, their owner indexes, a few singletons, the queued flushes: nowhere near 20,000.
    expect(keys.length).toBeLessThan(400);
    const memory = redis.pipeline();
    for (const k of keys) memory.memory('USAGE', k);
    const bytes = ((await memory.exec()) ?? []).reduce((sum, [, v]) => sum + Number(v ?? 0), 0);
    expect(bytes).toBeLessThan(2_000_000);

    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    const series = metrics.split('\n').filter((l) => l.startsWith('meshdrift_app_drift_total{'));
    expect(series).toHaveLength(6); // top 5 and _other
    expect(series.some((l) => l.includes('app="_other"'))).toBe(true);
    expect(metrics).toMatch(/meshdrift_limit_hits_total\{limit="alert_groups"\} (\d+)/);
    expect(Number(/meshdrift_limit_hits_total\{limit="alert_groups"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(N - 50);
    expect(metrics.length).toBeLessThan(64 * 1024);
  }, 180_000);
});

describe('group TTLs in the store', () => {
  const policy = defaultPolicy(createCatalog(), ['console']);
  let prefix: string;
  let redis: Redis;

  beforeEach(() => {
    prefix = testPrefix('group-ttl');
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  });

  afterEach(async () => {
    redis.disconnect();
    await deleteKeys(redisUrl(), prefix);
  });

  const inputOf = (signal: Signal) => {
    const [input] = groupInputs(signal, classify(signal, policy), policy.route);
    if (!input) throw new Error('no group input');
    return input;
  };
  // The clean snapshot of app `i` (what ingest sends to each group the owner holds).
  const cleanOf = (i: number, observedAt: number) => ({ ...inputOf(anonApp(i, observedAt)), findings: [] });

  it('a firing group and its owner index expire after the firing TTL, refreshed by signals, not by notifications', async () => {
    const store = createRedisTrackStore({ redis, keyPrefix: prefix, firingTtlSeconds: 10 * DAY, resolvedRetentionSeconds: 2 * DAY });
    const signal = anonApp(1);
    const input = inputOf(signal);
    const key = groupRedisKey(prefix, input.groupKey);
    const owner = ownerGroupsKey(prefix, ownerPath(input.scope));
    const applied = await store.apply(input, 1_000);
    expect(await redis.ttl(key)).toBeGreaterThan(10 * DAY - 5);
    expect(await redis.ttl(owner)).toBeGreaterThan(10 * DAY - 5);

    // Time passes (simulated): the deadline is near.
    await redis.expire(key, DAY);
    await redis.expire(owner, DAY);
    // A notification does not extend it: a group whose sources went quiet is not kept by its repeats.
    const seq = applied.next?.pendingFlush?.seq ?? 0;
    // At its due time (a flush run earlier decides nothing: track/redis-store.ts 'early').
    const dueAt = applied.next?.pendingFlush?.dueAt ?? 0;
    const flushed = await store.flush(input.groupKey, applied.next?.createdAt ?? 0, seq, () => ({
      now: dueAt,
      routeMuted: { muted: false },
      mute: () => ({ muted: false }),
    }));
    expect(flushed.kind).toBe('decided');
    expect(await redis.ttl(key)).toBeLessThanOrEqual(DAY);

    // The same drift reported again (nothing to write: dedup) moves the deadline back to a full TTL.
    const again = await store.apply({ ...input, completeness: 'partial' }, 3_000);
    expect(again.dirty).toBe(false);
    expect(await redis.ttl(key)).toBeGreaterThan(10 * DAY - 5);
    expect(await redis.ttl(owner)).toBeGreaterThan(10 * DAY - 5);
  });

  it('a resolved group keeps the resolved retention; a group whose key expired leaves the indexes on a later commit', async () => {
    const store = createRedisTrackStore({ redis, keyPrefix: prefix, firingTtlSeconds: 10 * DAY, resolvedRetentionSeconds: 2 * DAY });
    const a = inputOf(anonApp(1, 1_000));
    const b = inputOf(anonApp(2, 1_000));
    await store.apply(a, 1_000);
    await store.apply(b, 1_000);
    expect(await redis.zcard(activeGroupsKey(prefix))).toBe(2);

    // a expires (simulated: its key is gone and its deadline passed).
    await redis.del(groupRedisKey(prefix, a.groupKey));
    await redis.zadd(knownGroupsKey(prefix), 1, a.groupKey);
    await store.apply(cleanOf(2, 2_000), 2_000);
    expect(await redis.zrange(activeGroupsKey(prefix), 0, -1)).toEqual([]);
    expect(await redis.zrange(knownGroupsKey(prefix), 0, -1)).toEqual([b.groupKey]);
    const left = await redis.ttl(groupRedisKey(prefix, b.groupKey));
    // Resolved, awaiting its resolved notification: kept with the firing TTL until it is sent.
    expect(left).toBeGreaterThan(0);
  });

  it('at maxGroups, a new group takes the place of a resolved one that owes no notification; refused only when the rest fire', async () => {
    const evicted: string[] = [];
    const limited: string[] = [];
    const store = createRedisTrackStore({
      redis,
      keyPrefix: prefix,
      maxGroups: 2,
      onGroupEvicted: (g) => void evicted.push(g),
      onGroupLimit: (g) => void limited.push(g),
    });
    // Late enough for any group_wait: each flush decides its notification.
    const context = (dueAt: number) => () => ({ now: Math.max(1_000_000_000, dueAt), routeMuted: { muted: false }, mute: () => ({ muted: false }) });
    const flushPending = async (groupKey: string) => {
      const g = await store.get(groupKey);
      if (!g?.pendingFlush) throw new Error('nothing pending');
      expect((await store.flush(groupKey, g.createdAt, g.pendingFlush.seq, context(g.pendingFlush.dueAt))).kind).toBe('decided');
    };
    const firing = inputOf(anonApp(1, 1_000));
    const quiet = inputOf(anonApp(2, 1_000));
    await store.apply(firing, 1_000);
    await store.apply(quiet, 1_000);
    await flushPending(quiet.groupKey);
    await store.apply(cleanOf(2, 2_000), 2_000);
    // Resolved but its resolved notification is still owed: it is not dropped.
    await expect(store.apply(inputOf(anonApp(3, 3_000)), 3_000)).rejects.toBeInstanceOf(GroupLimitError);
    await flushPending(quiet.groupKey);
    expect((await store.get(quiet.groupKey))?.pendingFlush).toBeNull();

    const third = inputOf(anonApp(3, 4_000));
    await store.apply(third, 4_000);
    expect(evicted).toEqual([third.groupKey]);
    expect(await redis.exists(groupRedisKey(prefix, quiet.groupKey))).toBe(0);
    expect((await redis.zrange(knownGroupsKey(prefix), 0, -1)).sort()).toEqual([firing.groupKey, third.groupKey].sort());
    // Both left are firing: the next one is refused.
    await expect(store.apply(inputOf(anonApp(4, 5_000)), 5_000)).rejects.toBeInstanceOf(GroupLimitError);
    expect(limited).toHaveLength(2);
  });

  it('refuses a new group past maxGroups, reports it, and lets existing groups update', async () => {
    const limited: string[] = [];
    const store = createRedisTrackStore({ redis, keyPrefix: prefix, maxGroups: 2, onGroupLimit: (g) => void limited.push(g) });
    await store.apply(inputOf(anonApp(1)), 1_000);
    await store.apply(inputOf(anonApp(2)), 1_000);
    const third = inputOf(anonApp(3));
    await expect(store.apply(third, 1_000)).rejects.toThrow(/at most 2 alert groups .*MESHDRIFT_MAX_ALERT_GROUPS/);
    expect(limited).toEqual([third.groupKey]);
    expect(await redis.exists(groupRedisKey(prefix, third.groupKey))).toBe(0);
    await expect(store.apply(cleanOf(1, Date.now() + 5), 2_000)).resolves.toMatchObject({ resolved: 1 });
  });
});

describe('audit records, history and inhibition sources in Redis', () => {
  let prefix: string;
  let redis: Redis;

  beforeEach(() => {
    prefix = testPrefix('entries');
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  });

  afterEach(async () => {
    redis.disconnect();
    await deleteKeys(redisUrl(), prefix);
  });

  it('an audit record is stored bounded (references counted past AUDIT_ENTRY_REFS) and the stream expires', async () => {
    const audit = createRedisAuditTrail(redis, prefix, { now: Date.now });
    const resources = Array.from({ length: 200 }, (_, i) => ({ group: '', kind: 'Service', namespace: 'ns', name: `svc-${i}` }));
    await audit.append({ at: Date.now(), actor: 'meshdrift', action: 'sync', cluster: 'prod', outcome: 'performed', reason: 'x'.repeat(50_000), resources });
    const [record] = await audit.list({ limit: 1 });
    expect(record?.resources).toHaveLength(AUDIT_ENTRY_REFS);
    expect(record?.omitted).toBe(200 - AUDIT_ENTRY_REFS);
    expect(await redis.memory('USAGE', `${prefix}:audit`)).toBeLessThan(16 * 1024);
    expect(await redis.pttl(`${prefix}:audit`)).toBeGreaterThan(0);
  });

  it('the history stores summaries, capped in count, and expires', async () => {
    const history = createRedisHistory(redis, prefix, 5);
    const firing = Array.from({ length: 300 }, (_, i) => makeTrackedFinding(`vs-${i}`));
    for (let seq = 1; seq <= 8; seq++) await history.record(makeNotification({ seq, firing }));
    expect(await redis.llen(historyKey(prefix))).toBe(5);
    const [latest] = await history.recent(1);
    expect(latest).toMatchObject({ seq: 8, firing: 300, omitted: 300 - HISTORY_ENTRY_FINDINGS });
    expect(await redis.memory('USAGE', historyKey(prefix))).toBeLessThan(5 * 8 * 1024);
    expect(await redis.ttl(historyKey(prefix))).toBeGreaterThan(0);
  });

  it('inhibition sources are capped (new ones past the cap left out, reported) and the key expires', async () => {
    const dropped: number[] = [];
    const sources = createRedisInhibitSourceStore(redis, prefix, { max: 3, onLimit: (n) => void dropped.push(n) });
    await sources.update(
      [1, 2].map((i) => ({ id: `fp-${i}`, labels: { severity: 'critical' } })),
      [],
    );
    await sources.update(
      [3, 4, 5].map((i) => ({ id: `fp-${i}`, labels: { severity: 'critical' } })),
      [],
    );
    expect(dropped).toEqual([2]);
    expect((await sources.list()).map((s) => s.id).sort()).toEqual(['fp-1', 'fp-2', 'fp-3']);
    // A removal makes room again.
    await sources.update([{ id: 'fp-6', labels: {} }], ['fp-1']);
    expect((await sources.list()).map((s) => s.id).sort()).toEqual(['fp-2', 'fp-3', 'fp-6']);
    expect(await redis.ttl(inhibitSourcesKey(prefix))).toBeGreaterThan(0);
  });
});

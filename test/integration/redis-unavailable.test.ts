import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TrackConflictError } from '../../src/track/redis-store.ts';
import type { App } from '../../src/app.ts';
import { bigSnapshotBody } from '../support/big-snapshot.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

/**
 * Never a 500 for contention or a busy Redis (issue #15): a group write that loses its bounded
 * compare-and-set retries, and a Redis that answers BUSY (a long script), LOADING or a failover
 * error, are "unavailable": 503 with Retry-After, which Argo CD and Flux retry. A 202 means the
 * signal is in Redis.
 */

const SENDERS = 64;
const SEED_FINDINGS = 500;

function policyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshdrift-unavailable-'));
  // One group per cluster: every sender's app lands in the same group.
  writeFileSync(join(dir, 'policy.yaml'), 'receivers:\n  - { name: out, console: {} }\nroute:\n  receiver: out\n  group_by: [cluster]\n  group_wait: 1h\n');
  return dir;
}

const metric = async (svc: App, reason: string): Promise<number> => {
  const text = await svc.metrics.registry.getSingleMetricAsString('meshdrift_redis_unavailable_total');
  return Number(new RegExp(`reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
};

describe(`${SENDERS} concurrent senders into one alert group`, () => {
  const prefix = testPrefix('contend');
  let svc: App & { url: string };
  let dir: string;

  beforeAll(async () => {
    dir = policyDir();
    svc = await startService({ redisUrl: redisUrl(), prefix, env: { MESHDRIFT_POLICY: join(dir, 'policy.yaml') } });
  });

  afterAll(async () => {
    await stopService(svc, redisUrl(), prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every one 202 or 503 (Retry-After), and every 202 is in the group', async () => {
    // A group that already holds many findings: each commit of it takes long enough for the
    // concurrent ones to collide (the issue measured 17 % 500s at 32 senders).
    expect((await postArgocd(svc.url, bigSnapshotBody('seed', SEED_FINDINGS))).status).toBe(202);
    const answers = await Promise.all(
      Array.from({ length: SENDERS }, async (_, i) => {
        const res = await postArgocd(svc.url, bigSnapshotBody(`sender-${i}`, 1));
        const body = (await res.json()) as { groups?: string[]; error?: string };
        return { app: `sender-${i}`, status: res.status, retryAfter: res.headers.get('retry-after'), body };
      }),
    );
    const counts = new Map<number, number>();
    for (const a of answers) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
    console.log(`${SENDERS} concurrent senders into one group: ${[...counts].map(([s, n]) => `${n}× ${s}`).join(', ')}`);
    for (const a of answers) expect([202, 503], `${a.app}: ${a.status} ${JSON.stringify(a.body)}`).toContain(a.status);
    const refused = answers.filter((a) => a.status === 503);
    for (const a of refused) expect(Number(a.retryAfter)).toBeGreaterThan(0);
    expect(await metric(svc, 'contention')).toBe(refused.length);
    // One replica: its concurrent signals for the group are folded into batches (track/redis-store.ts),
    // which never race each other's compare-and-set.
    const batches = await svc.metrics.registry.getSingleMetricAsString('meshdrift_signal_batch_size');
    const conflicts = await svc.metrics.registry.getSingleMetricAsString('meshdrift_group_write_conflicts_total');
    console.log(`group commits: ${/_count (\d+)/.exec(batches)?.[1]} for ${SENDERS + 1} signals`);
    expect(Number(/_total (\d+)/.exec(conflicts)?.[1] ?? 0)).toBe(0);
    expect(Number(/_sum (\d+)/.exec(batches)?.[1])).toBe(SENDERS + 1);

    const accepted = answers.filter((a) => a.status === 202);
    const groupKeys = new Set(accepted.flatMap((a) => a.body.groups ?? []));
    expect(groupKeys.size).toBe(1);
    const [groupKey] = [...groupKeys];
    const state = await svc.store.get(groupKey ?? '');
    const owners = new Set(Object.values(state?.findings ?? {}).map((f) => f.owner.name));
    for (const a of accepted) expect(owners.has(a.app), `${a.app} answered 202 but is not in the group`).toBe(true);
  }, 120_000);

  it('answers 503 with Retry-After 1 when a group write gives up after its bounded retries (contention)', async () => {
    const before = await metric(svc, 'contention');
    const apply = vi.spyOn(svc.store, 'apply').mockRejectedValueOnce(new TrackConflictError('group g: gave up after 25 conflicting concurrent updates'));
    try {
      const res = await postArgocd(svc.url, bigSnapshotBody('contended', 1));
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as { error: string }).error).toMatch(/too many concurrent updates/);
    } finally {
      apply.mockRestore();
    }
    expect(await metric(svc, 'contention')).toBe(before + 1);
    // The sender's retry is tracked.
    expect((await postArgocd(svc.url, bigSnapshotBody('contended', 1))).status).toBe(202);
  });
});

describe('a Redis busy with a long script', () => {
  let own: OwnRedis;
  let svc: (App & { url: string }) | undefined;
  let blocker: Redis | undefined;
  let dir: string;

  beforeAll(async () => {
    // BUSY as soon as a script has run 50 ms (the default is 5 s).
    own = await startOwnRedis(['--busy-reply-threshold', '50']);
    dir = policyDir();
  });

  afterAll(async () => {
    await svc?.stop();
    blocker?.disconnect();
    await own.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a webhook 503 with Retry-After (not 500) and /readyz 503 while it is BUSY, and 202 after', async () => {
    svc = await startService({ redisUrl: own.url, prefix: testPrefix('busy'), env: { MESHDRIFT_POLICY: join(dir, 'policy.yaml') } });
    blocker = new Redis(own.url);
    // Spins inside Redis for 3 s: every other client gets BUSY meanwhile.
    const spin = blocker.eval(
      "local t = redis.call('TIME'); local stop = t[1] * 1000000 + t[2] + 3000000; while true do local n = redis.call('TIME'); if n[1] * 1000000 + n[2] > stop then break end end return 1",
      0,
    );
    const probe = new Redis(own.url);
    try {
      await waitFor(
        async () =>
          (
            await probe.ping().then(
              () => 'ok',
              (err: unknown) => String(err),
            )
          ).includes('BUSY'),
        5_000,
        'Redis to answer BUSY',
      );
    } finally {
      probe.disconnect();
    }
    const res = await postArgocd(svc.url, bigSnapshotBody('busy-app', 1));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(((await res.json()) as { error: string }).error).toMatch(/Redis is busy/);
    const ready = await fetch(`${svc.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { error: string }).error).toMatch(/busy/);
    expect(await metric(svc, 'busy')).toBe(1);

    await spin;
    expect((await postArgocd(svc.url, bigSnapshotBody('busy-app', 1))).status).toBe(202);
  }, 60_000);
});

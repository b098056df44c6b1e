import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { activeGroupsKey } from '../../src/track/keys.ts';
import { bigSnapshotBody } from '../support/big-snapshot.ts';
import { redisUrl, testPrefix } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

/**
 * Findings bounds (issue #12 item 4): a signal past MESHDRIFT_MAX_SNAPSHOT_FINDINGS, or one that
 * would grow an alert group past MESHDRIFT_MAX_GROUP_FINDINGS, is refused whole with a 413 that
 * names the bound, counted, and changes nothing tracked.
 */
describe('findings bounds', () => {
  const prefix = testPrefix('limits');
  let svc: App & { url: string };
  let dir: string;

  const limitHits = async (limit: string): Promise<number> => {
    const text = await svc.metrics.registry.getSingleMetricAsString('meshdrift_limit_hits_total');
    return Number(new RegExp(`limit="${limit}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshdrift-limits-'));
    // One group per cluster: every app's findings share it, so several owners can fill it.
    writeFileSync(join(dir, 'policy.yaml'), 'receivers:\n  - { name: out, console: {} }\nroute:\n  receiver: out\n  group_by: [cluster]\n  group_wait: 1h\n');
    svc = await startService({
      redisUrl: redisUrl(),
      prefix,
      env: { MESHDRIFT_POLICY: join(dir, 'policy.yaml'), MESHDRIFT_MAX_SNAPSHOT_FINDINGS: '100', MESHDRIFT_MAX_GROUP_FINDINGS: '150' },
    });
  });

  afterAll(async () => {
    await stopService(svc, redisUrl(), prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a snapshot with more findings than the bound, whole, with a 413 naming it', async () => {
    const res = await postArgocd(svc.url, bigSnapshotBody('too-big', 101));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toMatch(
      /101 drifted resources .* more than MESHDRIFT_MAX_SNAPSHOT_FINDINGS \(100\); nothing of it was tracked/,
    );
    expect(await limitHits('snapshot_findings')).toBe(1);
    expect(await svc.redis.zcard(activeGroupsKey(prefix))).toBe(0);
  });

  it('accepts one at the bound; refuses the owner that would grow the shared group past its bound, keeping what was there', async () => {
    const first = await postArgocd(svc.url, bigSnapshotBody('app-a', 100));
    expect(first.status).toBe(202);
    const [groupKey] = ((await first.json()) as { groups: string[] }).groups;
    expect(groupKey).toBeDefined();
    const before = await svc.store.get(groupKey ?? '');
    expect(Object.keys(before?.findings ?? {})).toHaveLength(100);

    const second = await postArgocd(svc.url, bigSnapshotBody('app-b', 60));
    expect(second.status).toBe(413);
    expect(((await second.json()) as { error: string }).error).toMatch(/would hold 160 findings: more than MESHDRIFT_MAX_GROUP_FINDINGS \(150\)/);
    expect(await limitHits('group_findings')).toBe(1);
    expect(Object.keys((await svc.store.get(groupKey ?? ''))?.findings ?? {})).toHaveLength(100);

    // Within the bound, the second owner joins the group.
    expect((await postArgocd(svc.url, bigSnapshotBody('app-b', 50))).status).toBe(202);
    expect(Object.keys((await svc.store.get(groupKey ?? ''))?.findings ?? {})).toHaveLength(150);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';
import { onlyGroupKey } from '../support/settle.ts';

/**
 * Issue #19: a fully resolved group is told resolve_wait after its last finding resolved, not at
 * group_interval, and the resolve says how long the drift lasted (first seen → resolved, by
 * meshdrift's clock), not how long until the message went out.
 */

const RESOLVE_WAIT_MS = 2_000;
const GROUP_INTERVAL_MS = 3_600_000;

function policyFile(): string {
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-resolve-wait-`);
  const file = `${dir}/policy.yaml`;
  writeFileSync(
    file,
    [
      'receivers:',
      '  - { name: chat, slack: { channel: "#mesh-drift" } }',
      'route:',
      '  receiver: chat',
      '  group_wait: 200ms',
      '  group_interval: 1h',
      '  resolve_wait: 2s',
      '',
    ].join('\n'),
  );
  return file;
}

let slack: FakeSlack;
let prefix: string;
let svc: (App & { url: string }) | undefined;

beforeEach(async () => {
  prefix = testPrefix('resolvewait');
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await slack.close();
});

describe('resolve_wait through the service', () => {
  it('tells the all-clear resolve_wait after the last finding resolved, with the drift true duration', { timeout: 60_000 }, async () => {
    // meshdrift's clock: real time moved by `offset`, or held at `frozen` while a signal is taken in.
    let offset = 0;
    let frozen: number | undefined;
    const now = () => frozen ?? Date.now() + offset;
    svc = await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url, env: { MESHDRIFT_POLICY: policyFile() }, now });
    const app = svc;

    expect((await postArgocd(app.url, meshAppBody('OutOfSync', new Date(now()).toISOString()))).status).toBe(202);
    await waitFor(() => slack.messages.size === 1, 20_000, 'the first message');
    const groupKey = await onlyGroupKey(app, prefix);
    const fired = groupKey === undefined ? null : await app.store.get(groupKey);
    expect(fired?.lastNotification).toMatchObject({ reason: 'first', status: 'firing' });
    const firstSeen = fired?.firstSeen ?? 0;
    const main = [...slack.messages.keys()][0] ?? '';

    // Synced 5m50s after it drifted (the clock is held while the signal is taken in, so it is exact).
    const syncedAt = firstSeen + 5 * 60_000 + 50_000;
    frozen = syncedAt;
    expect((await postArgocd(app.url, meshAppBody('Synced', new Date(syncedAt).toISOString()))).status).toBe(202);
    offset = syncedAt - Date.now();
    frozen = undefined;

    // group_interval is 1h: a resolve that arrives at all was not held for it.
    await waitFor(() => (slack.replies.get(main)?.length ?? 0) >= 1, 30_000, 'the resolve reply');
    const reply = JSON.stringify(slack.replies.get(main)?.[0]?.blocks ?? null);
    expect(reply).toContain('All resolved');
    expect(reply).toContain('back in sync after 5m 50s');
    expect(JSON.stringify(slack.messages.get(main)?.blocks)).toContain('RESOLVED');

    // By meshdrift's clock: decided resolve_wait (or a little more) after the resolve, long before group_interval.
    const told = (await app.store.get(groupKey ?? ''))?.lastNotification;
    expect(told).toMatchObject({ reason: 'resolved', status: 'resolved', firstSeen, resolvedAt: syncedAt });
    expect(told?.at ?? 0).toBeGreaterThanOrEqual(syncedAt + RESOLVE_WAIT_MS);
    expect(told?.at ?? Number.POSITIVE_INFINITY).toBeLessThan((fired?.lastNotification?.at ?? 0) + GROUP_INTERVAL_MS);
  });
});

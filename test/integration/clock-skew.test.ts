import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { groupRedisKey } from '../../src/track/keys.ts';
import { assembleGroup } from '../../src/track/group-layout.ts';
import { isThreadReply, startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshApp } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startReplica, type Replica } from '../support/replica.ts';
import { ARGOCD_TOKEN, FLUX_KEY, postArgocd, SLACK_TOKEN, startService, stopService } from '../support/service.ts';

/**
 * Issue #12 item 11: two replicas share one Redis prefix; one runs on a node whose clock is 10 min
 * ahead (its whole process: Date.now is shifted by a preload, so BullMQ's timers are skewed too).
 * meshdrift tells time by Redis TIME, so group_wait is still waited and a 5-minute silence still
 * holds, whichever replica takes the webhook or runs the flush.
 */

const SKEW_MS = 10 * 60_000;
const GROUP_WAIT_MS = 12_000;
const SILENCED = ['silenced-0', 'silenced-1', 'silenced-2', 'silenced-3'];

let prefix: string;
let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let skewed: Replica | undefined;
let preload: string;

beforeEach(async () => {
  prefix = testPrefix('skew');
  slack = await startFakeSlack({ token: SLACK_TOKEN });
  preload = join(tmpdir(), `meshdrift-skew-${randomUUID().slice(0, 8)}.mjs`);
  writeFileSync(preload, `const real = Date.now.bind(Date);\nDate.now = () => real() + ${SKEW_MS};\n`);
});

afterEach(async () => {
  await skewed?.stop();
  skewed = undefined;
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await slack.close();
  rmSync(preload, { force: true });
});

function appNamed(name: string): Record<string, unknown> {
  const app = meshApp('OutOfSync', new Date().toISOString()) as { metadata: { name: string } } & Record<string, unknown>;
  app.metadata.name = name;
  return app;
}

const posts = () => slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c));
const postsAbout = (name: string) => posts().filter((c) => JSON.stringify(c.args).includes(name));

describe('a replica whose clock is 10 minutes ahead', () => {
  it('neither skips group_wait nor treats a 5-minute silence as expired', { timeout: 120_000 }, async () => {
    const env = {
      MESHDRIFT_GROUP_WAIT: `${GROUP_WAIT_MS}ms`,
      MESHDRIFT_GROUP_INTERVAL: '600ms',
    };
    svc = await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url, env });
    skewed = await startReplica('skewed', {
      NODE_OPTIONS: `--import=${preload}`,
      REDIS_URL: redisUrl(),
      MESHDRIFT_KEY_PREFIX: prefix,
      MESHDRIFT_CLUSTER: 'test-cluster',
      MESHDRIFT_ARGOCD_TOKEN: ARGOCD_TOKEN,
      MESHDRIFT_FLUX_HMAC_KEY: FLUX_KEY,
      SLACK_BOT_TOKEN: SLACK_TOKEN,
      SLACK_CHANNEL: '#mesh-drift',
      SLACK_API_URL: slack.url,
      ...env,
    });
    const replica = skewed;

    // The skewed replica measured its clock against Redis, says so in its log and its metrics.
    expect(replica.log()).toContain('local clock is off from Redis TIME');
    const metrics = await (await fetch(`${replica.url}/metrics`)).text();
    const offset = Number(/^meshdrift_clock_offset_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(offset).toBeGreaterThan(-SKEW_MS / 1000 - 5);
    expect(offset).toBeLessThan(-SKEW_MS / 1000 + 5);

    // A 5-minute silence, created on the replica with the right clock.
    const silence = await fetch(`${svc.url}/api/v1/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ matchers: ['owner=~"silenced-.*"'], duration: '5m', createdBy: 'test', comment: 'clock skew' }),
    });
    expect(silence.status).toBe(201);

    // Drift reaches both replicas: one loud app and half the silenced ones each.
    const sent = Date.now();
    expect((await postArgocd(svc.url, { app: appNamed('loud-a') })).status).toBe(202);
    expect((await postArgocd(replica.url, { app: appNamed('loud-b') })).status).toBe(202);
    for (const [i, name] of SILENCED.entries()) {
      expect((await postArgocd(i % 2 === 0 ? svc.url : replica.url, { app: appNamed(name) })).status).toBe(202);
    }

    await waitFor(() => postsAbout('loud-a').length === 1 && postsAbout('loud-b').length === 1, 60_000, 'the loud apps notified');
    // Not before group_wait (the skewed replica's BullMQ promotes delayed jobs 10 min early).
    for (const name of ['loud-a', 'loud-b']) expect((postsAbout(name)[0]?.at ?? 0) - sent).toBeGreaterThanOrEqual(GROUP_WAIT_MS - 1_000);

    // Every silenced group has had its first flush decided (nothing to tell: silenced).
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    try {
      await waitFor(
        async () => {
          const keys = await redis.keys(groupRedisKey(prefix, '*'));
          const states = await Promise.all(
            keys.map(async (k) => assembleGroup(k.slice(groupRedisKey(prefix, '').length), await redis.hgetall(k)) ?? {}) as Promise<{
              handledFlushSeq?: number;
              labels?: { owner?: { name?: string } };
            }>[],
          );
          const silenced = states.filter((s) => s.labels?.owner?.name?.startsWith('silenced-'));
          return silenced.length === SILENCED.length && silenced.every((s) => (s.handledFlushSeq ?? 0) >= 1);
        },
        60_000,
        'the silenced groups flushed',
      );
    } finally {
      redis.disconnect();
    }
    for (const name of SILENCED) expect(postsAbout(name)).toEqual([]);
    expect(posts()).toHaveLength(2);
  });
});

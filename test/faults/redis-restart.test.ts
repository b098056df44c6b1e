import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody } from '../support/argocd.ts';
import { testPrefix, waitFor } from '../support/redis.ts';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { postArgocd, startService } from '../support/service.ts';

// Issue #8 fault: Redis (with AOF, as production runs it) killed and restarted in the middle of a
// stream of webhooks. Senders retry on 503 as Argo CD's webhook service does. Nothing may be lost,
// nothing sent twice; readiness drops and returns.
const APPS = 20;
let redis: OwnRedis;
let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(`${tmpdir()}/meshdrift-fault-redis-`);
  redis = await startOwnRedis(['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always']);
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  svc = await startService({ redisUrl: redis.url, prefix: testPrefix('fault'), slackUrl: slack.url, env: { MESHDRIFT_GROUP_WAIT: '200ms' } });
});

afterAll(async () => {
  await svc?.stop();
  await slack.close();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Posts until accepted, retrying 503s and connection errors, as a webhook sender does (bounded). */
async function deliver(body: unknown): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const res = await postArgocd(svc?.url ?? '', body).catch(() => null);
    if (res?.status === 202) return attempt;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('webhook never accepted');
}

function appBody(i: number): unknown {
  const body = meshAppBody() as { app: { metadata: { name: string } } };
  body.app.metadata.name = `fault-app-${i}`;
  return body;
}

describe('Redis killed and restarted mid-stream (AOF on)', () => {
  it('loses nothing, sends nothing twice, and readiness drops and returns', async () => {
    const url = svc?.url ?? '';
    // First half, then kill Redis while the rest is being sent.
    for (let i = 0; i < APPS / 2; i++) await deliver(appBody(i));
    await redis.stop();
    let sawNotReady = false;
    const rest = (async () => {
      const retries: number[] = [];
      for (let i = APPS / 2; i < APPS; i++) retries.push(await deliver(appBody(i)));
      return retries;
    })();
    await waitFor(async () => (sawNotReady = (await fetch(`${url}/readyz`)).status === 503), 10_000, '/readyz to drop');
    await new Promise((r) => setTimeout(r, 500));
    await redis.start(); // same port, same AOF directory
    const retries = await rest;
    expect(sawNotReady).toBe(true);
    expect(retries.some((n) => n > 0)).toBe(true); // some senders did hit the outage and retried
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 15_000, '/readyz to return');

    // About one message a second (the shared per-channel Slack rate limit); far more time than that
    // on a loaded machine (37.5 s of a 40 s wait was seen).
    await waitFor(() => slack.messages.size === APPS, 90_000, `${APPS} messages`);
    await new Promise((r) => setTimeout(r, 1500));
    const delivered = [...slack.messages.values()].map((m) => /fault-app-\d+/.exec(JSON.stringify(m.blocks))?.[0]).sort();
    expect(new Set(delivered).size).toBe(APPS); // every incident, once
    // The fake keeps one message per successful post: a duplicate post would make this APPS + 1.
    expect(slack.messages.size).toBe(APPS);
  }, 300_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { readFixture } from '../support/fixtures.ts';
import { testPrefix, waitFor } from '../support/redis.ts';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { postArgocd, startService } from '../support/service.ts';

let redis: OwnRedis;
let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;

beforeAll(async () => {
  redis = await startOwnRedis();
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
});

afterAll(async () => {
  await svc?.stop();
  await slack.close();
  await redis.stop();
});

describe('Redis outage', () => {
  it('readiness and webhooks answer 503 while Redis is down, and recover when it returns', async () => {
    svc = await startService({ redisUrl: redis.url, prefix: testPrefix('outage'), slackUrl: slack.url });
    const url = svc.url;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    await redis.stop();
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 503, 10_000, '/readyz to report Redis down');
    const down = await postArgocd(url, { app: readFixture('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json') });
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    await redis.start();
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 15_000, '/readyz to recover');
    // The sender retries; this time it is tracked and notified.
    const up = await postArgocd(url, { app: readFixture('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json') });
    expect(up.status).toBe(202);
    await waitFor(() => slack.calls.some((c) => c.method === 'chat.postMessage'), 15_000, 'the Slack message after recovery');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/meshdrift_signals_total\{source="argocd-webhook",outcome="unavailable"\} 1/);
  }, 60_000);
});

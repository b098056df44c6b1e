import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createLogger } from '../../src/log.ts';
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { readFixture } from '../support/fixtures.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { ARGOCD_TOKEN, FLUX_KEY, SLACK_TOKEN, postArgocd, startService, stopService } from '../support/service.ts';

// Every secret the service holds in this test. None may appear in a log line, a metric, an API
// answer or a dead letter, whatever fails (Alertmanager's AssertNotifyLeaksNoSecret, service-wide).
const PD_KEY = 'PDSECRETKEY0123456789abcdef01234';
const WEBHOOK_TOKEN = 'hooktoken-SECRET-42';
const HMAC_KEY = 'webhook-hmac-SECRET';
const API_TOKEN = 'api-SECRET-token';
const SECRETS = [SLACK_TOKEN, PD_KEY, WEBHOOK_TOKEN, HMAC_KEY, API_TOKEN, ARGOCD_TOKEN, FLUX_KEY];

let slack: FakeSlack;
let pd: FakePagerDuty;
let hook: Server;
let svc: (App & { url: string }) | undefined;
const prefix = testPrefix('secrets');
let logs = '';

beforeAll(async () => {
  slack = await startFakeSlack({ token: 'xoxb-some-OTHER-token' }); // ours is refused: invalid_auth
  pd = await startFakePagerDuty();
  pd.failNext(10, { status: 400, body: { status: 'invalid event', message: `Event object is invalid: routing_key ${PD_KEY}`, errors: [`bad key ${PD_KEY}`] } });
  // A webhook endpoint that echoes the request URL (with its token) back in an error.
  hook = createServer((req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`no route for ${req.url ?? ''}`);
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const port = (hook.address() as { port: number }).port;
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-secrets-`);
  writeFileSync(
    `${dir}/p.yaml`,
    `receivers:\n  - { name: chat, slack: { channel: "#c" } }\n  - { name: pager, pagerduty: { routing_key_env: PD_KEY } }\n  - { name: hook, webhook: { url_env: HOOK_URL, hmac_key_env: HOOK_KEY } }\nroute:\n  receiver: chat\n  routes:\n    - { receiver: chat, continue: true }\n    - { receiver: pager, continue: true }\n    - { receiver: hook }\n`,
  );
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs += chunk.toString();
      cb();
    },
  });
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    log: createLogger('trace', sink),
    env: {
      MESHDRIFT_POLICY: `${dir}/p.yaml`,
      PD_KEY,
      PAGERDUTY_EVENTS_URL: pd.eventsUrl,
      HOOK_URL: `http://127.0.0.1:${port}/hooks/${WEBHOOK_TOKEN}?token=${WEBHOOK_TOKEN}`,
      HOOK_KEY: HMAC_KEY,
      MESHDRIFT_API_TOKEN: API_TOKEN,
    },
  });
});

afterAll(async () => {
  await stopService(svc, redisUrl(), prefix);
  await slack.close();
  await pd.close();
  await new Promise<void>((resolve) => hook.close(() => resolve()));
});

describe('no secret leaks', () => {
  it('failing deliveries to every receiver leak no token, key or URL into logs, metrics, the API or dead letters', async () => {
    expect((await postArgocd(svc?.url ?? '', { app: readFixture('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json') })).status).toBe(202);
    const auth = { authorization: `Bearer ${API_TOKEN}` };
    await waitFor(
      async () => {
        const body = (await (await fetch(`${svc?.url}/api/v1/deadletters`, { headers: auth })).json()) as { deadLetters: unknown[] };
        return body.deadLetters.length >= 3;
      },
      15_000,
      'three dead letters (slack, pagerduty, webhook)',
    );
    const answers = [
      await (await fetch(`${svc?.url}/api/v1/deadletters`, { headers: auth })).text(),
      await (await fetch(`${svc?.url}/api/v1/alerts`, { headers: auth })).text(),
      await (await fetch(`${svc?.url}/api/v1/alerts/history`, { headers: auth })).text(),
      await (await fetch(`${svc?.url}/metrics`)).text(),
    ];
    expect(logs).toContain('delivery failed permanently');
    // The failures really went through each receiver's error path (so redaction was exercised).
    expect(answers[0]).toMatch(/404/);
    expect(answers[0]).toMatch(/invalid_auth/);
    expect(answers[0]).toMatch(/400/);
    for (const secret of SECRETS) {
      expect(logs, `log leaks ${secret}`).not.toContain(secret);
      for (const answer of answers) expect(answer, `answer leaks ${secret}`).not.toContain(secret);
    }
  });
});

import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

const SIGNING_SECRET = 'slack-signing-SECRET';
const API_TOKEN = 'api-token-at-least-16-chars';

/** A block_actions click as Slack posts it: form-encoded `payload`, v0 signature over the raw body. */
async function click(url: string, user: string, actionId: string, value: string): Promise<Response> {
  const payload = { type: 'block_actions', user: { id: user }, container: { type: 'message' }, actions: [{ action_id: actionId, value, type: 'button' }] };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = String(Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
  return fetch(`${url}/slack/actions`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': signature },
    body,
  });
}

let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let prefix: string;

beforeEach(async () => {
  prefix = testPrefix('slackact');
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    env: { SLACK_SIGNING_SECRET: SIGNING_SECRET, MESHDRIFT_SLACK_ALLOWED_USERS: 'U0ALLOWED', MESHDRIFT_API_TOKEN: API_TOKEN },
  });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  await slack.close();
});

describe('Slack buttons through the service', () => {
  it("the message's Silence 1h button, pressed by an allowed user, silences the incident; others are refused", async () => {
    await postArgocd(svc?.url ?? '', meshAppBody());
    await waitFor(() => slack.messages.size === 1, 10_000, 'the message');
    const blocks = ([...slack.messages.values()][0]?.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string; value?: string }> }>;
    const value = blocks.flatMap((b) => (b.type === 'actions' ? (b.elements ?? []) : [])).find((e) => e.action_id === 'meshdrift.silence.1h')?.value;
    expect(value).toBeDefined();

    const silences = async () =>
      (
        (await (await fetch(`${svc?.url}/api/v1/silences`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as {
          silences: Array<{ createdBy: string }>;
        }
      ).silences;

    expect((await click(svc?.url ?? '', 'U0INTRUDER', 'meshdrift.silence.1h', value ?? '')).status).toBe(200);
    expect((await click(svc?.url ?? '', 'U0ALLOWED', 'meshdrift.silence.1h', value ?? '')).status).toBe(200);
    await waitFor(async () => (await silences()).length === 1, 5000, 'the silence');
    // Both clicks are handled after the 200: give the refused one time to (wrongly) act too.
    await new Promise((r) => setTimeout(r, 500));
    expect((await silences()).map((s) => s.createdBy)).toEqual(['slack:U0ALLOWED']);

    // A forged click is refused before anything is parsed.
    const forged = await fetch(`${svc?.url}/slack/actions`, {
      method: 'POST',
      headers: { 'x-slack-request-timestamp': String(Math.floor(Date.now() / 1000)), 'x-slack-signature': 'v0=00' },
      body: 'payload=%7B%7D',
    });
    expect(forged.status).toBe(401);
  });
});

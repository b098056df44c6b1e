import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody, SYNCED_AT } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdef012345';
const POLICY = `
rules:
  - name: ignore-telemetry
    match: { category: observability }
    ignore: true
receivers:
  - name: chat
    slack: { channel: "#mesh-drift" }
  - name: pager
    pagerduty: { routing_key_env: PD_ROUTING_KEY }
route:
  receiver: chat
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - receiver: chat
`;

let slack: FakeSlack;
let pd: FakePagerDuty;
let svc: (App & { url: string }) | undefined;
let prefix: string;

beforeEach(async () => {
  prefix = testPrefix('policy');
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  pd = await startFakePagerDuty();
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-policy-`);
  writeFileSync(`${dir}/policy.yaml`, POLICY);
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    env: { MESHDRIFT_POLICY: `${dir}/policy.yaml`, PD_ROUTING_KEY: ROUTING_KEY, PAGERDUTY_EVENTS_URL: pd.eventsUrl },
  });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  await slack.close();
  await pd.close();
});

describe('a policy file routes findings to receivers', () => {
  it('critical findings page PagerDuty; the channel gets all; the resolve closes both', async () => {
    expect(svc?.receivers()).toEqual(['chat', 'pager']);
    expect((await postArgocd(svc?.url ?? '', meshAppBody())).status).toBe(202);
    await waitFor(() => slack.messages.size === 1 && pd.alerts.length === 1, 10_000, 'Slack message and PagerDuty alert');

    const [alert] = pd.alerts;
    expect(alert).toMatchObject({ routingKey: ROUTING_KEY, status: 'triggered', severity: 'critical' });
    const trigger = pd.events[0]?.body as { payload: { custom_details: { firing: Array<{ kind: string }> } } };
    // Only what the policy routed to the pager: the two critical security findings.
    expect(trigger.payload.custom_details.firing.map((f) => f.kind).sort()).toEqual(['AuthorizationPolicy', 'PeerAuthentication']);
    const message = JSON.stringify(slack.calls[0]?.args.blocks);
    expect(message).toContain('VirtualService');
    expect(message).toContain('AuthorizationPolicy');

    expect((await postArgocd(svc?.url ?? '', meshAppBody('Synced', SYNCED_AT))).status).toBe(202);
    await waitFor(() => pd.alerts[0]?.status === 'resolved' && slack.calls.some((c) => c.method === 'chat.update'), 10_000, 'both resolved');
    expect(pd.alerts).toHaveLength(1);
    expect(slack.messages.size).toBe(1);
  });

  it('the policy can be reloaded while running', async () => {
    expect(await svc?.reloadPolicy()).toBe(true);
    expect(svc?.receivers()).toEqual(['chat', 'pager']);
  });
});

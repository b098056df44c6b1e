import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody, SYNCED_AT } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

/**
 * Slack buttons through the whole service (issue #6): per-route authorization from the policy
 * (users and a user group), the PagerDuty acknowledge, the one audit trail, and the "who did what"
 * line surviving the next notification's re-render.
 */

const SIGNING_SECRET = 'slack-signing-SECRET';
const API_TOKEN = 'api-token-at-least-16-chars';
const PD_KEY = 'R0UTINGKEY0123456789abcdef012345';

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

interface Record {
  kind: string;
  actor: string;
  action: string;
  outcome: string;
  reason: string;
}

let slack: FakeSlack;
let pd: FakePagerDuty;
let svc: (App & { url: string }) | undefined;
let prefix: string;

beforeEach(async () => {
  prefix = testPrefix('slackroutes');
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  pd = await startFakePagerDuty();
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-slack-routes-`);
  writeFileSync(
    `${dir}/p.yaml`,
    `receivers:
  - { name: chat, slack: { channel: "#mesh-drift" } }
  - { name: oncall, pagerduty: { routing_key_env: PD_KEY, events_url: "${pd.eventsUrl}" } }
route:
  receiver: chat
  group_wait: 100ms
  slack_actions: { allowed: [S0PLATFORM, U0LEAD], actions: [silence, acknowledge] }
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
      continue: true
    - receiver: chat
`,
  );
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    env: {
      MESHDRIFT_POLICY: `${dir}/p.yaml`,
      PD_KEY,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      MESHDRIFT_SLACK_ALLOWED_USERS: 'U0ENVUSER',
      MESHDRIFT_API_TOKEN: API_TOKEN,
    },
  });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  await slack.close();
  await pd.close();
});

const audit = async (): Promise<Record[]> =>
  ((await (await fetch(`${svc?.url}/api/v1/audit`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as { records: Record[] }).records;

function buttonValue(actionId: string): string {
  const blocks = ([...slack.messages.values()][0]?.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string; value?: string }> }>;
  return blocks.flatMap((b) => (b.type === 'actions' ? (b.elements ?? []) : [])).find((e) => e.action_id === actionId)?.value ?? '';
}

describe('Slack buttons, authorized per route', () => {
  it('a user group member acknowledges: PagerDuty acknowledged, audited in the one trail, shown after re-render; others are denied', async () => {
    slack.userGroups.set('S0PLATFORM', ['U0MEMBER', 'U0OTHER']);
    await postArgocd(svc?.url ?? '', meshAppBody());
    await waitFor(() => slack.messages.size === 1, 10_000, 'the Slack message');
    await waitFor(() => pd.alerts.length === 1, 10_000, 'the PagerDuty alert');
    const ack = buttonValue('meshdrift.ack');

    // Not named, not in the group; and the env default does not apply once the route names people.
    expect((await click(svc?.url ?? '', 'U0ENVUSER', 'meshdrift.ack', ack)).status).toBe(200);
    await waitFor(async () => (await audit()).some((r) => r.outcome === 'denied'), 5_000, 'the denied record');
    expect(pd.alerts[0]?.status).toBe('triggered');

    // In the user group: the acknowledge reaches PagerDuty as a job.
    expect((await click(svc?.url ?? '', 'U0MEMBER', 'meshdrift.ack', ack)).status).toBe(200);
    await waitFor(() => pd.alerts[0]?.status === 'acknowledged', 10_000, 'the PagerDuty acknowledge');
    const event = pd.events.find((e) => (e.body as { event_action?: string }).event_action === 'acknowledge')?.body;
    expect(event).toEqual({ routing_key: PD_KEY, event_action: 'acknowledge', dedup_key: pd.alerts[0]?.dedupKey, client: 'meshdrift' });

    // The route allows silence and acknowledge only: a sync is refused even to a named user.
    expect((await click(svc?.url ?? '', 'U0LEAD', 'meshdrift.sync', ack)).status).toBe(200);
    await waitFor(async () => (await audit()).filter((r) => r.outcome === 'denied').length === 2, 5_000, 'the second denied record');

    const records = await audit();
    expect(
      records
        .filter((r) => r.kind === 'slack-action')
        .map((r) => `${r.actor} ${r.action} ${r.outcome}`)
        .sort(),
    ).toEqual(['slack:U0ENVUSER acknowledge denied', 'slack:U0LEAD sync denied', 'slack:U0MEMBER acknowledge performed']);
    expect(records.find((r) => r.kind === 'slack-action' && r.outcome === 'performed')?.reason).toBe('acknowledged (PagerDuty: acknowledging 1 alert)');
    // The acknowledge job's final result is audited too, once.
    await waitFor(async () => (await audit()).some((r) => r.kind !== 'slack-action' && r.outcome === 'performed'), 5_000, 'the acknowledge result');
    expect((await audit()).filter((r) => r.kind !== 'slack-action' && r.outcome === 'performed').map((r) => r.reason)).toEqual([
      expect.stringMatching(/^PagerDuty alert of group [0-9a-f]+ acknowledged through oncall$/),
    ]);
    // The group's members were read once (cached).
    expect(slack.userGroupLookups).toEqual(['S0PLATFORM']);

    // The next notification re-renders the message: the line stays.
    await postArgocd(svc?.url ?? '', meshAppBody('Synced', SYNCED_AT));
    const ts = [...slack.messages.keys()][0] ?? '';
    await waitFor(() => (slack.messages.get(ts)?.updates ?? 0) >= 1, 10_000, 'the re-render');
    const shown = JSON.stringify(slack.messages.get(ts)?.blocks);
    expect(shown).toContain('RESOLVED');
    expect(shown).toContain('Acknowledged by <@U0MEMBER> (PagerDuty: acknowledging 1 alert)');
    expect(shown).not.toContain('meshdrift.ack');
  });

  it('user group lookup failures refuse the click and audit why', async () => {
    // S0PLATFORM is unknown to Slack: usergroups.users.list answers no_such_subteam.
    await postArgocd(svc?.url ?? '', meshAppBody());
    await waitFor(() => slack.messages.size === 1, 10_000, 'the Slack message');
    expect((await click(svc?.url ?? '', 'U0SOMEONE', 'meshdrift.silence.1h', buttonValue('meshdrift.silence.1h'))).status).toBe(200);
    await waitFor(async () => (await audit()).some((r) => r.outcome === 'failed'), 5_000, 'the failed record');
    const failed = (await audit()).find((r) => r.outcome === 'failed');
    expect(failed).toMatchObject({ kind: 'slack-action', action: 'silence', actor: 'slack:U0SOMEONE' });
    expect(failed?.reason).toContain('no_such_subteam');
    const silences = (await (await fetch(`${svc?.url}/api/v1/silences`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as {
      silences: unknown[];
    };
    expect(silences.silences).toEqual([]);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

// Issue #19 item 4: the service draws a button only where its click can work (unit cases:
// test/unit/deliver/slack-buttons.test.ts). Through the real service and the Slack fake.

const SIGNING_SECRET = 'slack-signing-SECRET';

let slack: FakeSlack | undefined;
let svc: (App & { url: string }) | undefined;
let prefix = '';

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  await slack?.close();
  svc = undefined;
});

/** The action ids of the one message the service posts for the demo app, under this environment. */
async function buttonsPosted(env: Record<string, string>): Promise<string[] | undefined> {
  prefix = testPrefix('slackbtn');
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  svc = await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url, env });
  expect((await postArgocd(svc.url, meshAppBody())).status).toBe(202);
  const fake = slack;
  await waitFor(() => fake.messages.size === 1, 15_000, 'the message');
  const blocks = ([...fake.messages.values()][0]?.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string }> }>;
  const actions = blocks.filter((b) => b.type === 'actions');
  expect(actions.length).toBeLessThanOrEqual(1);
  return actions[0]?.elements?.map((e) => e.action_id ?? '');
}

function policyFile(withRemediate: boolean): string {
  const file = `${mkdtempSync(`${tmpdir()}/meshdrift-slack-buttons-`)}/policy.yaml`;
  const remediate = withRemediate
    ? `  - name: fix
    remediate: { action: argocd-sync, argocd: { url: "http://127.0.0.1:9", token_env: FIX_ARGOCD_TOKEN } }\n`
    : '';
  writeFileSync(file, `receivers:\n  - name: chat\n    slack: { channel: "#mesh-drift" }\n${remediate}route: { receiver: chat }\n`);
  return file;
}

describe('Slack buttons only where a click can work, through the service', () => {
  it('without SLACK_SIGNING_SECRET (no /slack/actions endpoint): no actions block at all', async () => {
    expect(await buttonsPosted({ MESHDRIFT_SLACK_ALLOWED_USERS: '*', MESHDRIFT_POLICY: policyFile(true), FIX_ARGOCD_TOKEN: 'tok' })).toBeUndefined();
    expect((await fetch(`${svc?.url}/slack/actions`, { method: 'POST' })).status).toBe(404);
  });

  it('with the signing secret but nobody allowed: none', async () => {
    expect(await buttonsPosted({ SLACK_SIGNING_SECRET: SIGNING_SECRET, MESHDRIFT_POLICY: policyFile(true), FIX_ARGOCD_TOKEN: 'tok' })).toBeUndefined();
  });

  it('with the signing secret and someone allowed, but no remediate receiver: Silence and Acknowledge, no Sync now', async () => {
    expect(await buttonsPosted({ SLACK_SIGNING_SECRET: SIGNING_SECRET, MESHDRIFT_SLACK_ALLOWED_USERS: 'U0ALLOWED' })).toEqual([
      'meshdrift.silence.1h',
      'meshdrift.silence.1d',
      'meshdrift.ack',
    ]);
  });

  it('with a remediate receiver for the Argo CD app too: Sync now as well', async () => {
    expect(
      await buttonsPosted({
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        MESHDRIFT_SLACK_ALLOWED_USERS: 'U0ALLOWED',
        MESHDRIFT_POLICY: policyFile(true),
        FIX_ARGOCD_TOKEN: 'tok',
      }),
    ).toEqual(['meshdrift.sync', 'meshdrift.silence.1h', 'meshdrift.silence.1d', 'meshdrift.ack']);
  });
});

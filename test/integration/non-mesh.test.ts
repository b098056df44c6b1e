import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshApp } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';
import { onlyGroupKey, waitSettled } from '../support/settle.ts';

/**
 * Issue #19 item 5 through the service: a drifted Deployment (not a mesh kind) is tracked and
 * listed by the API but reaches no receiver, unless the policy says notify_non_mesh: true.
 */

type Json = Record<string, unknown>;

/** The mesh app with every resource Synced but its Deployment, which drifted. */
function deploymentDriftBody(): { app: Json } {
  const app = meshApp('Synced') as { status: { sync: { status: string }; resources: Array<{ kind: string; status: string }> } };
  app.status.sync.status = 'OutOfSync';
  app.status.resources = app.status.resources.map((r) => (r.kind === 'Deployment' ? { ...r, status: 'OutOfSync' } : r));
  return { app: app as unknown as Json };
}

function policyFile(extra: string): string {
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-non-mesh-`);
  const file = `${dir}/policy.yaml`;
  writeFileSync(file, `${extra}receivers:\n  - { name: chat, slack: { channel: "#mesh-drift" } }\nroute:\n  receiver: chat\n  group_wait: 200ms\n`);
  return file;
}

let slack: FakeSlack;
let prefix: string;
let svc: (App & { url: string }) | undefined;

beforeEach(async () => {
  prefix = testPrefix('nonmesh');
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await slack.close();
});

describe('non-mesh drift through the service', () => {
  it('is not notified by default, and is listed by /api/v1/alerts and /api/v2/alerts', { timeout: 60_000 }, async () => {
    // No policy file: the built-in policy, Slack from SLACK_BOT_TOKEN and SLACK_CHANNEL.
    svc = await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url });
    const app = svc;
    expect((await postArgocd(app.url, deploymentDriftBody())).status).toBe(202);
    // The group's flush (after group_wait) has run and decided: nothing to tell.
    const groupKey = await onlyGroupKey(app, prefix);
    expect(groupKey).toBeDefined();
    await waitFor(
      async () => {
        const state = await app.store.get(groupKey ?? '');
        return state !== null && state.pendingFlush === null && state.handledFlushSeq > 0;
      },
      20_000,
      'the flush of the Deployment drift',
    );
    await waitSettled(app, { what: 'the flush and any delivery' });
    expect(slack.calls).toEqual([]);

    const v1 = (await (await fetch(`${app.url}/api/v1/alerts`)).json()) as { groups: Array<{ status: string; findings: Array<Record<string, unknown>> }> };
    expect(v1.groups).toHaveLength(1);
    expect(v1.groups[0]?.status).toBe('firing');
    expect(v1.groups[0]?.findings).toEqual([
      expect.objectContaining({ api: 'Deployment.apps', category: 'non-mesh', status: 'firing', unnotified: 'non-mesh', receivers: ['slack'] }),
    ]);
    const v2 = (await (await fetch(`${app.url}/api/v2/alerts`)).json()) as Array<{ labels: Record<string, string>; status: Record<string, unknown> }>;
    expect(v2.map((a) => [a.labels.kind, a.status])).toEqual([
      ['Deployment', { state: 'suppressed', silencedBy: [], inhibitedBy: [], mutedBy: ['meshdrift:non-mesh'] }],
    ]);
    const active = (await (await fetch(`${app.url}/api/v2/alerts?muted=false`)).json()) as unknown[];
    expect(active).toEqual([]);
  });

  it('is notified when the policy says notify_non_mesh: true', { timeout: 60_000 }, async () => {
    svc = await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url, env: { MESHDRIFT_POLICY: policyFile('notify_non_mesh: true\n') } });
    expect((await postArgocd(svc.url, deploymentDriftBody())).status).toBe(202);
    await waitFor(() => slack.messages.size === 1, 20_000, 'the Slack message');
    expect(JSON.stringify([...slack.messages.values()][0]?.blocks)).toContain('payments-v2');
  });
});

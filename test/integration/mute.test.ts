import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, postFlux, startService, stopService } from '../support/service.ts';
import { readFixture } from '../support/fixtures.ts';
import { inhibitSourcesKey } from '../../src/track/keys.ts';
import { Redis } from 'ioredis';

const API_TOKEN = 'api-token-SECRET';
const mainMessage = (slack: FakeSlack) => JSON.stringify([...slack.messages.values()].find((m) => !('threadTs' in m && m.threadTs))?.blocks ?? []);

function policy(extra: string): string {
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-mute-`);
  writeFileSync(
    `${dir}/p.yaml`,
    `receivers:\n  - { name: chat, slack: { channel: "#mesh-drift" } }\nroute:\n  receiver: chat\n  group_wait: 200ms\n  group_interval: 500ms\n${extra}`,
  );
  return `${dir}/p.yaml`;
}

let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let prefix: string;

async function start(extra = ''): Promise<App & { url: string }> {
  svc = await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url, env: { MESHDRIFT_POLICY: policy(extra), MESHDRIFT_API_TOKEN: API_TOKEN } });
  return svc;
}

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${svc?.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json', ...init.headers } });

beforeEach(async () => {
  prefix = testPrefix('mute');
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await slack.close();
});

describe('silences and inhibition through the service', () => {
  it('a silenced finding is tracked but not sent; when the silence ends it is sent', async () => {
    await start();
    const created = await api('/silences', {
      method: 'POST',
      body: JSON.stringify({
        matchers: ['kind="AuthorizationPolicy"', 'namespace="payments"'],
        duration: '1h',
        createdBy: 'sre@example.com',
        comment: 'planned authz change',
      }),
    });
    expect(created.status).toBe(201);
    const silence = (await created.json()) as { id: string };

    await postArgocd(svc?.url ?? '', meshAppBody());
    await waitFor(() => slack.messages.size >= 1, 10_000, 'the message');
    expect(mainMessage(slack)).toContain('VirtualService');
    expect(mainMessage(slack)).not.toContain('payments-allow-frontend');
    const alerts = (await (await api('/alerts')).json()) as { groups: Array<{ findings: Array<{ resource: { kind: string }; silencedBy?: string }> }> };
    expect(alerts.groups[0]?.findings.find((f) => f.resource.kind === 'AuthorizationPolicy')?.silencedBy).toBe(silence.id);

    expect((await api(`/silences/${silence.id}`, { method: 'DELETE' })).status).toBe(200);
    await waitFor(() => mainMessage(slack).includes('payments-allow-frontend'), 10_000, 'the finding after the silence ended');
    const history = (await (await api('/alerts/history?limit=10')).json()) as { notifications: Array<{ reason: string }> };
    expect(history.notifications.map((n) => n.reason)).toEqual(['new-findings', 'first']);
  });

  it('an inhibit rule holds back high findings of an app while it has a critical one', async () => {
    await start(
      `inhibit_rules:\n  - source_matchers: ['severity="critical"']\n    target_matchers: ['severity=~"high|medium"']\n    equal: [cluster, owner]\n`,
    );
    await postArgocd(svc?.url ?? '', meshAppBody());
    await waitFor(() => slack.messages.size >= 1, 10_000, 'the message');
    const text = mainMessage(slack);
    expect(text).toContain('payments-allow-frontend'); // critical: the source
    expect(text).not.toContain('legacy-psp-api'); // medium ServiceEntry: inhibited
    expect(text).not.toContain('VirtualService'); // high: inhibited
  });

  it('a source that resolves by itself (a told Corrected finding) stops inhibiting at once', async () => {
    await start(
      `  resolve_wait: 200ms\ninhibit_rules:\n  - source_matchers: ['severity="high"']\n    target_matchers: ['severity=~"medium|low"']\n    equal: [cluster]\n`,
    );
    // helm-controller reverted an edit by itself: a high Corrected finding, an inhibition source.
    const event = readFixture('flux/synthetic-event-helmrelease-v2-driftdetected-mesh.json') as Record<string, unknown>;
    const corrected = {
      ...event,
      severity: 'info',
      reason: 'DriftCorrected',
      message: 'Cluster state of release bookinfo/bookinfo-mesh.v7 was corrected:\nAuthorizationPolicy/bookinfo/ratings-viewer configured',
    };
    const sources = new Redis(redisUrl());
    try {
      expect((await postFlux(svc?.url ?? '', corrected)).status).toBe(202);
      expect(await sources.hlen(inhibitSourcesKey(prefix))).toBe(1);
      await waitFor(() => mainMessage(slack).includes('ratings-viewer'), 10_000, 'the Corrected finding told');
      // It resolves by itself after it was told: it must not inhibit its cluster's medium and low findings any longer.
      await waitFor(async () => (await sources.hlen(inhibitSourcesKey(prefix))) === 0, 10_000, 'the ended source taken out');
    } finally {
      sources.disconnect();
    }
  });

  it('the API needs its token', async () => {
    await start();
    expect((await fetch(`${svc?.url}/api/v1/alerts`)).status).toBe(401);
    expect((await api('/alerts')).status).toBe(200);
  });
});

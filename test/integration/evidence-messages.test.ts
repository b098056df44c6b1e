import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import type { Signal } from '../../src/model/signal.ts';
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startService, stopService } from '../support/service.ts';
import { startWebhookSink, type WebhookSink } from '../support/webhook-sink.ts';

// Issue #16 part 6 through the real pipeline: a signal carrying what changed and who changed it is
// ingested, grouped, flushed and delivered; Slack, PagerDuty, the webhook and the API each show the
// path, before → after, who (a person and a tool), the Argo CD link, the commit link and the kind
// with its API group (an Istio and a Linkerd AuthorizationPolicy apart).

const SHA = '3f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a098';
const PD_KEY = 'PDKEY0123456789abcdef0123456789ab';
const ARGOCD = 'https://argocd.example.com';
const APP_LINK = `${ARGOCD}/applications/argocd/payments-mesh`;
const COMMIT_LINK = `https://git.corp.example/platform/mesh/istio/-/commit/${SHA}`;
const TOOL = 'changed via kubectl-edit (Update) at 2026-12-04T14:03:07Z (field manager: a tool, not a person)';
const PERSON = 'changed by alice@corp.example via kubectl-edit (UPDATE) at 2026-12-04T14:05:00Z';

let slack: FakeSlack;
let pd: FakePagerDuty;
let hook: WebhookSink;
const hookBodies: string[] = [];
let svc: (App & { url: string }) | undefined;
const prefix = testPrefix('evidence');

function signal(now: number): Signal {
  return {
    source: 'argocd-watch',
    cluster: 'prod-eu-1',
    owner: { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' },
    project: 'mesh-prod',
    destination: { namespace: 'payments' },
    revision: SHA,
    // As the Argo CD source leaves it (credentials dropped), from git@git.corp.example:platform/mesh/istio.git.
    repoURL: 'ssh://git.corp.example/platform/mesh/istio',
    sync: 'OutOfSync',
    observedAt: now,
    completeness: 'snapshot',
    resources: [
      {
        group: 'networking.istio.io',
        kind: 'VirtualService',
        namespace: 'payments',
        name: 'reviews',
        state: 'Modified',
        changes: {
          source: 'argocd-managed-resources',
          changes: [
            { path: 'spec.http[0].route[1].weight', before: '80', after: '50' },
            { path: 'spec.http[0].headers.request.set.authorization', before: 'MASKED', after: 'MASKED', masked: true },
          ],
        },
        attribution: [{ kind: 'tool', who: 'kubectl-edit', operation: 'Update', at: Date.UTC(2026, 11, 4, 14, 3, 7), source: 'managedFields' }],
      },
      {
        group: 'security.istio.io',
        kind: 'AuthorizationPolicy',
        namespace: 'payments',
        name: 'allow-frontend',
        state: 'Modified',
        changes: { source: 'admission', changes: [{ path: 'spec.action', before: '"DENY"', after: '"ALLOW"' }] },
        attribution: [
          { kind: 'person', who: 'alice@corp.example', via: 'kubectl-edit', operation: 'UPDATE', at: Date.UTC(2026, 11, 4, 14, 5, 0), source: 'admission' },
        ],
      },
      { group: 'policy.linkerd.io', kind: 'AuthorizationPolicy', namespace: 'payments', name: 'allow-frontend', state: 'Modified' },
    ],
  };
}

beforeAll(async () => {
  slack = await startFakeSlack();
  pd = await startFakePagerDuty();
  hook = await startWebhookSink({ onBody: (text) => void hookBodies.push(text) });
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-evidence-`);
  writeFileSync(
    `${dir}/p.yaml`,
    `receivers:\n  - { name: chat, slack: { channel: "#c" } }\n  - { name: pager, pagerduty: { routing_key_env: PD_KEY } }\n  - { name: hook, webhook: { url_env: HOOK_URL } }\nroute:\n  receiver: chat\n  routes:\n    - { receiver: chat, continue: true }\n    - { receiver: pager, continue: true }\n    - { receiver: hook }\n`,
  );
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    env: {
      MESHDRIFT_POLICY: `${dir}/p.yaml`,
      PD_KEY,
      PAGERDUTY_EVENTS_URL: pd.eventsUrl,
      HOOK_URL: hook.url,
      ARGOCD_URL: ARGOCD,
      MESHDRIFT_GIT_HOSTS: 'git.corp.example=gitlab',
    },
  });
}, 60_000);

afterAll(async () => {
  await stopService(svc, redisUrl(), prefix);
  await slack.close();
  await pd.close();
  await hook.close();
});

describe('evidence in every message, through ingest → flush → deliver', () => {
  it('Slack, PagerDuty, the webhook and the API show path, before → after, who, the Argo CD and commit links, and kind.group', async () => {
    const outcome = await svc?.ingest(signal(Date.now()));
    expect(outcome).toBeDefined();
    await waitFor(
      () => slack.messages.size >= 1 && pd.events.length >= 1 && hookBodies.length >= 1,
      20_000,
      'a Slack message, a PagerDuty event and a webhook post',
    );

    const slackText = JSON.stringify([...slack.messages.values()][0]?.blocks);
    for (const expected of [
      '`spec.http[0].route[1].weight`: `80` → `50`',
      '`spec.http[0].headers.request.set.authorization`: _changed (value masked)_',
      '`spec.action`: `\\"DENY\\"` → `\\"ALLOW\\"`',
      TOOL,
      PERSON,
      `<${APP_LINK}|open in Argo CD>`,
      `<${COMMIT_LINK}|3f1c2a9e8b7d>`,
      'AuthorizationPolicy.security.istio.io `payments/allow-frontend`',
      'AuthorizationPolicy.policy.linkerd.io `payments/allow-frontend`',
      'VirtualService.networking.istio.io `payments/reviews`',
    ]) {
      expect(slackText, expected).toContain(expected);
    }

    const event = pd.events[0]?.body as { links?: Array<{ href: string }>; payload: { custom_details: { firing: Array<Record<string, unknown>> } } };
    expect(event.links?.map((l) => l.href)).toEqual([APP_LINK, COMMIT_LINK]);
    const vs = event.payload.custom_details.firing.find((d) => d['api'] === 'VirtualService.networking.istio.io');
    expect(vs).toMatchObject({
      changes: {
        changes: [
          { path: 'spec.http[0].route[1].weight', before: '80', after: '50' },
          { path: 'spec.http[0].headers.request.set.authorization', masked: true },
        ],
      },
      changed_by: [{ kind: 'tool', text: TOOL }],
      links: { argocd: APP_LINK, commit: COMMIT_LINK },
    });
    expect(event.payload.custom_details.firing.map((d) => d['api']).sort()).toEqual([
      'AuthorizationPolicy.policy.linkerd.io',
      'AuthorizationPolicy.security.istio.io',
      'VirtualService.networking.istio.io',
    ]);

    const body = JSON.parse(hookBodies[0] ?? '{}') as {
      alerts: Array<{ labels: Record<string, string>; annotations: Record<string, string>; changed_by?: Array<{ kind: string }> }>;
    };
    const authz = body.alerts.find((a) => a.labels['group'] === 'security.istio.io');
    expect(authz?.annotations).toMatchObject({ changes: 'spec.action: "DENY" → "ALLOW"', changed_by: PERSON, argocd_url: APP_LINK, commit_url: COMMIT_LINK });
    expect(authz?.annotations['summary']).toContain('AuthorizationPolicy.security.istio.io payments/allow-frontend');
    expect(authz?.changed_by?.map((a) => a.kind)).toEqual(['person']);

    const api = (await (await fetch(`${svc?.url}/api/v1/alerts`)).json()) as { groups: Array<{ findings: Array<Record<string, unknown>> }> };
    const found = api.groups.flatMap((g) => g.findings).find((f) => f['api'] === 'VirtualService.networking.istio.io');
    expect(found).toMatchObject({
      revision: SHA,
      changes: { source: 'argocd-managed-resources', changes: [{ path: 'spec.http[0].route[1].weight', before: '80', after: '50' }, { masked: true }] },
      changed_by: [{ kind: 'tool', at: '2026-12-04T14:03:07Z', text: TOOL }],
      links: { argocd: APP_LINK, commit: COMMIT_LINK },
    });

    // A masked value is never shown anywhere (the stored placeholder included).
    for (const out of [slackText, JSON.stringify(pd.events), hookBodies.join(''), JSON.stringify(api)]) expect(out).not.toContain('MASKED');
  }, 40_000);
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshApp } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, postFlux, startService, stopService } from '../support/service.ts';

// Issue #19's done-when, through the real service: a message for an Argo CD app (ARGOCD_URL set,
// a GitHub repository) carries working links to the app, the commit and a silence, and the rule's
// runbook, in Slack and in PagerDuty; a Flux one links the commit. "Working": each link is the
// page its target serves for that object, and the silence link's matchers, given to meshdrift's
// silence API as they are, silence exactly that group.

const SHA = '3f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a098';
const FLUX_SHA = '9d8c7b6a5f4e3d2c1b0a99887766554433221100';
const PD_KEY = 'PDKEY0123456789abcdef0123456789ab';
const API_TOKEN = 'api-token-at-least-16-chars';
const ARGOCD = 'https://argocd.example.com';
const PUBLIC = 'https://meshdrift.example.com';
const APP_LINK = `${ARGOCD}/applications/argocd/payments-mesh`;
const COMMIT_LINK = `https://github.com/example/payments-mesh/commit/${SHA}`;
const RUNBOOK = 'https://runbooks.example.com/mesh/';

const POLICY = `
rules:
  - name: mesh runbooks
    match: { mesh: [istio, gateway-api] }
    annotations:
      summary: "{{ .labels.kind }} {{ .labels.namespace }}/{{ .labels.name }} differs from Git"
      runbook_url: "https://runbooks.example.com/mesh/{{ .labels.kind }}"
      team: platform-mesh
receivers:
  - { name: chat, slack: { channel: "#mesh-drift" } }
  - { name: pager, pagerduty: { routing_key_env: PD_KEY } }
route:
  receiver: chat
  routes:
    - { receiver: chat, continue: true }
    - { receiver: pager }
`;

let slack: FakeSlack;
let pd: FakePagerDuty;
let svc: (App & { url: string }) | undefined;
const prefix = testPrefix('msglinks');

beforeAll(async () => {
  slack = await startFakeSlack();
  pd = await startFakePagerDuty();
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-message-links-`);
  writeFileSync(`${dir}/policy.yaml`, POLICY);
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    env: {
      MESHDRIFT_POLICY: `${dir}/policy.yaml`,
      PD_KEY,
      PAGERDUTY_EVENTS_URL: pd.eventsUrl,
      ARGOCD_URL: ARGOCD,
      MESHDRIFT_PUBLIC_URL: PUBLIC,
      MESHDRIFT_API_TOKEN: API_TOKEN,
    },
  });
}, 60_000);

afterAll(async () => {
  await stopService(svc, redisUrl(), prefix);
  await slack.close();
  await pd.close();
});

type Blocks = Array<{ type: string; text?: { text: string }; fields?: Array<{ text: string }> }>;
const blockText = (blocks: unknown): string =>
  ((blocks ?? []) as Blocks).flatMap((b) => [...(b.text ? [b.text.text] : []), ...(b.fields ?? []).map((f) => f.text)]).join('\n');
/** The targets of Slack's `<url|text>` links, entities decoded as Slack does. */
const slackLinks = (text: string): Map<string, string> =>
  new Map([...text.matchAll(/<(https?:[^|>]+)\|([^>]+)>/g)].map((m) => [m[2] ?? '', (m[1] ?? '').replaceAll('&amp;', '&')]));

const api = async (path: string, init: RequestInit = {}): Promise<Response> =>
  fetch(`${svc?.url}${path}`, { ...init, headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json', ...init.headers } });

describe('links an on-call engineer can click (issue #19)', () => {
  it('Argo CD app on GitHub: Slack and PagerDuty link the app, the commit, the runbook and a silence that silences the group', async () => {
    const app = meshApp() as { spec: { source: { repoURL: string } } };
    app.spec.source.repoURL = 'https://github.com/example/payments-mesh.git';
    expect((await postArgocd(svc?.url ?? '', { app })).status).toBe(202);
    await waitFor(() => slack.messages.size >= 1 && pd.events.length >= 1, 20_000, 'the Slack message and the PagerDuty event');

    const message = [...slack.messages.values()][0];
    const text = blockText(message?.blocks);
    const links = slackLinks(text);
    expect(links.get('open in Argo CD')).toBe(APP_LINK);
    expect(links.get('3f1c2a9e8b7d')).toBe(COMMIT_LINK);
    expect(links.get('Runbook')?.startsWith(RUNBOOK)).toBe(true);
    const silence = links.get('Silence this group');
    expect(silence?.startsWith(`${PUBLIC}/ui/silences/new?matcher=`)).toBe(true);
    expect(text).toContain('Team: platform-mesh');
    expect(text).toMatch(/\*[A-Za-z]+ [a-z-]+\/[a-z-]+ differs from Git\*/);

    const event = pd.events.find((e) => (e.body as { event_action?: string }).event_action === 'trigger')?.body as {
      links: Array<{ href: string; text: string }>;
      payload: { custom_details: { annotations?: Record<string, string>; silence_url?: string } };
    };
    const hrefs = event.links.map((l) => l.href);
    expect(hrefs).toContain(APP_LINK);
    expect(hrefs).toContain(COMMIT_LINK);
    expect(hrefs.some((h) => h.startsWith(RUNBOOK))).toBe(true);
    expect(event.payload.custom_details.annotations?.team).toBe('platform-mesh');
    // PagerDuty's group is another route's: its silence link names the same owner.
    expect(event.payload.custom_details.silence_url).toBe(silence);

    // The runbook names the lead finding's kind, URL-encoded into the path.
    expect(new URL(links.get('Runbook') ?? '').pathname).toMatch(/^\/mesh\/[A-Za-z]+$/);

    // The silence link, as the web UI reads it: matchers given to the silence API as they are.
    const matchers = new URL(silence ?? '').searchParams.getAll('matcher');
    // The default group_by (cluster, tool and the owner), as the group is keyed.
    expect(matchers).toEqual(['cluster="test-cluster"', 'owner="payments-mesh"', 'owner_kind="Application"', 'owner_namespace="argocd"', 'tool="argocd"']);
    // The page it opens (meshdrift's web UI, /ui/silences/new) shows those matchers, filled in.
    const target = new URL(silence ?? '');
    const page = await api(`${target.pathname}${target.search}`);
    expect(page.status).toBe(200);
    const form = await page.text();
    for (const m of matchers) expect(form).toContain(m.replaceAll('"', '&quot;'));
    const created = await api('/api/v1/silences', {
      method: 'POST',
      body: JSON.stringify({ matchers, duration: '1h', createdBy: 'oncall@example.com', comment: 'from the Slack link' }),
    });
    expect(created.status).toBe(201);
    const alerts = (await (await api('/api/v1/alerts')).json()) as {
      groups: Array<{ labels: { owner: { name: string } }; findings: Array<{ silencedBy?: string; annotations?: Record<string, string> }> }>;
    };
    const mine = alerts.groups.filter((g) => g.labels.owner.name === 'payments-mesh');
    expect(mine.length).toBeGreaterThan(0);
    for (const g of mine) for (const f of g.findings) expect(f.silencedBy).toBeDefined();
    // The API (and the web UI that reads it) carries each finding's annotations too.
    expect(mine.flatMap((g) => g.findings).every((f) => f.annotations?.runbook_url?.startsWith(RUNBOOK) === true)).toBe(true);
  }, 60_000);

  it('Flux Kustomization with a repoURL: the Slack message links the commit of its revision', async () => {
    const owner = { kind: 'Kustomization', namespace: 'flux-system', name: 'fleet-mesh', apiVersion: 'kustomize.toolkit.fluxcd.io/v1' };
    const revision = `main@sha1:${FLUX_SHA}`;
    const metadata = { revision, repoURL: 'https://github.com/example/fleet.git' };
    const event = (message: string, reason: string, at: string) => ({
      involvedObject: owner,
      severity: 'info',
      timestamp: at,
      message,
      reason,
      reportingController: 'kustomize-controller',
      metadata,
    });
    const now = Date.now();
    // A heartbeat at this revision first: a later "configured" at the same revision is reverted drift, not a rollout.
    const heartbeat = event('Reconciliation finished in 94ms, next run in 10m0s', 'ReconciliationSucceeded', new Date(now - 60_000).toISOString());
    expect((await postFlux(svc?.url ?? '', heartbeat)).status).toBe(202);
    const drift = event('AuthorizationPolicy/payments/deny-all configured', 'Progressing', new Date(now).toISOString());
    expect((await postFlux(svc?.url ?? '', drift)).status).toBe(202);

    const fluxMessage = async () => [...slack.messages.values()].find((m) => blockText(m.blocks).includes('fleet-mesh'));
    await waitFor(async () => (await fluxMessage()) !== undefined, 20_000, 'the Flux message');
    const links = slackLinks(blockText((await fluxMessage())?.blocks));
    expect(links.get(FLUX_SHA.slice(0, 12))).toBe(`https://github.com/example/fleet/commit/${FLUX_SHA}`);
    // No Argo CD link for a Flux owner.
    expect(links.has('open in Argo CD')).toBe(false);
  }, 60_000);
});

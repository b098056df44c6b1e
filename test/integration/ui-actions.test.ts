import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import type { Signal } from '../../src/model/signal.ts';
import { startFakeArgoCd, type FakeArgoCd } from '../fakes/argocd.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody } from '../support/argocd.ts';
import { apiGet, asUser, chromiumMissing, launchBrowser, screenshots, UI_API_TOKEN, UI_ENV, writeUiPolicy } from '../support/browser.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

// Issue #21's actions end to end in a real browser: "Sync now" on an incident makes the fake Argo
// CD record one sync of the drifted resources and the timeline says so (a read-only user has no
// button and gets 403); "Acknowledge" turns into the acknowledged state (until, by) on the incident
// page and the board; a non-mesh finding tracked but not notified is marked and filterable; a
// delivery that failed for good is retried from the Sources page and reaches the fake Slack.

const SYNC_TOKEN = 'argocd-sync-SECRET-ui';

let slack: FakeSlack;
let argocd: FakeArgoCd;
let svc: (App & { url: string }) | undefined;
let browser: Browser;
let alice: BrowserContext;
let bob: BrowserContext;
const prefix = testPrefix('ui-actions');

type Res = { group: string; kind: string; name: string };
const VS = (name: string): Res => ({ group: 'networking.istio.io', kind: 'VirtualService', name });

function appSignal(app: string, resources: Res[]): Signal {
  return {
    source: 'argocd-watch',
    cluster: 'prod-us-1',
    owner: { kind: 'Application', namespace: 'argocd', name: app },
    project: 'default',
    destination: { namespace: app },
    sync: 'OutOfSync',
    observedAt: Date.now(),
    completeness: 'snapshot',
    resources: resources.map((r) => ({ ...r, namespace: app, state: 'Modified' as const })),
  };
}

interface BoardRow {
  groupKey: string;
  status: string;
  because?: string;
  resource: { kind: string; name: string };
}
const api = <T>(path: string): Promise<T> => apiGet<T>(svc?.url ?? '', path);
const rows = async (filter: string): Promise<BoardRow[]> => (await api<{ rows: BoardRow[] }>(`/ui/api/board?filter=${encodeURIComponent(filter)}`)).rows;
const slackText = (): string => JSON.stringify([...slack.messages.values()]);
const incidentUrl = (key: string): string => `${svc?.url}/ui/incidents/${encodeURIComponent(key)}`;

/** The group of `owner` once its first notification went out (its findings `firing` on the board). */
async function notifiedGroup(owner: string): Promise<string> {
  await waitFor(async () => (await rows(`owner="${owner}"`)).some((r) => r.status === 'firing'), 30_000, `${owner} notified`);
  return (await rows(`owner="${owner}"`))[0]?.groupKey ?? '';
}

/** POST from the page itself (same origin, its CSRF cookie and token): the status. */
async function postFromPage(page: Page, ctx: BrowserContext, path: string): Promise<number> {
  const token = (await ctx.cookies()).find((c) => c.name === 'meshdrift-csrf')?.value ?? '';
  expect(token).not.toBe('');
  return page.evaluate(
    async ({ path, token }) => (await fetch(path, { method: 'POST', body: new URLSearchParams({ _csrf: token }), redirect: 'manual' })).status,
    { path, token },
  );
}

/** The service with a Slack receiver at the root and a remediate receiver on no route: it syncs only when asked ("Sync now"). */
function startWith(argocdUrl: string, dryRun: boolean, servicePrefix: string): Promise<App & { url: string }> {
  const policy = writeUiPolicy(
    'ui-actions',
    `receivers:
  - { name: chat, slack: { channel: "#mesh-drift" } }
  - name: auto-sync
    remediate:
      action: argocd-sync
      dry_run: ${dryRun}
      argocd: { url: "${argocdUrl}", token_env: ARGOCD_SYNC_TOKEN }
route:
  receiver: chat
  group_wait: 200ms
  group_interval: 500ms
`,
  );
  return startService({
    redisUrl: redisUrl(),
    prefix: servicePrefix,
    slackUrl: slack.url,
    env: { ...UI_ENV, MESHDRIFT_POLICY: policy, ARGOCD_SYNC_TOKEN: SYNC_TOKEN },
  });
}

beforeAll(async () => {
  slack = await startFakeSlack();
  argocd = await startFakeArgoCd({ token: SYNC_TOKEN });
  svc = await startWith(argocd.url, false, prefix);
  browser = await launchBrowser();
  alice = await asUser(browser, 'alice', ['sre']);
  bob = await asUser(browser, 'bob', ['dev']);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stopService(svc, redisUrl(), prefix);
  await argocd?.close();
  await slack?.close();
});

describe.skipIf(chromiumMissing() && process.env['CI'] !== 'true')('actions on the web page', () => {
  it('"Sync now": the fake Argo CD records one sync of the drifted resources, the timeline shows it; read-only: no button, 403', async () => {
    await postArgocd(svc?.url ?? '', meshAppBody('OutOfSync'));
    const key = await notifiedGroup('payments-mesh');
    expect(argocd.syncs()).toHaveLength(0);

    const ro = await bob.newPage();
    await ro.goto(incidentUrl(key));
    expect(await ro.locator('#sync').count()).toBe(0);
    expect(await postFromPage(ro, bob, `/ui/incidents/${encodeURIComponent(key)}/sync`)).toBe(403);
    await ro.close();
    expect(argocd.syncs()).toHaveLength(0);

    const page = await alice.newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(incidentUrl(key));
    await page.click('#sync');
    await page.waitForURL(/done=sync$/);
    expect(await page.locator('.notice').textContent()).toContain('Sync requested');
    await waitFor(() => argocd.syncs().length === 1, 20_000, 'the sync at the fake Argo CD');
    const body = argocd.syncs()[0]?.body as { resources: Array<{ kind: string; name: string }>; dryRun?: boolean };
    const drifted = (await rows(`owner="payments-mesh"`)).map((r) => `${r.resource.kind}/${r.resource.name}`);
    const synced = body.resources.map((r) => `${r.kind}/${r.name}`).sort();
    expect(synced).toEqual(['AuthorizationPolicy/payments-allow-frontend', 'PeerAuthentication/default', 'VirtualService/payments']);
    for (const r of synced) expect(drifted).toContain(r);
    expect(body.dryRun).not.toBe(true);
    await page.goto(incidentUrl(key));
    const remediation = page.locator('#timeline li[data-kind="remediation"]');
    await expect.poll(() => remediation.count()).toBeGreaterThan(0);
    const line = (await remediation.allTextContents()).join('\n');
    expect(line).toContain('remediation argocd-sync');
    expect(line).toContain('by web:alice');
    await screenshots(page, 'incident-synced');
    await page.close();
    expect(argocd.syncs()).toHaveLength(1);
  }, 120_000);

  it('"Acknowledge" gives way to "acknowledged (until …, by …)" on the incident page and on the board', async () => {
    await svc?.ingest(appSignal('ack-app', [VS('ack-vs')]));
    const key = await notifiedGroup('ack-app');
    const page = await alice.newPage();
    await page.goto(incidentUrl(key));
    expect(await page.locator('#ack-state').count()).toBe(0);
    await page.click('#ack');
    await page.waitForURL(/done=ack$/);
    expect(await page.locator('#ack').count()).toBe(0);
    const state = (await page.locator('#ack-state').textContent()) ?? '';
    expect(state).toMatch(/^acknowledged \(until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ, by alice\)$/);
    await screenshots(page, 'incident-acknowledged');
    await page.goto(`${svc?.url}/ui/?filter=${encodeURIComponent('owner="ack-app"')}`);
    const cell = (await page.locator('#board tbody tr[data-fingerprint]').first().textContent()) ?? '';
    expect(cell).toContain('acknowledged');
    expect(cell).toContain('by alice');
    await screenshots(page, 'board-acknowledged');
    await page.close();
  }, 90_000);

  it('a non-mesh finding tracked but not notified is marked on the board and the incident page, and filterable', async () => {
    await svc?.ingest(appSignal('mixed-app', [VS('mixed-vs'), { group: 'apps', kind: 'Deployment', name: 'mixed-deploy' }]));
    const key = await notifiedGroup('mixed-app');
    await waitFor(() => slackText().includes('mixed-vs'), 20_000, 'the mixed-app message');
    expect(slackText()).not.toContain('mixed-deploy');
    const all = await rows('owner="mixed-app"');
    expect(Object.fromEntries(all.map((r) => [r.resource.name, r.status]))).toEqual({ 'mixed-vs': 'firing', 'mixed-deploy': 'not-notified' });

    const page = await alice.newPage();
    await page.goto(`${svc?.url}/ui/?filter=${encodeURIComponent('owner="mixed-app"')}`);
    await page.locator('.counts details', { hasText: 'status' }).locator('a', { hasText: 'not-notified' }).click();
    await page.waitForURL(/status%3D%22not-notified%22/);
    const shown = page.locator('#board tbody tr[data-fingerprint]');
    expect(await shown.count()).toBe(1);
    const text = (await shown.first().textContent()) ?? '';
    expect(text).toContain('mixed-deploy');
    expect(text).toContain('tracked, not notified: non-mesh');
    await screenshots(page, 'board-not-notified');
    await page.goto(incidentUrl(key));
    const marked = page.locator('.finding', { has: page.locator('.unnotified') });
    expect(await marked.count()).toBe(1);
    expect(await marked.textContent()).toContain('mixed-deploy');
    await screenshots(page, 'incident-not-notified');
    await page.close();
  }, 90_000);

  it('a dead letter is retried from the Sources page by a writer, and the fake Slack gets it', async () => {
    slack.failNextMatching((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args).includes('dead-app'), { slackError: 'channel_not_found' });
    await svc?.ingest(appSignal('dead-app', [VS('dead-vs')]));
    type Dead = { deadLetters: Array<{ id: string; groupKey: string | null; reason: string }> };
    await waitFor(async () => (await api<Dead>('/api/v1/deadletters')).deadLetters.length === 1, 30_000, 'the dead letter');
    const [dead] = (await api<Dead>('/api/v1/deadletters')).deadLetters;
    expect(dead?.reason).toContain('channel_not_found');
    expect(slackText()).not.toContain('dead-vs');

    const ro = await bob.newPage();
    await ro.goto(`${svc?.url}/ui/sources`);
    expect(await ro.locator('#dead-letters tbody tr').count()).toBe(1);
    expect(await ro.locator('#dead-letters button', { hasText: 'Retry' }).count()).toBe(0);
    expect(await postFromPage(ro, bob, `/ui/deadletters/${encodeURIComponent(dead?.id ?? '')}/retry`)).toBe(403);
    await ro.close();

    const page = await alice.newPage();
    await page.goto(`${svc?.url}/ui/sources`);
    await screenshots(page, 'sources-dead-letter');
    await page.locator('#dead-letters button', { hasText: 'Retry' }).click();
    await page.waitForURL(/done=retried$/);
    expect(await page.locator('.notice').textContent()).toContain('put back in its queue');
    await waitFor(() => slackText().includes('dead-vs'), 30_000, 'the retried message at the fake Slack');
    expect((await api<Dead>('/api/v1/deadletters')).deadLetters).toEqual([]);
    await page.goto(`${svc?.url}/ui/sources`);
    expect(await page.locator('#dead-letters').count()).toBe(0);
    await page.close();
  }, 120_000);
});

describe.skipIf(chromiumMissing() && process.env['CI'] !== 'true')('"Sync now" under a dry-run remediate receiver', () => {
  let dry: (App & { url: string }) | undefined;
  let dryArgocd: FakeArgoCd;
  const dryPrefix = testPrefix('ui-actions-dry');

  beforeAll(async () => {
    dryArgocd = await startFakeArgoCd({ token: SYNC_TOKEN });
    dry = await startWith(dryArgocd.url, true, dryPrefix);
  }, 60_000);

  afterAll(async () => {
    await stopService(dry, redisUrl(), dryPrefix);
    await dryArgocd?.close();
  });

  it('the page says dry-run, the fake Argo CD gets no sync, and the timeline has the dry-run outcome', async () => {
    await postArgocd(dry?.url ?? '', meshAppBody('OutOfSync'));
    const board = async () =>
      (
        (await (
          await fetch(`${dry?.url}/ui/api/board?filter=${encodeURIComponent('owner="payments-mesh"')}`, {
            headers: { authorization: `Bearer ${UI_API_TOKEN}` },
          })
        ).json()) as { rows: BoardRow[] }
      ).rows;
    await waitFor(async () => (await board()).some((r) => r.status === 'firing'), 30_000, 'payments-mesh notified');
    const key = (await board())[0]?.groupKey ?? '';
    const page = await alice.newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${dry?.url}/ui/incidents/${encodeURIComponent(key)}`);
    await page.click('#sync');
    await page.waitForURL(/done=sync-dry-run$/);
    expect(await page.locator('.notice').textContent()).toContain('Sync requested in dry-run');
    const line = (await page.locator('#timeline li[data-kind="remediation"]').allTextContents()).join('\n');
    expect(line).toContain('remediation argocd-sync (dry run): dry-run');
    expect(line).toContain('by web:alice');
    await screenshots(page, 'incident-sync-dry-run');
    await page.close();
    expect(dryArgocd.syncs()).toHaveLength(0);
  }, 120_000);
});

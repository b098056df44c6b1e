import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import type { Signal } from '../../src/model/signal.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody } from '../support/argocd.ts';
import { apiGet, asUser, chromiumMissing, launchBrowser, screenshots, UI_ENV, writeUiPolicy } from '../support/browser.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

// Issue #21 in a real browser (Debian's Chromium through playwright-core): the board shows a drift
// posted to the webhook, a filter narrows it, a resource named <script> is only text, the incident
// page shows the change list and the timeline; History and Sources render. Screenshots of each view
// at 1280 and 390 px go to test-results/ui/.

const SCRIPT_NAME = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let browser: Browser;
let alice: BrowserContext;
const prefix = testPrefix('ui-board');

function evidenceSignal(now: number, sync: 'OutOfSync' | 'Synced' = 'OutOfSync'): Signal {
  return {
    source: 'argocd-watch',
    cluster: 'prod-eu-1',
    owner: { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' },
    project: 'mesh-prod',
    destination: { namespace: 'payments' },
    revision: '3f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a098',
    repoURL: 'https://github.com/example/mesh',
    sync,
    observedAt: now,
    completeness: 'snapshot',
    resources:
      sync === 'Synced'
        ? []
        : [
            {
              group: 'security.istio.io',
              kind: 'AuthorizationPolicy',
              namespace: 'payments',
              name: 'allow-frontend',
              state: 'Modified',
              changes: { source: 'admission', changes: [{ path: 'spec.action', before: '"DENY"', after: '"ALLOW"' }] },
              attribution: [{ kind: 'person', who: 'alice@corp.example', via: 'kubectl-edit', operation: 'UPDATE', at: now - 60_000, source: 'admission' }],
            },
          ],
  };
}

function scriptSignal(now: number): Signal {
  return {
    source: 'argocd-watch',
    cluster: 'prod-eu-1',
    owner: { kind: 'Application', namespace: 'argocd', name: 'evil-app' },
    project: 'default',
    destination: {},
    sync: 'OutOfSync',
    observedAt: now,
    completeness: 'snapshot',
    resources: [{ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'evil', name: SCRIPT_NAME, state: 'Modified' }],
  };
}

const api = (path: string): Promise<unknown> => apiGet(svc?.url ?? '', `/ui/api${path}`);

beforeAll(async () => {
  slack = await startFakeSlack();
  const policy = writeUiPolicy('ui-board');
  svc = await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url, env: { ...UI_ENV, MESHDRIFT_POLICY: policy } });
  browser = await launchBrowser();
  alice = await asUser(browser, 'alice', ['sre']);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stopService(svc, redisUrl(), prefix);
  await slack?.close();
});

describe.skipIf(chromiumMissing() && process.env['CI'] !== 'true')('the web page in Chromium', () => {
  it('the board shows the drift posted to the webhook, and a filter narrows it', async () => {
    expect((await postArgocd(svc?.url ?? '', meshAppBody())).status).toBe(202);
    await waitFor(() => slack.messages.size >= 1, 20_000, 'the Slack message');
    const page = await alice.newPage();
    const res = await page.goto(`${svc?.url}/ui/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res?.headers()['x-content-type-options']).toBe('nosniff');
    const board = page.locator('#board tbody');
    await expect.poll(() => board.textContent()).toContain('payments-allow-frontend');
    expect(await board.textContent()).toContain('VirtualService');
    const before = await page.locator('#board tbody tr[data-fingerprint]').count();
    expect(before).toBeGreaterThan(1);
    await screenshots(page, 'board');

    // A count in the filter bar is a link that adds the filter.
    await page.locator('.counts summary', { hasText: /^kind$/ }).click();
    await page
      .locator('.counts a', { hasText: /^AuthorizationPolicy$/ })
      .first()
      .click();
    await page.waitForURL(/filter=/);
    const after = page.locator('#board tbody tr[data-fingerprint]');
    expect(await after.count()).toBeLessThan(before);
    for (const text of await after.allTextContents()) expect(text).toContain('AuthorizationPolicy');
    expect(await page.locator('.chips').textContent()).toContain('kind="AuthorizationPolicy"');
    // A filter typed as an Alertmanager matcher narrows further.
    await page.fill('#filter-input', 'name="payments-allow-frontend"');
    await page.click('.filters form.add button[type="submit"]');
    await expect.poll(() => page.locator('#board tbody tr[data-fingerprint]').count()).toBe(1);
    await screenshots(page, 'board-filtered');
    await page.close();
  }, 60_000);

  it('a resource named <script> renders as text: no script runs, no dialog opens', async () => {
    await svc?.ingest(scriptSignal(Date.now()));
    const page = await alice.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${svc?.url}/ui/?filter=${encodeURIComponent('owner="evil-app"')}`);
    await expect.poll(() => page.locator('#board tbody').textContent()).toContain(SCRIPT_NAME);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('#board tbody script, #board tbody img').count()).toBe(0);
    await page.click('#board tbody tr.owner a');
    await page.waitForURL(/\/ui\/incidents\//);
    expect(await page.locator('.findings').textContent()).toContain(SCRIPT_NAME);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    await page.close();
  });

  it('the incident page shows the change list, who changed it, and the timeline; Acknowledge adds to it', async () => {
    await svc?.ingest(evidenceSignal(Date.now()));
    await waitFor(() => [...slack.messages.values()].some((m) => JSON.stringify(m).includes('payments-mesh')), 20_000, 'the payments-mesh message');
    const page = await alice.newPage();
    await page.goto(`${svc?.url}/ui/?filter=${encodeURIComponent('owner="payments-mesh"')}&filter=${encodeURIComponent('cluster="prod-eu-1"')}`);
    await page.click('#board tbody tr.owner a');
    await page.waitForURL(/\/ui\/incidents\//);
    await expect.poll(async () => page.locator('#timeline').textContent()).toContain('notification #1 sent');
    const findings = await page.locator('.findings').textContent();
    expect(findings).toContain('spec.action');
    expect(findings).toContain('"DENY"');
    expect(findings).toContain('"ALLOW"');
    expect(findings).toContain('changed by alice@corp.example via kubectl-edit');
    expect(await page.locator('#timeline').textContent()).toContain('first seen');
    expect(await page.locator('.links a', { hasText: 'commit' }).getAttribute('href')).toContain('github.com/example/mesh/commit/3f1c2a9e');
    await page.click('#ack');
    await page.waitForURL(/\/ui\/incidents\//);
    await expect.poll(() => page.locator('#timeline').textContent()).toMatch(/silence \S+ created/);
    expect(await page.locator('#timeline').textContent()).toContain('Acknowledged: alice');
    // The click is in the audit trail too, as who pressed what.
    expect(await page.locator('#timeline').textContent()).toContain('web page acknowledge');
    expect(await page.locator('#timeline').textContent()).toContain('by web:alice');
    await screenshots(page, 'incident');

    // The board says acknowledged (a short silence), not firing.
    const board = (await api(`/board?filter=${encodeURIComponent('owner="payments-mesh"')}&filter=${encodeURIComponent('cluster="prod-eu-1"')}`)) as {
      rows: Array<{ status: string }>;
    };
    expect(board.rows.map((r) => r.status)).toEqual(['acknowledged']);
    await page.close();
  }, 60_000);

  it('History lists the resolved incident with its time to resolve; Sources shows the last signal per source and cluster', async () => {
    // Resolve payments-mesh: the Synced snapshot; the resolve notification is the end of the incident.
    await svc?.ingest(evidenceSignal(Date.now(), 'Synced'));
    await waitFor(async () => ((await api('/history?days=1')) as { resolved: number }).resolved >= 1, 20_000, 'the resolved incident in the history');
    const page = await alice.newPage();
    await page.goto(`${svc?.url}/ui/history?q=payments-mesh`);
    expect(await page.locator('#history').textContent()).toContain('payments-mesh');
    expect(await page.locator('#by-app').textContent()).toContain('payments-mesh');
    expect(await page.locator('#by-author').textContent()).toContain('alice@corp.example');
    await screenshots(page, 'history');
    // The resolved incident's page keeps its timeline.
    await page.click('#history a');
    await expect.poll(() => page.locator('#timeline').textContent()).toContain('resolved');
    await page.goto(`${svc?.url}/ui/sources`);
    const sources = await page.locator('#last-signals').textContent();
    expect(sources).toContain('argocd-webhook');
    expect(sources).toContain('argocd-watch');
    expect(sources).toContain('prod-eu-1');
    await screenshots(page, 'sources');
    await page.close();
  }, 60_000);
});

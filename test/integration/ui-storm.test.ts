import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import type { Signal } from '../../src/model/signal.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { apiGet, asUser, chromiumMissing, launchBrowser, screenshots, UI_ENV, writeUiPolicy } from '../support/browser.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startService, stopService } from '../support/service.ts';

// Issue #21: a drift storm (deliver/storm.ts) is one line on the board that opens on its groups,
// and links to the board opened on the storm, every finding of it one by one.

let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let browser: Browser;
let alice: BrowserContext;
const prefix = testPrefix('ui-storm');
const APPS = 6;

function appSignal(i: number): Signal {
  return {
    source: 'argocd-watch',
    cluster: 'prod-storm',
    owner: { kind: 'Application', namespace: 'argocd', name: `storm-app-${i}` },
    project: 'default',
    destination: { namespace: `ns-${i}` },
    revision: 'abc1234',
    sync: 'OutOfSync',
    observedAt: Date.now(),
    completeness: 'snapshot',
    resources: [{ group: 'networking.istio.io', kind: 'VirtualService', namespace: `ns-${i}`, name: `vs-${i}`, state: 'Modified' }],
  };
}

beforeAll(async () => {
  slack = await startFakeSlack();
  const policy = writeUiPolicy('ui-storm');
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    env: { ...UI_ENV, MESHDRIFT_POLICY: policy, MESHDRIFT_STORM_THRESHOLD: '3', MESHDRIFT_STORM_WINDOW: '10s' },
  });
  browser = await launchBrowser();
  alice = await asUser(browser, 'alice', ['sre']);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stopService(svc, redisUrl(), prefix);
  await slack?.close();
});

describe.skipIf(chromiumMissing() && process.env['CI'] !== 'true')('a drift storm on the board', () => {
  it('is one line that opens, and links to the board of its groups', async () => {
    for (let i = 0; i < APPS; i++) await svc?.ingest(appSignal(i));
    const storms = async () => (await apiGet<{ storms: Array<{ groups: number }> }>(svc?.url ?? '', '/ui/api/board')).storms;
    await waitFor(async () => ((await storms())[0]?.groups ?? 0) >= 3, 30_000, 'a storm on the board');
    const page = await alice.newPage();
    await page.goto(`${svc?.url}/ui/`);
    const line = page.locator('details.storm');
    expect(await line.count()).toBe(1);
    const folded = (await storms())[0]?.groups ?? 0;
    // Folded: its groups are not rows of the table.
    expect(await page.locator('#board tbody tr.owner').count()).toBe(APPS - folded);
    expect(await line.locator('li').first().isVisible()).toBe(false);
    // The filter bar still counts every finding, folded or not.
    expect(await page.locator('.counts details', { hasText: 'cluster' }).locator('li').first().textContent()).toContain(`prod-storm ${APPS}`);
    await line.locator('summary').click();
    expect(await line.locator('li').count()).toBe(folded);
    expect(await line.locator('li').first().isVisible()).toBe(true);
    await screenshots(page, 'board-storm');
    await line.locator('a', { hasText: 'Show all' }).click();
    await page.waitForURL(/storm=/);
    expect(await page.locator('#board tbody tr.owner').count()).toBe(folded);
    expect(await page.locator('#board-summary').textContent()).toContain('storm');
    await page.close();
  }, 60_000);
});

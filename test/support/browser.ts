import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/**
 * Debian's Chromium (/usr/bin/chromium, `apt-get install chromium`; .ci/install-packages) driven by
 * playwright-core, headless. No browser is downloaded: playwright-core ships none. Override the
 * path with CHROMIUM_PATH.
 */
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Where the UI tests put their screenshots (gitignored). */
export const SCREENSHOTS = 'test-results/ui';

export function chromiumMissing(): boolean {
  return !existsSync(CHROMIUM);
}

export async function launchBrowser(): Promise<Browser> {
  // --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** A browser context as the authenticating proxy would forward it: user and groups headers on every request. */
export function asUser(browser: Browser, user: string, groups: string[], width = 1280): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width, height: 900 },
    extraHTTPHeaders: { 'x-forwarded-user': user, 'x-forwarded-groups': groups.join(',') },
  });
}

/** Screenshots of the page at desktop (1280) and narrow (390) widths, full height. */
export async function screenshots(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: `${SCREENSHOTS}/${name}-${width}.png`, fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

/** The service env the UI tests run with: the API behind its token, the proxy on loopback, writers in group `sre`. */
export const UI_API_TOKEN = 'ui-api-token-SECRET';
export const UI_ENV: Record<string, string> = {
  MESHDRIFT_API_TOKEN: UI_API_TOKEN,
  MESHDRIFT_UI_TRUSTED_PROXIES: '127.0.0.1,::1',
  MESHDRIFT_UI_WRITERS: 'group:sre',
};

/** The policy the UI tests run with unless they need more: one Slack receiver at the root, short timers. */
export const UI_POLICY =
  'receivers:\n  - { name: chat, slack: { channel: "#mesh-drift" } }\nroute:\n  receiver: chat\n  group_wait: 200ms\n  group_interval: 500ms\n';

/** Writes a policy into a temp directory of its own; the file's path (for MESHDRIFT_POLICY). */
export function writeUiPolicy(name: string, yaml: string = UI_POLICY): string {
  const file = join(mkdtempSync(join(tmpdir(), `meshdrift-${name}-`)), 'p.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** GET a JSON view of the service with the API token, as a script would. */
export async function apiGet<T>(baseUrl: string, path: string): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${UI_API_TOKEN}` } });
  return (await res.json()) as T;
}

// node bench/ui-board.ts (npm run bench:ui): the web page's board (issue #21) at 10,000 active
// findings, in Debian's Chromium (/usr/bin/chromium, headless, through playwright-core). Printed,
// never asserted.
// - the service in-process (test/support/service.ts) on the Redis of REDIS_URL (default
//   127.0.0.1:6379) under a prefix of its own, deleted at the end; BENCH_APPS apps (default 500) of
//   BENCH_RESOURCES drifted resources each (default 20) in 5 clusters, ingested as snapshots;
// - server: GET /ui/api/board and GET /ui/ (the HTML), BENCH_RUNS times each (default 10): median
//   and worst wall time; the HTML's size;
// - browser: one tab navigated RUNS times, from navigation start to the load event (the page has no
//   script that renders: this is parsing, style and layout of what the server sent), and from a
//   click on a filter value to the narrowed page's load; the board's DOM size. For the default view
//   (the storms those apps make folded into one line each), the same with every finding one by one
//   (?expand=storms, 100 rows a page), and the largest page (?expand=storms&limit=500).
// BENCH_DEBUG=1 prints each navigation's whole timing entry.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Page } from 'playwright-core';
import type { Signal } from '../src/model/signal.ts';
import { launchBrowser, UI_API_TOKEN, UI_ENV } from '../test/support/browser.ts';
import { waitFor } from '../test/support/redis.ts';
import { startService, stopService } from '../test/support/service.ts';
import { startWebhookSink } from '../test/support/webhook-sink.ts';

const APPS = Number(process.env.BENCH_APPS ?? 500);
const RESOURCES = Number(process.env.BENCH_RESOURCES ?? 20);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const KINDS = [
  ['networking.istio.io', 'VirtualService'],
  ['networking.istio.io', 'DestinationRule'],
  ['security.istio.io', 'AuthorizationPolicy'],
  ['gateway.networking.k8s.io', 'HTTPRoute'],
] as const;

function signal(app: number): Signal {
  return {
    source: 'argocd-watch',
    cluster: `prod-${app % 5}`,
    owner: { kind: 'Application', namespace: 'argocd', name: `app-${app}` },
    project: `team-${app % 12}`,
    destination: { namespace: `ns-${app}` },
    sync: 'OutOfSync',
    observedAt: Date.now(),
    completeness: 'snapshot',
    resources: Array.from({ length: RESOURCES }, (_, i) => {
      const [group, kind] = KINDS[i % KINDS.length] ?? KINDS[0];
      return { group, kind, namespace: `ns-${app}`, name: `res-${app}-${i}`, state: 'Modified' as const };
    }),
  };
}

const stats = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${(s[Math.floor(s.length / 2)] ?? 0).toFixed(0)} ms, worst ${(s[s.length - 1] ?? 0).toFixed(0)} ms`;
};

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

/** Navigation start to the load event, as the page measured it. */
// Evaluated in the page (as text: this file is type-checked without the DOM library).
const loadMs = (page: Page): Promise<number> =>
  page.evaluate<number>(`(() => { const nav = performance.getEntriesByType('navigation')[0]; return nav ? nav.loadEventEnd - nav.startTime : NaN; })()`);
/** The browser's own share: from the last byte of the answer to the load event (parse, style, layout). */
const renderMs = (page: Page): Promise<number> =>
  page.evaluate<number>(`(() => { const nav = performance.getEntriesByType('navigation')[0]; return nav ? nav.loadEventEnd - nav.responseEnd : NaN; })()`);
const domElements = (page: Page): Promise<number> => page.evaluate<number>(`document.getElementsByTagName('*').length`);

const redisUrl = (): string => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function main(): Promise<void> {
  const prefix = `meshdrift-bench-ui-${process.pid}`;
  const sink = await startWebhookSink();
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-bench-ui-`);
  writeFileSync(`${dir}/p.yaml`, `receivers:\n  - { name: hook, webhook: { url_env: HOOK_URL } }\nroute:\n  receiver: hook\n`);
  console.log(
    `load average ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${(await import('node:os')).cpus().length} cores`,
  );
  const svc = await startService({ redisUrl: redisUrl(), prefix, env: { ...UI_ENV, MESHDRIFT_POLICY: `${dir}/p.yaml`, HOOK_URL: sink.url } });
  const auth = { authorization: `Bearer ${UI_API_TOKEN}` };
  try {
    const t0 = performance.now();
    const next = { app: 0 };
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next.app < APPS) await svc.ingest(signal(next.app++));
      }),
    );
    const total = APPS * RESOURCES;
    await waitFor(
      async () => ((await (await fetch(`${svc.url}/ui/api/board?limit=1`, { headers: auth })).json()) as { total: number }).total >= total,
      120_000,
      `${total} findings on the board`,
    );
    console.log(`${total} findings in ${APPS} groups ingested in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    for (const [name, path] of [
      ['api/v1/alerts (the same groups, for comparison)', '/api/v1/alerts'],
      ['api/board', '/ui/api/board'],
      ['HTML /ui/', '/ui/'],
      ['HTML ?expand=storms', '/ui/?expand=storms'],
      ['HTML ?expand=storms&limit=500', '/ui/?expand=storms&limit=500'],
    ] as const) {
      const times: number[] = [];
      const parts = new Map<string, number[]>();
      let bytes = 0;
      for (let i = 0; i < RUNS; i++) {
        times.push(
          await timed(async () => {
            const res = await fetch(`${svc.url}${path}`, { headers: auth });
            bytes = (await res.arrayBuffer()).byteLength;
            // Server-Timing: read (Redis and the stores), build (filter, count, page), render (HTML).
            for (const m of (res.headers.get('server-timing') ?? '').matchAll(/(\w+);dur=([\d.]+)/g)) {
              parts.set(m[1] ?? '', [...(parts.get(m[1] ?? '') ?? []), Number(m[2])]);
            }
          }),
        );
      }
      const split = [...parts.entries()].map(([k, v]) => `${k} ${stats(v)}`).join('; ');
      console.log(`server ${name}: ${stats(times)}, ${(bytes / 1024).toFixed(0)} KiB${split === '' ? '' : ` (${split})`}`);
    }

    const browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, extraHTTPHeaders: auth });
    for (const [name, path] of [
      ['board (storms folded)', '/ui/'],
      ['board ?expand=storms (100 rows)', '/ui/?expand=storms'],
      ['board ?expand=storms&limit=500', '/ui/?expand=storms&limit=500'],
    ] as const) {
      const loads: number[] = [];
      const renders: number[] = [];
      const walls: number[] = [];
      let nodes = 0;
      // One tab, navigated again each run (a new tab would start a renderer process each time,
      // which on a loaded machine competes with the server for the same cores).
      const page = await context.newPage();
      for (let i = 0; i < RUNS; i++) {
        walls.push(await timed(() => page.goto(`${svc.url}${path}`, { waitUntil: 'load' })));
        loads.push(await loadMs(page));
        renders.push(await renderMs(page));
        nodes = await domElements(page);
        if (process.env.BENCH_DEBUG === '1') console.log(await page.evaluate<string>(`JSON.stringify(performance.getEntriesByType('navigation')[0])`));
      }
      await page.close();
      console.log(
        `chromium ${name}: navigation to load ${stats(loads)}, of which answer received to load ${stats(renders)}; goto wall ${stats(walls)}; ${nodes} DOM elements`,
      );
    }
    // A filter: click a severity value, wait for the narrowed page.
    const clicks: number[] = [];
    const page = await context.newPage();
    for (let i = 0; i < RUNS; i++) {
      await page.goto(`${svc.url}/ui/?expand=storms`);
      clicks.push(
        await timed(() =>
          Promise.all([
            page.waitForURL(/filter=/, { waitUntil: 'load' }),
            page
              .locator('.counts a', { hasText: /^critical$/ })
              .first()
              .click(),
          ]),
        ),
      );
    }
    await page.close();
    console.log(`chromium filter click (severity="critical") to the narrowed page loaded: ${stats(clicks)}`);
    await browser.close();
  } finally {
    await stopService(svc, redisUrl(), prefix);
    await sink.close();
  }
}

await main();

// Argo CD API polling figures (issue #5): one poll of N realistic Applications (bench/argocd-apps.ts,
// Argo CD 3.x shape, 1 in 50 Degraded with its health only in the resource tree) served by the fake
// Argo CD API server on 127.0.0.1: answer size, time to list and parse, resource trees read, and the
// whole poll up to the ingest (a counting ingest: the tracker's cost is bench/ingest.ts's).
// Printed, never asserted.   node bench/argocd-poll.ts [apps] [resources-per-app]
import { createLogger } from '../src/log.ts';
import { createArgoCdApi } from '../src/sources/argocd/api.ts';
import { startArgoCdPoller } from '../src/sources/argocd/poller.ts';
import type { Ingest } from '../src/track/ingest.ts';
import { startFakeArgoCd } from '../test/fakes/argocd.ts';
import { isDegraded, makeApplication } from './argocd-apps.ts';

const apps = Number(process.argv[2] ?? 1000);
const resources = Number(process.argv[3] ?? 30);
const TOKEN = 'bench-token';

const fake = await startFakeArgoCd({ token: TOKEN });
const reconciledAt = Date.parse('2026-11-24T10:00:00Z');
for (let index = 0; index < apps; index++) {
  const app = makeApplication({ index, resources, reconciledAt }) as {
    metadata: { name: string; namespace: string };
    status: { resources: Array<Record<string, unknown>>; resourceHealthSource?: string };
  };
  if (isDegraded(index)) {
    // The 3.x shape: health only in the tree.
    const health = app.status.resources.map((r) => r.health);
    for (const r of app.status.resources) delete r.health;
    app.status.resourceHealthSource = 'appTree';
    fake.putApp(app);
    app.status.resources.forEach((r, i) => {
      const h = health[i] as { status: string; message?: string } | undefined;
      if (h)
        fake.setResourceHealth(
          app.metadata.name,
          {
            kind: String(r.kind),
            name: String(r.name),
            ...(r.namespace ? { namespace: r.namespace as string } : {}),
            group: (r.group as string | undefined) ?? '',
          },
          h,
          app.metadata.namespace,
        );
    });
  } else {
    fake.putApp(app);
  }
}

const api = createArgoCdApi({ apiUrl: fake.url, token: TOKEN, timeoutMs: 60_000 });
const bytes = async (query: string): Promise<number> =>
  (await (await fetch(`${fake.url}/api/v1/applications${query}`, { headers: { authorization: `Bearer ${TOKEN}` } })).arrayBuffer()).byteLength;
const full = await bytes('');
const slim = await bytes(
  '?fields=items.metadata.name,items.metadata.namespace,items.metadata.labels,items.spec.project,items.spec.destination,items.status.sync.status,items.status.sync.revision,items.status.health,items.status.resources',
);

let t = performance.now();
const list = await api.listApplications();
const listMs = performance.now() - t;

let ingested = 0;
let drifted = 0;
const ingest: Ingest = async (signal) => {
  ingested++;
  drifted += signal.resources.filter((r) => r.state !== 'InSync').length;
  return { outcome: 'unchanged', groups: [], findings: 0 };
};
const poller = startArgoCdPoller({
  api,
  cluster: 'bench',
  filters: { projects: [], appNamespaces: [] },
  ingest,
  log: createLogger('silent'),
  intervalMs: 3_600_000,
  runAtStart: false,
});
const runs: number[] = [];
let trees = 0;
for (let i = 0; i < 3; i++) {
  t = performance.now();
  const result = await poller.pollNow();
  runs.push(performance.now() - t);
  trees = result.trees;
  if (result.outcome !== 'ok') console.log('poll', result.outcome, result.errors.slice(0, 3));
}
await poller.stop();
await fake.close();

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
console.log(`argocd poll: ${apps} apps × ${resources} resources, Argo CD 3.x shape, one in 50 Degraded`);
console.log(`  list answer         ${mib(full)} (with the fields param: ${mib(slim)}, not used: it drops status.reconciledAt)`);
console.log(`  list + parse        ${listMs.toFixed(0)} ms (${list.items.length} apps, ${list.skipped.length} skipped)`);
console.log(
  `  whole poll          ${runs.map((ms) => ms.toFixed(0)).join(' / ')} ms (list, ${trees} resource trees, ${ingested / runs.length} signals, ${drifted / runs.length} drifted resources per poll)`,
);
console.log(`  per app             ${((Math.min(...runs) / apps) * 1000).toFixed(0)} µs`);

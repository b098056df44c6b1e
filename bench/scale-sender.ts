import { Agent, request } from 'node:http';
import { bigSnapshotBody } from '../test/support/big-snapshot.ts';

// The storm's sender for bench/scale.ts, run as a separate process (fork), so it does not share an
// event loop with anything it measures. The parent sends one StormRequest over IPC; this process
// answers one StormResult and exits.
// Each app is one Argo CD webhook (`{ cluster, app }`, Bearer token): an OutOfSync Application whose
// `resources` drifted resources are OutOfSync mesh objects, all at one sync revision (one bad push).
// A 5xx or a transport error is counted and the same webhook sent again after 1 s, up to
// `retries` times (Argo CD notifications and Flux retry a few times); an app never accepted is lost.
// Past `budgetMs` no new app is sent (counted as unsent), so a slow service still gets a report.

export interface StormRequest {
  url: string;
  token: string;
  clusters: number;
  apps: number;
  /** Drifted resources in all, spread evenly over the apps. */
  resources: number;
  revision: string;
  concurrency: number;
  retries: number;
  /** Send no new webhook after this many ms (the rest count as not sent); answers in flight are awaited. */
  budgetMs: number;
}

export interface StormResult {
  ms: number;
  sent: number;
  /** Apps accepted (202), by name. */
  accepted: string[];
  /** When each of `accepted` was accepted (epoch ms, same order). */
  acceptedAt: number[];
  lost: number;
  /** Apps not sent because the budget ran out. */
  unsent: number;
  fiveXx: number;
  statuses: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
}

export const appName = (i: number): string => `scale-app-${i}`;
export const clusterName = (i: number): string => `cluster-${i}`;

let agent: Agent | undefined;
function post(url: string, token: string, text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': String(Buffer.byteLength(text)) },
        timeout: 60_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(text);
  });
}

function body(req: StormRequest, i: number): string {
  const per = Math.floor(req.resources / req.apps) + (i < req.resources % req.apps ? 1 : 0);
  const { app } = bigSnapshotBody(appName(i), per);
  const status = app.status as { sync: { revision?: string } };
  status.sync.revision = req.revision;
  return JSON.stringify({ cluster: clusterName(i % req.clusters), app });
}

async function main(req: StormRequest): Promise<StormResult> {
  agent = new Agent({ keepAlive: true, maxSockets: req.concurrency });
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const accepted: string[] = [];
  const acceptedAt: number[] = [];
  let fiveXx = 0;
  let lost = 0;
  let sent = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: req.concurrency }, async () => {
      while (next < req.apps && performance.now() - started < req.budgetMs) {
        const i = next++;
        const text = body(req, i);
        for (let attempt = 0; ; attempt++) {
          const t0 = performance.now();
          let status = 'error';
          try {
            status = String(await post(req.url, req.token, text));
          } catch {
            // counted as 'error'
          }
          sent++;
          latencies.push(performance.now() - t0);
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status === '202') {
            accepted.push(appName(i));
            acceptedAt.push(Date.now());
            break;
          }
          if (status.startsWith('5')) fiveXx++;
          if (!(status.startsWith('5') || status === 'error') || attempt >= req.retries || performance.now() - started >= req.budgetMs) {
            lost++;
            break;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }),
  );
  const ms = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  return { ms, sent, accepted, acceptedAt, lost, unsent: req.apps - next, fiveXx, statuses, p50: pct(50), p99: pct(99), max: latencies.at(-1) ?? 0 };
}

process.once('message', (msg: unknown) => {
  main(msg as StormRequest).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (err: unknown) => {
      process.stderr.write(`scale sender failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
});

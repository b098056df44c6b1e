import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';

// Load generator for the throughput part of bench/flapping.ts, run as a separate process (fork) so
// it does not share an event loop with the in-process meshdrift it loads.
// Protocol: the parent sends one LoadRequest over IPC; this process answers one LoadResult and exits.
// Each request carries one signal: a Flux HelmRelease DriftDetected event with one changed object
// (meshdrift), or one alert (Alertmanager). Every request is distinct (its own owner), so neither
// side can take a dedup shortcut.

export interface LoadRequest {
  /** meshdrift-argocd: an Argo CD webhook with an app snapshot of `resources` resources, 2 drifted. */
  target: 'meshdrift-flux' | 'meshdrift-argocd' | 'alertmanager';
  /** For meshdrift-argocd (default 100). */
  resources?: number;
  url: string;
  /** Requests measured, after `warmup` unmeasured ones. */
  count: number;
  warmup: number;
  concurrency: number;
  /** Distinguishes runs so names never repeat. */
  runId: string;
  /** meshdrift-flux: sign each body as Flux's generic-hmac provider does (`X-Signature: sha256=<hex>`). */
  hmacKey?: string;
}

export interface LoadResult {
  count: number;
  ms: number;
  p50: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
}

function body(req: LoadRequest, i: number): { headers: Record<string, string>; text: string } {
  const name = `tp-${req.runId}-${i}`;
  if (req.target === 'meshdrift-argocd') {
    const total = req.resources ?? 100;
    const resources = Array.from({ length: total }, (_, r) => ({
      group: 'networking.istio.io',
      version: 'v1',
      kind: 'VirtualService',
      namespace: 'bench',
      name: `vs-${r}`,
      status: r < 2 ? 'OutOfSync' : 'Synced',
      health: { status: 'Healthy' },
    }));
    return {
      headers: { 'content-type': 'application/json' },
      text: JSON.stringify({
        app: {
          metadata: { name, namespace: 'argocd' },
          spec: { project: 'default', destination: { namespace: 'bench' } },
          status: { sync: { status: 'OutOfSync', revision: 'abc' }, health: { status: 'Healthy' }, reconciledAt: new Date().toISOString(), resources },
        },
      }),
    };
  }
  if (req.target === 'meshdrift-flux') {
    const text = JSON.stringify({
      involvedObject: { kind: 'HelmRelease', namespace: 'bench', name, uid: `uid-${name}`, apiVersion: 'helm.toolkit.fluxcd.io/v2' },
      severity: 'error',
      timestamp: new Date().toISOString(),
      message: `Cluster state of release bench/${name}.v1 has drifted from the desired state:\nVirtualService/bench/${name} changed (0 additions, 1 changes, 0 removals)`,
      reason: 'DriftDetected',
      reportingController: 'helm-controller',
      reportingInstance: 'helm-controller-bench',
    });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'gotk-component': 'helm-controller' };
    if (req.hmacKey !== undefined) headers['x-signature'] = `sha256=${createHmac('sha256', req.hmacKey).update(text).digest('hex')}`;
    return { headers, text };
  }
  const now = Date.now();
  return {
    headers: { 'content-type': 'application/json' },
    text: JSON.stringify([
      {
        labels: { alertname: 'MeshDrift', cluster: 'bench', owner: name, namespace: 'bench', kind: 'VirtualService', name, severity: 'high' },
        annotations: { summary: `VirtualService bench/${name} drifted` },
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + 3_600_000).toISOString(),
      },
    ]),
  };
}

// node:http with a keep-alive pool of `concurrency` sockets: cheaper per request than fetch, so the
// generator (which shares the 2 cores) takes less from the server under test.
let agent: Agent | undefined;
function postOnce(url: string, headers: Record<string, string>, text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(text)) }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(text);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function run(req: LoadRequest, from: number, count: number, latencies: number[] | null, statuses: Record<string, number>): Promise<number> {
  const bodies = Array.from({ length: count }, (_, i) => body(req, from + i));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: req.concurrency }, async () => {
      while (next < count) {
        const b = bodies[next++];
        if (b === undefined) break;
        const t0 = performance.now();
        let status = 'error';
        try {
          status = String(await postOnce(req.url, b.headers, b.text));
        } catch {
          // counted as 'error'
        }
        latencies?.push(performance.now() - t0);
        if (latencies !== null) statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  return performance.now() - started;
}

async function main(req: LoadRequest): Promise<LoadResult> {
  agent = new Agent({ keepAlive: true, maxSockets: req.concurrency });
  const statuses: Record<string, number> = {};
  await run(req, 0, req.warmup, null, statuses);
  const latencies: number[] = [];
  const ms = await run(req, req.warmup, req.count, latencies, statuses);
  latencies.sort((a, b) => a - b);
  return { count: req.count, ms, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0, statuses };
}

process.once('message', (msg: unknown) => {
  main(msg as LoadRequest).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (err: unknown) => {
      process.stderr.write(`loadgen failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
});

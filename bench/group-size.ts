// npm run bench:group-size (issue #15): the cost of one signal against the size of the alert group it
// lands in. Printed, never asserted; the target is "within 1.5x from 10 to 10,000 findings".
//
// For each size N: a fresh key prefix on a redis-server of the bench's own; a policy that groups by
// cluster (every owner's findings share one group; group_wait 1h, so nothing flushes meanwhile);
// one Argo CD snapshot of an owner with N drifted resources fills the group; then signals of a few
// probe owners, each with one resource that alternates between drifted and in sync, so every
// measured signal changes the group and the group stays at N (+ the probes). Measured:
// - in-process: app.ingest(signal), one after another;
// - through HTTP: one POST /webhooks/argocd at a time (loopback, keep-alive, the next sent when
//   the answer has come), same app, same group.
// Env: BENCH_GROUP_SIZES (default 10,100,1000,10000), BENCH_GROUP_SIGNALS (measured signals per
// size and mode, default 40), BENCH_GROUP_BUDGET_MS (per size and mode: stops early once spent,
// after at least 3 signals; default 15000), BENCH_GROUP_SETTLE_MS (wait after the fill, default 2000),
// BENCH_GROUP_ROUNDS (sweeps of all sizes, the median kept; default 1).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createApp } from '../src/app.ts';
import { loadEnv } from '../src/config/env.ts';
import { createLogger } from '../src/log.ts';
import type { Signal } from '../src/model/signal.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';
import { onCleanup, runBench, table } from './processes.ts';

const SIZES = (process.env.BENCH_GROUP_SIZES ?? '10,100,1000,10000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const SIGNALS = Math.max(1, Number(process.env.BENCH_GROUP_SIGNALS ?? 40));
const BUDGET_MS = Math.max(1, Number(process.env.BENCH_GROUP_BUDGET_MS ?? 15_000));
// After the fill, before measuring: the filled group's aftermath (the active-findings rebuild the
// app starts with re-reads a group committed while it runs; the fill's garbage) would otherwise
// fall on the first measured signals of the biggest sizes only.
const SETTLE_MS = Math.max(0, Number(process.env.BENCH_GROUP_SETTLE_MS ?? 2000));
// The sizes are swept this many times (each time in a fresh app and group); each figure is the
// median of the sweeps, so a slow patch of a shared machine does not land on one size only.
const ROUNDS = Math.max(1, Number(process.env.BENCH_GROUP_ROUNDS ?? 1));
const PROBES = 4;
const CLUSTER = 'bench';

function fill(size: number, at: number): Signal {
  return {
    source: 'argocd-webhook',
    cluster: CLUSTER,
    owner: { kind: 'Application', namespace: 'argocd', name: 'fill' },
    project: 'default',
    destination: {},
    observedAt: at,
    completeness: 'snapshot',
    resources: Array.from({ length: size }, (_, i) => ({
      group: 'networking.istio.io',
      kind: 'VirtualService',
      namespace: 'ns',
      name: `vs-${i}`,
      state: 'Modified' as const,
    })),
  };
}

/** Signal i: probe owner i % PROBES, its one resource drifted on even rounds, in sync on odd. */
function probe(mode: string, i: number, at: number): Signal {
  return {
    source: 'argocd-webhook',
    cluster: CLUSTER,
    owner: { kind: 'Application', namespace: 'argocd', name: `probe-${mode}-${i % PROBES}` },
    project: 'default',
    destination: {},
    observedAt: at,
    completeness: 'snapshot',
    resources: [
      {
        group: 'networking.istio.io',
        kind: 'VirtualService',
        namespace: 'ns',
        name: `probe-${i % PROBES}`,
        state: Math.floor(i / PROBES) % 2 === 0 ? ('Modified' as const) : ('InSync' as const),
      },
    ],
  };
}

function probeBody(i: number): string {
  const drifted = Math.floor(i / PROBES) % 2 === 0;
  return JSON.stringify({
    app: {
      metadata: { name: `probe-http-${i % PROBES}`, namespace: 'argocd' },
      spec: { project: 'default', destination: { namespace: 'ns' } },
      status: {
        sync: { status: drifted ? 'OutOfSync' : 'Synced', revision: 'abc' },
        health: { status: 'Healthy' },
        reconciledAt: new Date().toISOString(),
        resources: [
          {
            group: 'networking.istio.io',
            version: 'v1',
            kind: 'VirtualService',
            namespace: 'ns',
            name: `probe-${i % PROBES}`,
            status: drifted ? 'OutOfSync' : 'Synced',
            health: { status: 'Healthy' },
          },
        ],
      },
    },
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function post(url: string, text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }, timeout: 30_000 },
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

/** Runs `one(i)` up to SIGNALS times (after 2 unmeasured), stopping early past the budget; mean ms. */
async function measure(one: (i: number) => Promise<void>): Promise<{ ms: number; n: number }> {
  await one(0);
  await one(1);
  const started = performance.now();
  let n = 0;
  while (n < SIGNALS && (n < 3 || performance.now() - started < BUDGET_MS)) {
    await one(n + 2);
    n++;
  }
  return { ms: (performance.now() - started) / n, n };
}

interface Row {
  size: number;
  inProcess: { ms: number; n: number };
  http: { ms: number; n: number };
}

async function oneSize(redisUrl: string, policyFile: string, size: number, round: number): Promise<Row> {
  const env = loadEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: redisUrl,
    MESHDRIFT_KEY_PREFIX: `bench-gs-${size}-${round}`,
    MESHDRIFT_CLUSTER: CLUSTER,
    MESHDRIFT_POLICY: policyFile,
    MESHDRIFT_GROUP_WAIT: '1h',
    MESHDRIFT_LOG_LEVEL: 'silent',
    MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true',
  });
  const app = createApp({ env, log: createLogger('silent'), registry: new Registry() });
  await app.start();
  try {
    let at = Date.now();
    const filled = await app.ingest(fill(size, at));
    if (filled.outcome !== 'tracked' || filled.groups.length !== 1)
      throw new Error(`filling the group of ${size} did not track one group: ${JSON.stringify(filled).slice(0, 300)}`);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const inProcess = await measure(async (i) => {
      const r = await app.ingest(probe('inproc', i, ++at));
      if (r.outcome !== 'tracked' || r.groups[0] !== filled.groups[0])
        throw new Error(`in-process signal ${i} at size ${size}: ${JSON.stringify(r).slice(0, 300)}`);
    });
    const url = `${app.address().url}/webhooks/argocd`;
    const http = await measure(async (i) => {
      const status = await post(url, probeBody(i));
      if (status !== 202) throw new Error(`HTTP signal ${i} at size ${size} answered ${status}`);
    });
    return { size, inProcess, http };
  } finally {
    await app.stop();
  }
}

async function main(): Promise<void> {
  if (SIZES.length === 0) throw new Error('BENCH_GROUP_SIZES names no size');
  const own = await startOwnRedis();
  onCleanup(() => own.stop());
  const dir = await mkdtemp(join(tmpdir(), 'meshdrift-bench-gs-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, 'receivers:\n  - { name: out, console: {} }\nroute:\n  receiver: out\n  group_by: [cluster]\n  group_wait: 1h\n');

  const sweeps: Row[][] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const sweep: Row[] = [];
    for (const size of SIZES) sweep.push(await oneSize(own.url, policyFile, size, round));
    sweeps.push(sweep);
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
  };
  const rows: Row[] = SIZES.map((size, k) => {
    const of = (pick: (r: Row) => { ms: number; n: number }) => ({
      ms: median(sweeps.map((s) => pick(s[k] as Row).ms)),
      n: sweeps.reduce((n, s) => n + pick(s[k] as Row).n, 0),
    });
    return { size, inProcess: of((r) => r.inProcess), http: of((r) => r.http) };
  });
  agent.destroy();

  const first = rows[0];
  const last = rows.at(-1);
  if (first === undefined || last === undefined) return;
  const f = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));
  process.stdout.write(
    `group-size bench (node ${process.version}; one group holding N findings, cost of one signal that changes it; median of ${ROUNDS} sweep(s), signals counted over all)\n`,
  );
  process.stdout.write(
    `${table(
      ['findings in group', 'in-process ms/signal', 'x smallest', 'HTTP ms/signal', 'x smallest', 'signals'],
      rows.map((r) => [
        String(r.size),
        f(r.inProcess.ms),
        `${(r.inProcess.ms / first.inProcess.ms).toFixed(1)}x`,
        f(r.http.ms),
        `${(r.http.ms / first.http.ms).toFixed(1)}x`,
        `${r.inProcess.n}+${r.http.n}`,
      ]),
    )}\n`,
  );
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(1)}x`;
  process.stdout.write(
    `  ratio ${last.size} / ${first.size} findings: in-process ${ratio(last.inProcess.ms, first.inProcess.ms)}, HTTP ${ratio(last.http.ms, first.http.ms)} (target: within 1.5x)\n`,
  );
}

runBench('group-size bench', Number(process.env.BENCH_DEADLINE_MS ?? 600_000), main);

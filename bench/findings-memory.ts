// Issue #8: memory after ingesting 500,000 distinct findings (BENCH_FINDINGS), meshdrift beside a
// real Alertmanager after the same number of distinct alerts (issue #8 saw Alertmanager hold about
// 1.1 GB after 650,000). Printed, never asserted.
//
// meshdrift keeps findings in Redis, not in its own heap, so both count: the RSS of `meshdrift serve`
// (the compiled service, bench/processes.ts) and the growth of Redis `used_memory` (a redis-server
// of the bench's own, so nothing else moves it; the keys are deleted at the end). Alertmanager keeps
// alerts in its own memory: its RSS is the figure.
//
// meshdrift gets Argo CD webhooks: BENCH_FINDINGS / BENCH_FINDINGS_PER_APP Application snapshots
// (bench/argocd-apps.ts), every resource drifted and named after its app, so every finding is
// distinct. Alertmanager gets one alert per finding with the labels meshdrift would give it,
// posted to /api/v2/alerts in batches. Both have group_wait 1h, so nothing is sent during the run:
// what is measured is holding the state.
import { Redis } from 'ioredis';
import { deleteKeysByPrefix } from '../src/cli/redis-finder.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';
import { makeApplication } from './argocd-apps.ts';
import type { ProbeAnswer } from './memory-probe.ts';
import { mb, onCleanup, residentMemory, runBench, sleep, startAlertmanager, startMeshdrift, table } from './processes.ts';

const FINDINGS = Number(process.env.BENCH_FINDINGS ?? 500_000);
const PER_APP = Number(process.env.BENCH_FINDINGS_PER_APP ?? 1000);
const CONCURRENCY = 4;
const AM_BATCH = 1000;
const ARGOCD_TOKEN = 'bench-argocd-token';
const PREFIX = 'bench-findings';
const DEADLINE_MS = Number(process.env.BENCH_FINDINGS_DEADLINE_MS ?? 1_500_000);

const SEVERITY: Record<string, string> = {
  AuthorizationPolicy: 'critical',
  PeerAuthentication: 'critical',
  VirtualService: 'high',
  DestinationRule: 'high',
  HTTPRoute: 'high',
};

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))?.[1] ?? NaN);
}

/** Runs `task(i)` for i in [0, count) with `concurrency` at a time, printing progress now and then. */
async function pool(what: string, count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  let next = 0;
  let done = 0;
  let lastPrint = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        await task(next++);
        done++;
        if (Date.now() - lastPrint > 10_000) {
          process.stdout.write(`    ${what}: ${done}/${count}\n`);
          lastPrint = Date.now();
        }
      }
    }),
  );
  return performance.now() - started;
}

interface MeshdriftFigures {
  idleRss: number;
  rss: number;
  peak: number;
  heap: ProbeAnswer;
  heapAfterGc: ProbeAnswer;
  redisDelta: number;
  redisKeys: number;
  opened: number;
  ms: number;
}

async function measureMeshdrift(apps: number): Promise<MeshdriftFigures> {
  const own = await startOwnRedis();
  onCleanup(() => own.stop());
  const redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
  onCleanup(async () => redis.disconnect());
  const md = await startMeshdrift({
    REDIS_URL: own.url,
    MESHDRIFT_KEY_PREFIX: PREFIX,
    MESHDRIFT_ARGOCD_TOKEN: ARGOCD_TOKEN,
    MESHDRIFT_CLUSTER: 'bench',
    MESHDRIFT_GROUP_WAIT: '1h',
  });
  try {
    await sleep(2000);
    const idleRss = (await residentMemory(md.pid)).rss;
    const before = await usedMemory(redis);
    const reconciledAt = Date.now();
    const ms = await pool('meshdrift snapshots', apps, CONCURRENCY, async (i) => {
      const app = makeApplication({ index: i, prefix: 'findings', resources: PER_APP, drifted: PER_APP, reconciledAt });
      const res = await fetch(`${md.url}/webhooks/argocd`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ARGOCD_TOKEN}` },
        body: JSON.stringify({ app, cluster: 'bench' }),
        signal: AbortSignal.timeout(60_000),
      });
      const text = await res.text();
      if (res.status !== 202) throw new Error(`meshdrift answered ${res.status}: ${text.slice(0, 300)}`);
    });
    await sleep(3000);
    const { rss, peak } = await residentMemory(md.pid);
    const heap = await md.probe({});
    const heapAfterGc = await md.probe({ gc: true });
    const redisDelta = (await usedMemory(redis)) - before;
    const redisKeys = await redis.dbsize();
    const opened = await md.counter('meshdrift_findings_total');
    return { idleRss, rss, peak, heap, heapAfterGc, redisDelta, redisKeys, opened, ms };
  } finally {
    await md.stop();
    await deleteKeysByPrefix(redis, PREFIX);
    redis.disconnect();
    await own.stop();
  }
}

interface AlertmanagerFigures {
  idleRss: number;
  rss: number;
  peak: number;
  goHeapInuse: number;
  alerts: number;
  ms: number;
}

async function measureAlertmanager(apps: number): Promise<AlertmanagerFigures> {
  // The receiver is never called (group_wait 1h); it points at a closed port.
  const am = await startAlertmanager(`route:
  receiver: sink
  group_by: [cluster, owner]
  group_wait: 1h
  group_interval: 1h
  repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs:
      - url: 'http://127.0.0.1:9/'
`);
  try {
    await sleep(2000);
    const idleRss = (await residentMemory(am.pid)).rss;
    const now = Date.now();
    const batches = Math.ceil((apps * PER_APP) / AM_BATCH);
    const ms = await pool('alertmanager batches', batches, 2, async (b) => {
      const alerts = Array.from({ length: AM_BATCH }, (_, k) => {
        const n = b * AM_BATCH + k;
        const app = `findings-${Math.floor(n / PER_APP)}`;
        const kinds = ['VirtualService', 'DestinationRule', 'AuthorizationPolicy', 'PeerAuthentication', 'HTTPRoute'];
        const kind = kinds[n % kinds.length] ?? 'VirtualService';
        const name = `${app}-${kind.toLowerCase()}-${n % PER_APP}`;
        return {
          labels: {
            alertname: 'MeshDrift',
            cluster: 'bench',
            owner: app,
            namespace: `team-${Math.floor(n / PER_APP) % 40}`,
            kind,
            name,
            severity: SEVERITY[kind] ?? 'high',
          },
          annotations: { summary: `${kind} ${name} is OutOfSync in ${app}` },
          startsAt: new Date(now).toISOString(),
          endsAt: new Date(now + 2 * 3_600_000).toISOString(),
        };
      });
      const res = await fetch(`${am.url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
        signal: AbortSignal.timeout(300_000),
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`alertmanager answered ${res.status}: ${text.slice(0, 300)}`);
    });
    await sleep(3000);
    const { rss, peak } = await residentMemory(am.pid);
    const metrics = await (await fetch(`${am.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const goHeapInuse = Number(/^go_memstats_heap_inuse_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN);
    // Alerts Alertmanager holds, in any state (they stay `unprocessed` until their group is flushed).
    const alerts = [...metrics.matchAll(/^alertmanager_alerts\{state="[a-z]+"\} (\S+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    return { idleRss, rss, peak, goHeapInuse, alerts, ms };
  } finally {
    await am.stop();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const apps = Math.ceil(FINDINGS / PER_APP);
  const total = apps * PER_APP;
  process.stdout.write(
    `memory after ${total} distinct findings (node ${process.version}): meshdrift (${apps} Argo CD snapshots of ${PER_APP} drifted resources) beside Alertmanager (${total} alerts in batches of ${AM_BATCH})\n`,
  );
  const md = await measureMeshdrift(apps);
  process.stdout.write(`  meshdrift: ${apps} webhooks in ${(md.ms / 1000).toFixed(1)} s; ${md.opened} findings opened; ${md.redisKeys} Redis keys\n`);
  const am = await measureAlertmanager(apps);
  process.stdout.write(`  alertmanager: ${total} alerts in ${(am.ms / 1000).toFixed(1)} s; ${am.alerts} held (alertmanager_alerts)\n`);

  const mdTotal = md.rss + md.redisDelta;
  process.stdout.write(
    `\n${table(
      ['', 'meshdrift serve', 'Redis used_memory growth', 'meshdrift + Redis', 'Alertmanager'],
      [
        ['RSS idle (started, nothing ingested)', mb(md.idleRss), '', '', mb(am.idleRss)],
        [`RSS after ${total} findings / alerts`, mb(md.rss), mb(md.redisDelta), mb(mdTotal), mb(am.rss)],
        ['peak RSS', mb(md.peak), '', '', mb(am.peak)],
        [
          'heap used (meshdrift: after a full GC; Alertmanager: Go heap in use)',
          `${mb(md.heap.heapUsed)} (${mb(md.heapAfterGc.heapUsed)})`,
          '',
          '',
          mb(am.goHeapInuse),
        ],
        [
          'bytes per finding / alert (growth over idle)',
          ((md.rss - md.idleRss) / total).toFixed(0),
          (md.redisDelta / total).toFixed(0),
          ((mdTotal - md.idleRss) / total).toFixed(0),
          ((am.rss - am.idleRss) / total).toFixed(0),
        ],
      ],
    )}\n`,
  );
  process.stdout.write(
    `  ratio to Alertmanager's RSS: meshdrift ${(md.rss / am.rss).toFixed(2)}, meshdrift + Redis growth ${(mdTotal / am.rss).toFixed(2)}\n` +
      `\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
}

runBench('findings-memory bench', DEADLINE_MS, main);

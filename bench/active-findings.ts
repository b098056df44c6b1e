// node bench/active-findings.ts: what the shared gauges cost, printed, never asserted.
// - The hourly recount of meshdrift_active_findings from the active groups (in bounded steps since
//   issue #15: bench/active-findings-rebuild.ts measures how long each blocks Redis), for 1,000 and
//   10,000 active groups of 3 firing findings.
// - The 15 s refresh: reading the counts (HGETALL) and the queue depths (BullMQ getJobCounts).
// - The commit with the counts kept in it: ingest throughput of new drift and of resolves.
// Uses a redis-server of its own on a spare port.
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createCatalog } from '../src/classify/catalog.ts';
import { defaultPolicy } from '../src/classify/classify.ts';
import { createMetrics } from '../src/metrics.ts';
import type { Signal } from '../src/model/signal.ts';
import { createQueues } from '../src/queue/queues.ts';
import { createIngest, createRedisOwnerGroupIndex } from '../src/track/ingest.ts';
import { createRedisTrackStore, readActiveFindings, reconcileActiveFindings } from '../src/track/redis-store.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';

const SIZES = (process.env.BENCH_GROUPS ?? '1000,10000').split(',').map(Number);

function snapshot(app: number, drifted: boolean, observedAt: number): Signal {
  const kinds = [
    ['networking.istio.io', 'VirtualService'],
    ['security.istio.io', 'AuthorizationPolicy'],
    ['gateway.networking.k8s.io', 'HTTPRoute'],
  ] as const;
  return {
    source: 'argocd-webhook',
    cluster: 'bench',
    owner: { kind: 'Application', namespace: 'argocd', name: `app-${app}` },
    project: 'default',
    destination: {},
    observedAt,
    completeness: 'snapshot',
    resources: kinds.map(([group, kind], i) => ({
      group,
      kind,
      namespace: 'ns',
      name: `r-${i}`,
      state: drifted ? ('Modified' as const) : ('InSync' as const),
    })),
  };
}

async function main(): Promise<void> {
  const own = await startOwnRedis();
  const redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
  const rows: Array<[string, string]> = [];
  try {
    for (const groups of SIZES) {
      const prefix = `bench-active-${groups}`;
      const queues = createQueues(redis, prefix);
      const ingest = createIngest({
        // A far group_wait: the flushes stay intents (no mover or workers run here).
        policy: () => defaultPolicy(createCatalog(), ['console'], { groupWaitMs: 3_600_000 }),
        store: createRedisTrackStore({ redis, keyPrefix: prefix }),
        flushes: { recorded: () => undefined },
        owners: createRedisOwnerGroupIndex(redis, prefix),
        metrics: createMetrics(new Registry(), { defaultMetrics: false }),
        now: Date.now,
      });
      let started = performance.now();
      for (let i = 0; i < groups; i++) await ingest(snapshot(i, true, 10));
      const newMs = performance.now() - started;
      rows.push([`${groups} groups: ingest new drift (3 findings)`, `${((groups / newMs) * 1000).toFixed(0)} signals/s sequential, counts kept in the commit`]);

      const times: number[] = [];
      for (let run = 0; run < 5; run++) {
        await redis.del(`${prefix}:findings:active:reconciled`);
        started = performance.now();
        const read = await reconcileActiveFindings(redis, prefix, 3600);
        times.push(performance.now() - started);
        if (read !== groups) throw new Error(`recount read ${read} groups, expected ${groups}`);
      }
      times.sort((a, b) => a - b);
      rows.push([
        `${groups} groups: hourly recount (in steps)`,
        `median ${times[2]?.toFixed(1)} ms, max ${times[4]?.toFixed(1)} ms (5 runs, client-side, whole rebuild)`,
      ]);

      const refresh: number[] = [];
      for (let run = 0; run < 20; run++) {
        started = performance.now();
        const [counts] = await Promise.all([readActiveFindings(redis, prefix), queues.jobCounts()]);
        refresh.push(performance.now() - started);
        if (counts.reduce((n, c) => n + c.count, 0) !== groups * 3) throw new Error('counts differ from the findings ingested');
      }
      refresh.sort((a, b) => a - b);
      rows.push([`${groups} groups: 15 s refresh (counts + job counts)`, `median ${refresh[10]?.toFixed(2)} ms`]);

      started = performance.now();
      for (let i = 0; i < groups; i++) await ingest(snapshot(i, false, 20));
      const resolveMs = performance.now() - started;
      rows.push([
        `${groups} groups: ingest resolves`,
        `${((groups / resolveMs) * 1000).toFixed(0)} signals/s sequential; counts left: ${(await readActiveFindings(redis, prefix)).length} label sets`,
      ]);
      await queues.close();
    }
  } finally {
    redis.disconnect();
    await own.stop();
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`meshdrift shared-gauges bench (node ${process.version})\n`);
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

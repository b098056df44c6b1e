// npm run bench: figures for the spine, printed, never asserted.
// - Redis commands per signal on the ingest path (new drift, duplicate, resolve; Flux drift).
// - Webhook throughput and latency through the real HTTP server on loopback, with workers running.
// Uses a redis-server of its own on a spare port, so the command counts are ours alone.
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createApp } from '../src/app.ts';
import { createCatalog } from '../src/classify/catalog.ts';
import { defaultPolicy } from '../src/classify/classify.ts';
import { loadEnv } from '../src/config/env.ts';
import { createLogger } from '../src/log.ts';
import { createMetrics } from '../src/metrics.ts';
import type { Signal } from '../src/model/signal.ts';
import { createQueues } from '../src/queue/queues.ts';
import { createIngest, createRedisOwnerGroupIndex } from '../src/track/ingest.ts';
import { createRedisTrackStore } from '../src/track/redis-store.ts';
import { runLoadgen } from './loadgen-client.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';

const N = Number(process.env.BENCH_SIGNALS ?? 2000);

function snapshot(app: number, drifted: number, total: number, observedAt: number): Signal {
  return {
    source: 'argocd-webhook',
    cluster: 'bench',
    owner: { kind: 'Application', namespace: 'argocd', name: `app-${app}` },
    project: 'default',
    destination: {},
    observedAt,
    completeness: 'snapshot',
    resources: Array.from({ length: total }, (_, i) => ({
      group: i % 2 === 0 ? 'networking.istio.io' : 'security.istio.io',
      kind: i % 2 === 0 ? 'VirtualService' : 'AuthorizationPolicy',
      namespace: 'ns',
      name: `r-${i}`,
      state: i < drifted ? ('Modified' as const) : ('InSync' as const),
    })),
  };
}

async function commandCount(redis: Redis): Promise<number> {
  const info = await redis.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}

async function main(): Promise<void> {
  const own = await startOwnRedis();
  const redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
  const rows: Array<[string, string]> = [];
  try {
    // 1. Commands per signal on the ingest path (no workers, so nothing else talks to Redis).
    const prefix = 'bench-ingest';
    const store = createRedisTrackStore({ redis, keyPrefix: prefix });
    const queues = createQueues(redis, prefix);
    const ingest = createIngest({
      policy: () => defaultPolicy(createCatalog(), ['console']),
      store,
      flushes: { recorded: () => undefined },
      owners: createRedisOwnerGroupIndex(redis, prefix),
      metrics: createMetrics(new Registry(), { defaultMetrics: false }),
      now: Date.now,
    });
    await ingest(snapshot(-1, 1, 10, 1)); // warm-up: scripts loaded
    // Round trips = commands the client sends (each path here is sequential, unpipelined);
    // server-side commands also count what Lua scripts (ours and BullMQ's) run inside Redis.
    let sent = 0;
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = ((...args: Parameters<typeof send>) => {
      sent++;
      return send(...args);
    }) as typeof redis.sendCommand;
    const per = async (label: string, make: (i: number) => Signal) => {
      const before = await commandCount(redis);
      const sentBefore = sent;
      const started = performance.now();
      for (let i = 0; i < N; i++) await ingest(make(i));
      const ms = performance.now() - started;
      const trips = sent - sentBefore;
      const cmds = (await commandCount(redis)) - before - 1; // minus our own INFO
      rows.push([
        `ingest ${label}`,
        `${(trips / N).toFixed(2)} round trips/signal (${(cmds / N).toFixed(1)} commands in Redis incl. scripts), ${((N / ms) * 1000).toFixed(0)} signals/s sequential`,
      ]);
    };
    await per('new drift (100 resources, 2 drifted)', (i) => snapshot(i, 2, 100, 10));
    await per('duplicate of a tracked snapshot', (i) => snapshot(i, 2, 100, 10));
    await per('resolving snapshot', (i) => snapshot(i, 0, 100, 20));
    await queues.close();

    // 2. The HTTP webhook path with the whole service running (workers included).
    const env = loadEnv({
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL: own.url,
      MESHDRIFT_KEY_PREFIX: 'bench-http',
      MESHDRIFT_GROUP_WAIT: '1h',
      MESHDRIFT_LOG_LEVEL: 'silent',
      MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true',
    });
    const app = createApp({ env, log: createLogger('silent'), registry: new Registry() });
    await app.start();
    const url = `${app.address().url}/webhooks/argocd`;
    // The load generator runs in its own process (bench/flapping-loadgen.ts), as issue #8 asks.
    for (const [resources, concurrency] of [
      [10, 16],
      [100, 16],
      [1000, 8],
    ] as const) {
      const count = resources === 1000 ? Math.min(N, 500) : N;
      const r = await runLoadgen(
        { target: 'meshdrift-argocd', resources, url, count, warmup: Math.min(200, count), concurrency, runId: `ingest-${resources}` },
        { timeoutMs: 300_000 },
      );
      const bad = Object.entries(r.statuses).filter(([status]) => status !== '202');
      if (bad.length > 0) throw new Error(`answers other than 202: ${bad.map(([s, n]) => `${s}x${n}`).join(' ')}`);
      rows.push([
        `HTTP Argo CD snapshot, ${resources} resources, ${concurrency} concurrent`,
        `${((r.count / r.ms) * 1000).toFixed(0)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (${r.count} requests, load generator in its own process)`,
      ]);
    }
    await app.stop();
    rows.push(['RSS after the run', `${(process.memoryUsage().rss / 1024 / 1024).toFixed(0)} MB`]);
  } finally {
    redis.disconnect();
    await own.stop();
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`meshdrift bench (node ${process.version}, ${N} signals per row)\n`);
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

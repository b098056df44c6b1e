// Issue #12 item 4: eight Argo CD snapshots of 10,000 drifted resources each, posted at once, to
// `meshdrift serve` run as the image runs it (the Dockerfile's NODE_OPTIONS heap flags, see
// bench/processes.ts). Printed, never asserted: the peak RSS of the process (VmHWM, against the
// Deployment's 512 MiB limit), the Redis memory the run left (used_memory growth), the largest
// BullMQ job payload, and the time until every finding reached the webhook receiver.
//
// BENCH_BIG_APPS (default 8), BENCH_BIG_FINDINGS (default 10000), BENCH_BIG_IN_FLIGHT (sets
// MESHDRIFT_MAX_FINDINGS_IN_FLIGHT; default the service's), BENCH_NODE_FLAGS (default: the image's),
// BENCH_MESHDRIFT_FROM=src (skip the build).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startOwnRedis } from '../test/support/redis-server.ts';
import { bigSnapshotBody } from '../test/support/big-snapshot.ts';
import { startWebhookSink } from '../test/support/webhook-sink.ts';
import { EXTRA_NODE_FLAGS, mb, onCleanup, residentMemory, runBench, sleep, startMeshdrift, table } from './processes.ts';

const APPS = Number(process.env.BENCH_BIG_APPS ?? 8);
const FINDINGS = Number(process.env.BENCH_BIG_FINDINGS ?? 10_000);
const TOKEN = 'bench-argocd-token';
const PREFIX = 'bench-big';

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))?.[1] ?? NaN);
}

/** The largest `data` field of the jobs of one queue, in bytes (what a job costs Redis and a worker). */
async function largestJobData(redis: Redis, queue: string): Promise<{ jobs: number; largest: number }> {
  let largest = 0;
  let jobs = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:${queue}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      if ((await redis.type(key)) !== 'hash') continue;
      const size = await redis.hstrlen(key, 'data');
      if (size === 0) continue;
      jobs++;
      largest = Math.max(largest, size);
    }
  } while (cursor !== '0');
  return { jobs, largest };
}

runBench('big-snapshots', 600_000, async () => {
  const own = await startOwnRedis();
  onCleanup(() => own.stop());
  const redis = new Redis(own.url);
  onCleanup(async () => void redis.disconnect());
  const sink = await startWebhookSink();
  onCleanup(() => sink.close());
  const dir = await mkdtemp(join(tmpdir(), 'meshdrift-big-'));
  const policy = join(dir, 'policy.yaml');
  await writeFile(policy, 'receivers:\n  - { name: hook, webhook: { url_env: HOOK_URL } }\nroute:\n  receiver: hook\n  group_wait: 1s\n');
  const before = await usedMemory(redis);
  const inFlight = process.env.BENCH_BIG_IN_FLIGHT;
  const svc = await startMeshdrift({
    REDIS_URL: own.url,
    MESHDRIFT_KEY_PREFIX: PREFIX,
    MESHDRIFT_POLICY: policy,
    HOOK_URL: sink.url,
    MESHDRIFT_ARGOCD_TOKEN: TOKEN,
    ...(inFlight === undefined ? {} : { MESHDRIFT_MAX_FINDINGS_IN_FLIGHT: inFlight }),
  });
  onCleanup(() => svc.stop());
  const idle = await residentMemory(svc.pid);
  process.stdout.write(`meshdrift serve, node flags: ${EXTRA_NODE_FLAGS.join(' ') || '(V8 defaults)'}; ${APPS} apps x ${FINDINGS} drifted resources\n`);

  const bodies = Array.from({ length: APPS }, (_, i) => JSON.stringify(bigSnapshotBody(`big-app-${i}`, FINDINGS)));
  let peakSeen = idle.rss;
  let died = false;
  svc.child.once('exit', () => (died = true));
  const sampler = setInterval(() => {
    residentMemory(svc.pid).then(
      (m) => (peakSeen = Math.max(peakSeen, m.rss)),
      () => undefined,
    );
  }, 100);
  onCleanup(async () => clearInterval(sampler));
  const started = performance.now();
  const answers = await Promise.all(
    bodies.map((body) =>
      fetch(`${svc.url}/webhooks/argocd`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body,
        signal: AbortSignal.timeout(120_000),
      }).then(
        (r) => r.status,
        (err: unknown) => `error: ${err instanceof Error ? err.message : String(err)}`,
      ),
    ),
  );
  const accepted = performance.now() - started;
  const want = APPS * FINDINGS;
  const deadline = Date.now() + 300_000;
  let dead = 0;
  while (!died && sink.firing() < want && Date.now() < deadline) {
    await sleep(250);
    dead = (await redis.zcard(`${PREFIX}:deliver:failed`)) + (await redis.zcard(`${PREFIX}:flush:failed`));
    if (dead > 0 && sink.firing() + dead * FINDINGS >= want) break;
  }
  const told = performance.now() - started;
  clearInterval(sampler);
  const final = died ? { rss: NaN, peak: peakSeen } : await residentMemory(svc.pid);
  const deliverJobs = await largestJobData(redis, 'deliver');
  const flushJobs = await largestJobData(redis, 'flush');
  const after = await usedMemory(redis);
  process.stdout.write(
    `${table(
      ['figure', 'value'],
      [
        ['webhook answers', answers.join(' ')],
        ['all answered after', `${(accepted / 1000).toFixed(1)} s`],
        ['findings told (webhook)', `${sink.firing()} of ${want} in ${sink.posts()} posts (largest body ${mb(sink.largestBody())})`],
        ['dead letters', String(dead)],
        ['everything told after', `${(told / 1000).toFixed(1)} s`],
        ['service', died ? `DIED (${svc.child.exitCode ?? svc.child.signalCode})` : 'alive'],
        ['RSS idle', mb(idle.rss)],
        ['RSS peak (VmHWM)', mb(Math.max(final.peak, peakSeen))],
        ['RSS at the end', mb(final.rss)],
        ['Redis used_memory growth', mb(after - before)],
        ['largest deliver job data', `${deliverJobs.largest} B (${deliverJobs.jobs} jobs)`],
        ['largest flush job data', `${flushJobs.largest} B (${flushJobs.jobs} jobs)`],
      ],
    )}\n`,
  );
  if (died) process.stdout.write(`${svc.stderrTail().slice(-3000)}\n`);
});

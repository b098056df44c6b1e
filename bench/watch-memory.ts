// Issue #5 / #8: resident memory of `meshdrift serve` watching 2,000 Argo CD Applications of 200
// resources each (target: at most 300 MB), printed, never asserted.
//
// Processes: this driver; the fake Kubernetes API holding the Applications (bench/kube-api-process.ts,
// its own process, so its memory is not counted); a redis-server of the bench's own; and the real
// `meshdrift serve` (src/main.ts, configured by environment alone: MESHDRIFT_CLUSTERS pointing at a
// kubeconfig for the fake, MESHDRIFT_WATCH=applications, leader election off, console receiver).
// meshdrift's memory is read from /proc (RSS and its peak) and from inside (bench/memory-probe.ts:
// heap used, before and after a full GC) at each phase:
//   1. started, nothing listed yet (watches off: a second process with no cluster);
//   2. the initial list ingested (every Application's signal counted on /metrics) and settled
//      (first notifications delivered, nothing moving for a few seconds);
//   3. after N watch MODIFIED events (each a new comparison of one app), ingested and settled.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { startOwnRedis } from '../test/support/redis-server.ts';
import type { KubeApiAnswer, KubeApiRequest } from './kube-api-process.ts';
import type { ProbeAnswer } from './memory-probe.ts';
import {
  EXTRA_NODE_FLAGS,
  mb,
  meshdriftBuild,
  onCleanup,
  residentMemory,
  runBench,
  sleep,
  startMeshdrift,
  stopChild,
  table,
  tempDir,
  track,
  type MeshdriftProcess,
} from './processes.ts';

const APPS = Number(process.env.BENCH_WATCH_APPS ?? 2000);
const RESOURCES = Number(process.env.BENCH_WATCH_RESOURCES ?? 200);
const MODIFIED = Number(process.env.BENCH_WATCH_MODIFIED ?? 2000);
const MODIFY_RATE = Number(process.env.BENCH_WATCH_MODIFY_RATE ?? 200); // events per second
const GROUP_WAIT_MS = 2_000;
const TARGET_MB = 300;
// Optional: write a heap snapshot of meshdrift at each phase into this directory.
const SNAPSHOT_DIR = process.env.BENCH_HEAPSNAPSHOT_DIR;
const DEADLINE_MS = Number(process.env.BENCH_WATCH_DEADLINE_MS ?? 600_000);

interface Phase {
  label: string;
  rss: number;
  peak: number;
  probe: ProbeAnswer;
  afterGc: ProbeAnswer;
  rssAfterGc: number;
}

async function measure(md: MeshdriftProcess, label: string): Promise<Phase> {
  const { rss, peak } = await residentMemory(md.pid);
  const probe = await md.probe({});
  const afterGc = await md.probe({
    gc: true,
    ...(SNAPSHOT_DIR ? { heapSnapshot: join(SNAPSHOT_DIR, `watch-${label.replace(/\W+/g, '-')}.heapsnapshot`) } : {}),
  });
  const rssAfterGc = (await residentMemory(md.pid)).rss;
  return { label, rss, peak, probe, afterGc, rssAfterGc };
}

/** Waits until `value()` reaches `target`, printing progress; returns the ms it took. */
async function reach(what: string, value: () => Promise<number>, target: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let last = -1;
  let lastPrint = 0;
  while (Date.now() - started < timeoutMs) {
    const v = await value();
    if (v >= target) return Date.now() - started;
    if (v !== last && Date.now() - lastPrint > 5000) {
      process.stdout.write(`    ${what}: ${v}/${target}\n`);
      lastPrint = Date.now();
    }
    last = v;
    await sleep(250);
  }
  throw new Error(`${what}: reached ${last} of ${target} within ${timeoutMs} ms`);
}

/** Settled: the notifications delivered stopped changing for `quietMs`. */
async function settle(md: MeshdriftProcess, quietMs: number): Promise<void> {
  await sleep(GROUP_WAIT_MS + 1000);
  let last = -1;
  let since = Date.now();
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
    const delivered = await md.counter('meshdrift_notifications_total');
    if (delivered !== last) {
      last = delivered;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await sleep(500);
  }
}

function kubeApi(): { send(req: KubeApiRequest, timeoutMs: number): Promise<KubeApiAnswer>; pid: number } {
  // Its store holds every Application (and each modified version) as JS objects: give it room.
  const child = track(
    fork(new URL('./kube-api-process.ts', import.meta.url), [], { execArgv: ['--max-old-space-size=8192'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  onCleanup(() => stopChild(child));
  return {
    pid: child.pid ?? -1,
    send(req, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fake kube api: no answer to ${req.type} within ${timeoutMs} ms`)), timeoutMs);
        child.once('message', (m) => {
          clearTimeout(timer);
          const answer = m as KubeApiAnswer;
          if (answer.type === 'error') reject(new Error(`fake kube api: ${answer.message}`));
          else resolve(answer);
        });
        child.send(req);
      });
    },
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  process.stdout.write(
    `meshdrift watch memory (node ${process.version}): ${APPS} Applications x ${RESOURCES} resources, then ${MODIFIED} MODIFIED events at ${MODIFY_RATE}/s\n`,
  );
  const build = await meshdriftBuild();
  process.stdout.write(
    `  meshdrift: node ${EXTRA_NODE_FLAGS.join(' ')}${EXTRA_NODE_FLAGS.length > 0 ? ' ' : ''}${build.main} serve (flags: ${process.env.BENCH_NODE_FLAGS !== undefined ? 'BENCH_NODE_FLAGS' : "the image's NODE_OPTIONS"})\n`,
  );
  const redis = await startOwnRedis();
  onCleanup(() => redis.stop());
  const dir = await tempDir('watch');
  const kubeconfigPath = join(dir, 'kubeconfig.json');

  // Baseline: the same service with no cluster to watch.
  const baseline = await startMeshdrift({ REDIS_URL: redis.url, MESHDRIFT_KEY_PREFIX: 'bench-watch-baseline' });
  await sleep(2000);
  const idle = await measure(baseline, 'started, no watches');
  await baseline.stop();

  const kube = kubeApi();
  const loaded = await kube.send({ type: 'load', apps: APPS, resources: RESOURCES, kubeconfigPath }, 300_000);
  if (loaded.type !== 'loaded') throw new Error('unexpected answer');
  process.stdout.write(
    `  fake kube api: ${loaded.apps} Applications stored in ${(loaded.ms / 1000).toFixed(1)} s, ~${mb(loaded.jsonBytes)} of JSON (~${(loaded.jsonBytes / loaded.apps / 1024).toFixed(0)} KB each)\n`,
  );

  const md = await startMeshdrift({
    REDIS_URL: redis.url,
    MESHDRIFT_KEY_PREFIX: 'bench-watch',
    MESHDRIFT_CLUSTERS: `bench=${kubeconfigPath}`,
    MESHDRIFT_WATCH: 'applications',
    MESHDRIFT_LEADER_ELECTION: 'false',
    MESHDRIFT_GROUP_WAIT: `${GROUP_WAIT_MS}ms`,
    // The audit re-list is measured on its own below (BENCH_WATCH_AUDIT); not mid-phase.
    MESHDRIFT_AUDIT_INTERVAL: '1h',
  });
  const signals = () =>
    md.counter('meshdrift_ingest_duration_seconds_count', 'source="argocd-watch"').catch((err: unknown) => {
      throw new Error(`meshdrift /metrics: ${err instanceof Error ? err.message : String(err)}\n${md.stderrTail().slice(-3000)}`);
    });
  const listMs = await reach('initial list: signals ingested', signals, APPS, 300_000);
  process.stdout.write(`  initial list of ${APPS} ingested ${(listMs / 1000).toFixed(1)} s after readiness\n`);
  await settle(md, 3000);
  const afterList = await measure(md, 'initial list ingested, settled');

  const before = await signals();
  const modified = await kube.send({ type: 'modify', count: MODIFIED, perSecond: MODIFY_RATE }, 300_000);
  if (modified.type !== 'modified') throw new Error('unexpected answer');
  // Several events of one app may be coalesced by the signal queue (only the newest snapshot waits),
  // so count ingests per app: at least one per app touched, and usually all of them.
  const expected = Math.min(MODIFIED, APPS);
  const modMs = await reach('modified: signals ingested', async () => (await signals()) - before, expected, 300_000);
  await sleep(2000);
  const ingestedMods = (await signals()) - before;
  process.stdout.write(
    `  ${MODIFIED} MODIFIED events sent in ${(modified.ms / 1000).toFixed(1)} s (${modified.openWatches} open watch); ${ingestedMods} signals ingested, ${(modMs / 1000).toFixed(1)} s after the last was sent\n`,
  );
  await settle(md, 3000);
  const afterModified = await measure(md, `after ${MODIFIED} MODIFIED events`);

  const notifications = await md.counter('meshdrift_notifications_total', 'outcome="success"');
  const restarts = await md.counter('meshdrift_watch_restarts_total');
  await md.stop();

  const phases = [idle, afterList, afterModified];
  process.stdout.write(`\nmeshdrift serve memory (RSS from /proc; heap from process.memoryUsage(); "after GC" = after a forced full GC)\n`);
  process.stdout.write(
    `${table(
      ['phase', 'RSS', 'peak RSS', 'heap used', 'heap total', 'external', 'RSS after GC', 'heap after GC', 'old space after GC', 'large objects after GC'],
      phases.map((p) => [
        p.label,
        mb(p.rss),
        mb(p.peak),
        mb(p.probe.heapUsed),
        mb(p.probe.heapTotal),
        mb(p.probe.external),
        mb(p.rssAfterGc),
        mb(p.afterGc.heapUsed),
        mb(p.afterGc.spaces.old_space ?? 0),
        mb(p.afterGc.spaces.large_object_space ?? 0),
      ]),
    )}\n`,
  );
  const worst = Math.max(afterList.rss, afterModified.rss);
  const peak = Math.max(afterList.peak, afterModified.peak);
  process.stdout.write(
    `  target (issue #5): RSS <= ${TARGET_MB} MB while watching ${APPS} x ${RESOURCES}: ${worst <= TARGET_MB * 1024 * 1024 ? 'MET' : 'MISSED'} (RSS ${mb(worst)} settled; peak ${mb(peak)} during the list)\n` +
      `  notifications delivered: ${notifications}; watch restarts: ${restarts}\n` +
      `  live heap per watched Application (after GC, minus the idle process): ${((afterList.afterGc.heapUsed - idle.afterGc.heapUsed) / APPS / 1024).toFixed(1)} KB\n`,
  );
  if (SNAPSHOT_DIR) process.stdout.write(`  heap snapshots in ${SNAPSHOT_DIR}\n`);
  process.stdout.write(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

runBench('watch-memory bench', DEADLINE_MS, main);

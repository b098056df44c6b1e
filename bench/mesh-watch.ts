// Issue #16: the mesh watch's memory at 20,000 watched mesh objects, and the watch-to-alert MTTD of
// a manual edit, printed, never asserted (docs/BENCHMARKS.md, "Issue #16").
//
// Processes: this driver (with the fake Slack); the fake Kubernetes API holding the VirtualServices
// (bench/mesh-api-process.ts, its own process); a redis-server of the bench's own; and the real
// `meshdrift serve` (src/main.ts), configured by environment alone: MESHDRIFT_CLUSTERS pointing at
// a kubeconfig for the fake, MESHDRIFT_WATCH=applications (no Applications: the Argo CD watch is
// idle), leader election off, the built-in Slack receiver pointed at the fake Slack.
//   1. The same service with the mesh watch off (MESHDRIFT_MESH_WATCH=off): RSS and heap.
//   2. With the mesh watch on: until meshdrift_mesh_objects says every object is checked, settled;
//      RSS and heap after a full GC (bench/memory-probe.ts).
//   3. MTTD: EDITS times, a `kubectl edit` of one VirtualService (another Argo CD app each time, so
//      each is a new alert group) written by the fake API; the time until the fake Slack received
//      the chat.postMessage naming it, minus group_wait. Compared with what the tools alone give.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { startFakeSlack } from '../test/fakes/slack.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';
import type { MeshApiAnswer, MeshApiRequest } from './mesh-api-process.ts';
import type { ProbeAnswer } from './memory-probe.ts';
import {
  mb,
  type MeshdriftProcess,
  onCleanup,
  percentile,
  residentMemory,
  runBench,
  sleep,
  startMeshdrift,
  stopChild,
  table,
  tempDir,
  track,
} from './processes.ts';

const OBJECTS = Number(process.env.BENCH_MESH_OBJECTS ?? 20_000);
const PER_APP = Number(process.env.BENCH_MESH_PER_APP ?? 100);
const EDITS = Number(process.env.BENCH_MESH_EDITS ?? 20);
const GROUP_WAIT_MS = Number(process.env.BENCH_MESH_GROUP_WAIT_MS ?? 1_000);
const DEADLINE_MS = Number(process.env.BENCH_MESH_DEADLINE_MS ?? 900_000);
const SLACK_TOKEN = 'xoxb-bench-mesh';

function meshApi(): { send(req: MeshApiRequest, timeoutMs: number): Promise<MeshApiAnswer> } {
  const child = track(
    fork(new URL('./mesh-api-process.ts', import.meta.url), [], { execArgv: ['--max-old-space-size=8192'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  onCleanup(() => stopChild(child));
  return {
    send(req, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fake kube api: no answer to ${req.type} within ${timeoutMs} ms`)), timeoutMs);
        child.once('message', (m) => {
          clearTimeout(timer);
          const answer = m as MeshApiAnswer;
          if (answer.type === 'error') reject(new Error(`fake kube api: ${answer.message}`));
          else resolve(answer);
        });
        child.send(req);
      });
    },
  };
}

interface Memory {
  label: string;
  rss: number;
  heapAfterGc: number;
  rssAfterGc: number;
}

async function measure(md: MeshdriftProcess, label: string): Promise<Memory> {
  const { rss } = await residentMemory(md.pid);
  const afterGc: ProbeAnswer = await md.probe({ gc: true });
  return { label, rss, heapAfterGc: afterGc.heapUsed, rssAfterGc: (await residentMemory(md.pid)).rss };
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 250): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

function serviceEnv(redisUrl: string, kubeconfig: string, slackUrl: string, prefix: string, mesh: 'on' | 'off'): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    MESHDRIFT_KEY_PREFIX: prefix,
    MESHDRIFT_CLUSTERS: `bench=${kubeconfig}`,
    MESHDRIFT_WATCH: 'applications',
    MESHDRIFT_LEADER_ELECTION: 'false',
    MESHDRIFT_MESH_WATCH: mesh,
    MESHDRIFT_GROUP_WAIT: `${GROUP_WAIT_MS}ms`,
    SLACK_BOT_TOKEN: SLACK_TOKEN,
    SLACK_CHANNEL: '#mesh-bench',
    SLACK_API_URL: slackUrl,
  };
}

async function main(): Promise<void> {
  process.stdout.write(`meshdrift mesh watch (node ${process.version}): ${OBJECTS} VirtualServices (${PER_APP} per Argo CD app), ${EDITS} kubectl edits\n`);
  const redis = await startOwnRedis();
  onCleanup(() => redis.stop());
  const slack = await startFakeSlack({ token: SLACK_TOKEN });
  onCleanup(() => slack.close());
  const dir = await tempDir('mesh-watch');
  const kubeconfig = join(dir, 'kubeconfig.json');
  const api = meshApi();
  const loaded = await api.send({ type: 'load', objects: OBJECTS, perApp: PER_APP, kubeconfigPath: kubeconfig }, 600_000);
  if (loaded.type !== 'loaded') throw new Error('load failed');
  process.stdout.write(`  fake API loaded: ${loaded.objects} objects, ~${mb(loaded.jsonBytes)} of JSON, in ${(loaded.ms / 1000).toFixed(1)} s\n`);

  const off = await startMeshdrift(serviceEnv(redis.url, kubeconfig, slack.url, 'bench-mesh-off', 'off'));
  await sleep(3_000);
  const without = await measure(off, 'mesh watch off');
  await off.stop();

  const md = await startMeshdrift(serviceEnv(redis.url, kubeconfig, slack.url, 'bench-mesh-on', 'on'));
  onCleanup(() => md.stop());
  const listMs = await until('every object checked', async () => (await md.counter('meshdrift_mesh_objects')) >= OBJECTS, 600_000, 500);
  await sleep(5_000);
  const withWatch = await measure(md, `mesh watch on, ${OBJECTS} objects`);
  process.stdout.write(`  ${OBJECTS} objects listed and checked in ${(listMs / 1000).toFixed(1)} s\n`);

  const mttd: number[] = [];
  for (let n = 0; n < EDITS; n++) {
    const index = n * PER_APP + (n % PER_APP);
    const before = slack.calls.filter((c) => c.method === 'chat.postMessage').length;
    const edited = await api.send({ type: 'edit', index }, 30_000);
    if (edited.type !== 'edited') throw new Error('edit failed');
    await until('the alert at Slack', () => slack.calls.filter((c) => c.method === 'chat.postMessage').length > before, 60_000, 5);
    mttd.push(Date.now() - edited.at - GROUP_WAIT_MS);
  }
  mttd.sort((a, b) => a - b);

  process.stdout.write(
    `\n${table(
      ['', 'RSS', 'heap after GC', 'RSS after GC'],
      [without, withWatch].map((m) => [m.label, mb(m.rss), mb(m.heapAfterGc), mb(m.rssAfterGc)]),
    )}\n`,
  );
  process.stdout.write(
    `  mesh watch cost: ${mb(withWatch.rssAfterGc - without.rssAfterGc)} RSS after GC, ${mb(withWatch.heapAfterGc - without.heapAfterGc)} heap, ~${((withWatch.heapAfterGc - without.heapAfterGc) / OBJECTS).toFixed(0)} bytes of heap per object\n`,
  );
  process.stdout.write(
    `\n  MTTD of a kubectl edit (fake API write -> fake Slack chat.postMessage, minus group_wait ${GROUP_WAIT_MS} ms), ${EDITS} edits: min ${mttd[0]} ms, p50 ${percentile(mttd, 50)} ms, p90 ${percentile(mttd, 90)} ms, max ${mttd.at(-1)} ms\n`,
  );
  process.stdout.write(
    '  the tools alone: Argo CD refreshes every 3 min (timeout.reconciliation 180 s: mean 90 s, worst 180 s before OutOfSync); Flux reports only after it reverted, at its interval (Kustomization spec.interval, 10 min in the Flux docs examples, 5 min-1 h typical: mean half of it)\n',
  );
}

runBench('mesh-watch', DEADLINE_MS, main);

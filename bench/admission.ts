// Issue #17: the recorder admission webhook, measured on the real `meshdrift serve` (bench/processes.ts)
// with a redis-server of its own and the Slack fake. Figures are printed, never asserted.
//
// 1. Throughput and answer latency: AdmissionReview UPDATEs (kubectl-edit by a person, oldObject →
//    object, ~2 KB each) of distinct unmanaged VirtualServices, posted over HTTPS (kept-alive
//    connections), N/4 one at a time, then BENCH_ADMISSION_N by BENCH_ADMISSION_CONCURRENCY clients
//    at once (each recorded in Redis behind the answer); latency is the
//    client's, from the write of the request to the last byte of the answer. Then what the recorder
//    did with them (records written / dropped, from /metrics).
// 2. Admission to Slack: BENCH_ADMISSION_SLACK_N manual changes, one at a time, each to a VirtualService
//    of a different Argo CD app (annotation tracking), from the POST to the Slack fake's receipt of
//    the chat.postMessage that names the person, minus group_wait. The requests are spaced by 1.1 s
//    (Slack takes about one message a second per channel, and meshdrift paces itself to that).
// 3. The answers again with Redis stopped (the bench's own redis-server killed): N/4 one at a time,
//    then N/4 by BENCH_ADMISSION_CONCURRENCY clients; every answer must still be an allow, within
//    the listener's deadline, while the recording fails behind it.
import { createServer } from 'node:net';
import { Agent, request } from 'node:https';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeSlack, type FakeSlackCall } from '../test/fakes/slack.ts';
import { paymentsVs, review, selfSignedCert } from '../test/support/admission.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';
import { onCleanup, percentile, runBench, sleep, startMeshdrift, table, tempDir } from './processes.ts';

const N = Number(process.env.BENCH_ADMISSION_N ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_ADMISSION_CONCURRENCY ?? 16);
const SLACK_N = Number(process.env.BENCH_ADMISSION_SLACK_N ?? 30);
const GROUP_WAIT_MS = Number(process.env.BENCH_ADMISSION_GROUP_WAIT_MS ?? 200);
const DEADLINE_MS = Number(process.env.BENCH_DEADLINE_MS ?? 280_000);
const TOKEN = 'xoxb-bench-admission-token';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function post(url: string, body: string, ca: Buffer, agent: Agent): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/admission`,
      { method: 'POST', ca, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A VirtualService with its own uid and name; `app`: managed by that Argo CD app (tracking annotation). */
function vs(i: number, weight: number, app?: string): Record<string, unknown> {
  const o = paymentsVs(weight, '7');
  const meta = o.metadata as Record<string, unknown>;
  meta.name = `vs-${i}`;
  meta.namespace = 'bench';
  meta.uid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  meta.annotations = app === undefined ? {} : { 'argocd.argoproj.io/tracking-id': `${app}:networking.istio.io/VirtualService:bench/vs-${i}` };
  return o;
}

const ms = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : 'n/a');

async function throughput(url: string, ca: Buffer, n: number, concurrency: number): Promise<string[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const bodies = Array.from({ length: Math.min(n, 1000) }, (_, i) =>
    JSON.stringify(review({ operation: 'UPDATE', username: 'alice@corp', oldObject: vs(i, 10), object: vs(i, 60), fieldManager: 'kubectl-edit' })),
  );
  // Warm-up: TLS handshakes, JIT.
  await Promise.all(Array.from({ length: concurrency * 4 }, (_, i) => post(url, bodies[i % bodies.length] ?? '', ca, agent)));
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const start = performance.now();
        const r = await post(url, bodies[i % bodies.length] ?? '', ca, agent);
        latencies.push(performance.now() - start);
        if (r.status !== 200 || !r.text.includes('"allowed":true')) errors++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return [
    String(n),
    String(concurrency),
    `${(n / seconds).toFixed(0)}/s`,
    ms(percentile(latencies, 50)),
    ms(percentile(latencies, 99)),
    ms(latencies.at(-1) ?? Number.NaN),
    String(errors),
  ];
}

async function toSlack(url: string, ca: Buffer, calls: FakeSlackCall[]): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const out: number[] = [];
  for (let i = 0; i < SLACK_N; i++) {
    const app = `bench-app-${i}`;
    const body = JSON.stringify(
      review({
        operation: 'UPDATE',
        username: `person-${i}@corp`,
        oldObject: vs(100_000 + i, 10, app),
        object: vs(100_000 + i, 50, app),
        fieldManager: 'kubectl-edit',
      }),
    );
    const seen = calls.length;
    const sentAt = Date.now();
    await post(url, body, ca, agent);
    const deadline = Date.now() + 15_000;
    let receivedAt: number | undefined;
    while (receivedAt === undefined && Date.now() < deadline) {
      await sleep(1);
      const call = calls.slice(seen).find((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args).includes(`person-${i}@corp`));
      receivedAt = call?.at;
    }
    if (receivedAt !== undefined) out.push(receivedAt - sentAt - GROUP_WAIT_MS);
    await sleep(1_100);
  }
  agent.destroy();
  return out.sort((a, b) => a - b);
}

async function metric(url: string, name: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .map((l) => l.replace(`${name}`, '').trim())
    .join(', ');
}

async function main(): Promise<void> {
  process.stdout.write(
    `meshdrift admission recorder (node ${process.version}): ${N} requests at concurrency ${CONCURRENCY}, then ${SLACK_N} manual changes to Slack\n`,
  );
  const redis = await startOwnRedis();
  onCleanup(() => redis.stop());
  const slack = await startFakeSlack({ token: TOKEN });
  onCleanup(() => slack.close());
  const dir = await tempDir('admission');
  const tls = selfSignedCert(dir);
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(
    policyFile,
    `receivers:\n  - name: chat\n    slack: { channel: '#bench-admission' }\nroute:\n  receiver: chat\n  group_wait: ${GROUP_WAIT_MS}ms\n  group_interval: 10m\n`,
  );
  const admissionPort = await freePort();
  const md = await startMeshdrift({
    REDIS_URL: redis.url,
    MESHDRIFT_KEY_PREFIX: 'bench-admission',
    MESHDRIFT_POLICY: policyFile,
    MESHDRIFT_CLUSTER: 'bench',
    MESHDRIFT_GROUP_WAIT: `${GROUP_WAIT_MS}ms`,
    SLACK_BOT_TOKEN: TOKEN,
    SLACK_CHANNEL: '#bench-admission',
    SLACK_API_URL: slack.url,
    MESHDRIFT_ADMISSION: 'true',
    MESHDRIFT_ADMISSION_PORT: String(admissionPort),
    MESHDRIFT_ADMISSION_HOST: '127.0.0.1',
    MESHDRIFT_ADMISSION_TLS_CERT: tls.certFile,
    MESHDRIFT_ADMISSION_TLS_KEY: tls.keyFile,
    MESHDRIFT_ARGOCD_INSTANCE_LABEL: '',
  });
  const url = `https://127.0.0.1:${admissionPort}`;
  const rows = [await throughput(url, tls.cert, Math.ceil(N / 4), 1), await throughput(url, tls.cert, N, CONCURRENCY)];
  process.stdout.write(
    `\n1. AdmissionReview answers (HTTPS, client-side latency)\n${table(['requests', 'concurrency', 'throughput', 'p50', 'p99', 'max', 'not allowed'], rows)}\n`,
  );
  await sleep(2_000);
  process.stdout.write(`   records: ${await metric(md.url, 'meshdrift_admission_records_total')}\n`);
  process.stdout.write(
    `   server-side answer time: count ${await metric(md.url, 'meshdrift_admission_duration_seconds_count')}, sum ${await metric(md.url, 'meshdrift_admission_duration_seconds_sum')} s\n`,
  );
  const lat = await toSlack(url, tls.cert, slack.calls);
  process.stdout.write(
    `\n2. Manual change to Slack (admission POST -> chat.postMessage received, minus group_wait ${GROUP_WAIT_MS} ms)\n${table(
      ['changes', 'told', 'p50', 'p90', 'p99', 'max'],
      [[String(SLACK_N), String(lat.length), ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99)), ms(lat.at(-1) ?? Number.NaN)]],
    )}\n`,
  );
  await redis.stop();
  const down = [await throughput(url, tls.cert, Math.ceil(N / 4), 1), await throughput(url, tls.cert, Math.ceil(N / 4), CONCURRENCY)];
  process.stdout.write(
    `\n3. AdmissionReview answers with Redis stopped\n${table(['requests', 'concurrency', 'throughput', 'p50', 'p99', 'max', 'not allowed'], down)}\n`,
  );
  process.stdout.write(`   records: ${await metric(md.url, 'meshdrift_admission_records_total')}\n`);
}

runBench('bench/admission.ts', DEADLINE_MS, main);

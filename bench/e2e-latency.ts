// Issue #8: end-to-end latency, from sending an Argo CD webhook to the Slack fake's receipt of the
// chat.postMessage for it, minus group_wait (target: p99 <= 100 ms). Printed, never asserted.
//
// Processes: this driver, which also runs the Slack fake (test/fakes/slack.ts, recording each
// call's arrival time); a redis-server of its own; the real `meshdrift serve` (bench/processes.ts:
// compiled, configured by environment and a policy file, logs at info as in production).
// Each webhook is an Argo CD Application snapshot (bench/argocd-apps.ts) of a distinct app with one
// drifted resource, so each makes a new alert group and one Slack message.
//
// Slack allows about one message per second per channel and meshdrift paces itself to that
// (src/deliver/slack/rate-limit.ts), so messages for one channel faster than that wait by design.
// The policy routes the apps' 40 namespaces to 40 Slack receivers, one channel each, so that at the
// rates used here no channel goes above 1 message/s and the figure is meshdrift's own latency.
//
// Two loads: one webhook at a time (send, wait for its message, next), and an open-loop steady
// rate. In the first, meshdrift's log lines (the only ones in flight belong to the webhook being
// measured) split each latency into: webhook answered, flush decided, message received by Slack.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeSlack, type FakeSlack, type FakeSlackCall } from '../test/fakes/slack.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';
import { makeApplication } from './argocd-apps.ts';
import { onCleanup, percentile, runBench, sleep, startMeshdrift, table, tempDir, type MeshdriftProcess } from './processes.ts';

const GROUP_WAIT_MS = Number(process.env.BENCH_LATENCY_GROUP_WAIT_MS ?? 200);
const SEQUENTIAL = Number(process.env.BENCH_LATENCY_SEQUENTIAL ?? 300);
const STEADY = Number(process.env.BENCH_LATENCY_STEADY ?? 1200);
const RATE = Number(process.env.BENCH_LATENCY_RATE ?? 20); // webhooks per second
const WARMUP = 20;
const RESOURCES = 50;
const CHANNELS = 40; // = the namespaces of bench/argocd-apps.ts (team-0 … team-39)
const TARGET_P99_MS = 100;
const TOKEN = 'xoxb-bench-latency-token';
const ARGOCD_TOKEN = 'bench-argocd-token';
const DEADLINE_MS = 300_000;
// Extra redis-server arguments, space-separated, e.g. `--hz 100` (see docs/BENCHMARKS.md).
const REDIS_ARGS = (process.env.BENCH_REDIS_ARGS ?? '').split(' ').filter((a) => a !== '');

function policy(): string {
  const receivers = Array.from({ length: CHANNELS }, (_, k) => `  - name: slack-${k}\n    slack:\n      channel: '#bench-latency-${k}'\n`).join('');
  const routes = Array.from({ length: CHANNELS }, (_, k) => `    - receiver: slack-${k}\n      matchers: ['namespace="team-${k}"']\n`).join('');
  return `receivers:\n${receivers}route:\n  receiver: slack-0\n  group_wait: ${GROUP_WAIT_MS}ms\n  group_interval: 10m\n  repeat_interval: 4h\n  routes:\n${routes}`;
}

interface Sample {
  index: number;
  sentAt: number;
  answeredAt: number;
  status: number;
  receivedAt?: number;
}

/** The app index a Slack message is about: its fallback text names the owner (`Application argocd/<name>`). */
function appIndexOf(call: FakeSlackCall, runId: string): number | undefined {
  const text = typeof call.args.text === 'string' ? call.args.text : '';
  const m = new RegExp(`argocd/${runId}-(\\d+)\\b`).exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** Matches Slack messages to samples as they arrive (a cursor over the fake's call log). */
function receipts(slack: FakeSlack, runId: string, samples: Map<number, Sample>): () => void {
  let seen = 0;
  return () => {
    for (; seen < slack.calls.length; seen++) {
      const call = slack.calls[seen];
      if (call === undefined || call.method !== 'chat.postMessage') continue;
      const i = appIndexOf(call, runId);
      const s = i === undefined ? undefined : samples.get(i);
      if (s !== undefined && s.receivedAt === undefined) s.receivedAt = call.at;
    }
  };
}

/** Posts the snapshot of app `index`; fills `sample` (the receipt may come in before the answer). */
async function send(url: string, runId: string, sample: Sample): Promise<void> {
  const app = makeApplication({ index: sample.index, prefix: runId, resources: RESOURCES, drifted: 1, reconciledAt: Date.now() });
  const body = JSON.stringify({ app, cluster: 'bench' });
  sample.sentAt = Date.now();
  const res = await fetch(`${url}/webhooks/argocd`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ARGOCD_TOKEN}` },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  sample.answeredAt = Date.now();
  sample.status = res.status;
}

const newSample = (index: number): Sample => ({ index, sentAt: 0, answeredAt: 0, status: 0 });

interface LogLine {
  time: number;
  msg: string;
}

/** meshdrift's JSON log lines on stderr since `from` (info level: notification decided / delivered). */
function logLines(md: MeshdriftProcess, from: number): LogLine[] {
  return md
    .stderrTail()
    .split('\n')
    .flatMap((l) => {
      try {
        const j = JSON.parse(l) as { time?: unknown; msg?: unknown };
        return typeof j.time === 'number' && typeof j.msg === 'string' && j.time >= from ? [{ time: j.time, msg: j.msg }] : [];
      } catch {
        return [];
      }
    });
}

interface Breakdown {
  answer: number[];
  toDecided: number[];
  decidedToSlack: number[];
}

async function sequential(md: MeshdriftProcess, slack: FakeSlack, runId: string, count: number, breakdown: Breakdown | null): Promise<Sample[]> {
  const samples = new Map<number, Sample>();
  const poll = receipts(slack, runId, samples);
  for (let i = 0; i < count; i++) {
    const s = newSample(i);
    samples.set(i, s);
    await send(md.url, runId, s);
    const deadline = Date.now() + 10_000;
    while (s.receivedAt === undefined && Date.now() < deadline) {
      await sleep(1);
      poll();
    }
    if (breakdown !== null && s.receivedAt !== undefined) {
      await sleep(20); // the "delivered" line is written after Slack's answer
      const decided = logLines(md, s.sentAt).find((l) => l.msg === 'notification decided');
      breakdown.answer.push(s.answeredAt - s.sentAt);
      if (decided !== undefined) {
        breakdown.toDecided.push(decided.time - s.sentAt - GROUP_WAIT_MS);
        breakdown.decidedToSlack.push(s.receivedAt - decided.time);
      }
    }
  }
  return [...samples.values()];
}

async function steady(md: MeshdriftProcess, slack: FakeSlack, runId: string, count: number, rate: number): Promise<{ samples: Sample[]; lagMs: number }> {
  const samples = new Map<number, Sample>();
  const poll = receipts(slack, runId, samples);
  const inFlight: Array<Promise<void>> = [];
  const t0 = performance.now();
  let lagMs = 0;
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / rate;
    await sleep(due - performance.now());
    lagMs = Math.max(lagMs, performance.now() - due);
    const s = newSample(i);
    samples.set(i, s);
    inFlight.push(send(md.url, runId, s).catch(() => undefined));
    poll();
  }
  await Promise.all(inFlight);
  const deadline = Date.now() + 20_000;
  while ([...samples.values()].some((s) => s.receivedAt === undefined) && Date.now() < deadline) {
    await sleep(5);
    poll();
  }
  poll();
  return { samples: [...samples.values()], lagMs };
}

function latencies(samples: Sample[]): { ms: number[]; lost: number; errors: number } {
  const ms = samples.flatMap((s) => (s.receivedAt === undefined ? [] : [s.receivedAt - s.sentAt - GROUP_WAIT_MS])).sort((a, b) => a - b);
  return { ms, lost: samples.filter((s) => s.status === 202 && s.receivedAt === undefined).length, errors: samples.filter((s) => s.status !== 202).length };
}

const fmt = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : 'n/a');
const row = (label: string, values: number[]): string[] => {
  const sorted = [...values].sort((a, b) => a - b);
  return [label, String(sorted.length), fmt(percentile(sorted, 50)), fmt(percentile(sorted, 90)), fmt(percentile(sorted, 99)), fmt(sorted.at(-1) ?? NaN)];
};

async function main(): Promise<void> {
  const started = Date.now();
  process.stdout.write(
    `meshdrift end-to-end latency (node ${process.version}): Argo CD webhook -> Slack fake's receipt of chat.postMessage, minus group_wait ${GROUP_WAIT_MS} ms\n` +
      `  ${SEQUENTIAL} one at a time, then ${STEADY} at ${RATE}/s (open loop); each a distinct app with 1 drifted resource of ${RESOURCES}; ${CHANNELS} channels; redis-server ${REDIS_ARGS.join(' ') || '(defaults)'}\n`,
  );
  const redis = await startOwnRedis(REDIS_ARGS);
  onCleanup(() => redis.stop());
  const slack = await startFakeSlack({ token: TOKEN });
  onCleanup(() => slack.close());
  const dir = await tempDir('latency');
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, policy());
  const md = await startMeshdrift({
    REDIS_URL: redis.url,
    MESHDRIFT_KEY_PREFIX: 'bench-latency',
    MESHDRIFT_POLICY: policyFile,
    MESHDRIFT_ARGOCD_TOKEN: ARGOCD_TOKEN,
    // The token speaks for MESHDRIFT_CLUSTER only: the bodies say cluster "bench".
    MESHDRIFT_CLUSTER: 'bench',
    MESHDRIFT_GROUP_WAIT: `${GROUP_WAIT_MS}ms`,
    MESHDRIFT_LOG_LEVEL: 'info',
    SLACK_BOT_TOKEN: TOKEN,
    // Required with the token; the policy's receivers name their own channels.
    SLACK_CHANNEL: '#bench-latency-0',
    SLACK_API_URL: slack.url,
  });

  await sequential(md, slack, 'warm', WARMUP, null);
  const breakdown: Breakdown = { answer: [], toDecided: [], decidedToSlack: [] };
  const seq = latencies(await sequential(md, slack, 'seq', SEQUENTIAL, breakdown));
  const { samples, lagMs } = await steady(md, slack, 'steady', STEADY, RATE);
  const st = latencies(samples);
  const rateLimited = await md.counter('meshdrift_notifications_total', 'outcome="rate_limited"');
  const delivered = await md.counter('meshdrift_notifications_total', 'outcome="success"');
  await md.stop();

  process.stdout.write(
    `\n${table(['webhook -> Slack receipt, minus group_wait', 'n', 'p50', 'p90', 'p99', 'max'], [row('one at a time', seq.ms), row(`steady ${RATE}/s`, st.ms)])}\n`,
  );
  process.stdout.write(
    `\n  where the time goes, one at a time (meshdrift's log times and the fake's receipt; same clock):\n${table(
      ['part', 'n', 'p50', 'p90', 'p99', 'max'],
      [
        row('send -> 202 (HTTP, verify, parse, classify, commit, schedule flush)', breakdown.answer),
        row('send + group_wait -> flush decided (delayed job to worker, flush commit)', breakdown.toDecided),
        row('flush decided -> Slack receipt (deliver job, render, rate limit, HTTP)', breakdown.decidedToSlack),
      ],
    )}\n`,
  );
  const p99 = Math.max(percentile(seq.ms, 99), percentile(st.ms, 99));
  process.stdout.write(
    `\n  target (issue #8): p99 <= ${TARGET_P99_MS} ms: ${p99 <= TARGET_P99_MS ? 'MET' : 'MISSED'} (worst p99 ${fmt(p99)})\n` +
      `  webhooks not answered 202: ${seq.errors + st.errors}; answered but no message within the wait: ${seq.lost + st.lost}; deliveries ${delivered}, deferred by the channel rate limit ${rateLimited}; driver lag up to ${lagMs.toFixed(0)} ms\n` +
      `\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
}

runBench('e2e-latency bench', DEADLINE_MS, main);

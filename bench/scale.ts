// npm run bench:scale (issue #15): a drift storm from one bad push. Printed, never asserted.
//
// `meshdrift serve` runs as a child process (bench/processes.ts startMeshdrift: the compiled service
// with the image's Node flags) on a redis-server of the bench's own, with two receivers on one route:
// Slack (the local fake, test/fakes/slack.ts: a Slack Web API on 127.0.0.1) and a webhook receiver
// (test/support/webhook-sink.ts, counting the distinct findings told firing). The storm comes from a
// separate process (bench/scale-sender.ts): one Argo CD webhook per app, the apps spread over the
// clusters, every drifted resource at one sync revision, BENCH_SCALE_CONCURRENCY at a time.
// Policy: today's default grouping and timers (group_wait 10s); only the receivers are the bench's.
//
// "Told" per receiver: the webhook receiver when it has been told every finding of every accepted
// app firing; Slack when every accepted app has been named in what Slack received (messages, thread
// replies and edits); either, when a storm summary's headline ("N resources in M apps drifted ...")
// counts every accepted app (the largest M one headline gave: storms of one cause); for Slack, plus
// the apps told alone before the storm opened (named in a top-level message that is no summary;
// meshdrift keeps groups already told out of a storm). The webhook receiver's count is not
// combined so (its posts are not told apart): a storm that began late reads "not told" there. The wait is bounded (BENCH_SCALE_TELL_TIMEOUT_S): past it the
// bench prints how far each receiver got and what the rate seen so far would need for the rest.
//
// At the end: lost and duplicate notifications per receiver (every accepted app must be told exactly
// once: in a message of its own, or as a member of a storm, read from GET /api/v1/storms/{id}; a
// webhook (group, seq) posted twice is a duplicate too), and the longest pacing backlog (the longest
// an app told alone on Slack waited past group_wait, at the 250 ms the bench reads Slack's calls;
// and the most deliver-queue jobs waiting or delayed at once, sampled every 250 ms).
//
// Size (env): BENCH_SCALE_CLUSTERS (default 5), BENCH_SCALE_APPS (default 100),
// BENCH_SCALE_RESOURCES (drifted resources in all, default 1000), BENCH_SCALE_CONCURRENCY (default
// 16), BENCH_SCALE_TELL_TIMEOUT_S (default 300), BENCH_SCALE_GROUP_WAIT (the route's group_wait,
// e.g. 1s for a quick smoke run; default unset: the policy default); any MESHDRIFT_* variable is
// passed to the service (e.g. MESHDRIFT_MAX_ALERT_GROUPS). Issue #15's full size:
// BENCH_SCALE_CLUSTERS=50 BENCH_SCALE_APPS=10000 BENCH_SCALE_RESOURCES=100000.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { fork } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startFakeSlack } from '../test/fakes/slack.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';
import { startWebhookSink } from '../test/support/webhook-sink.ts';
import { EXTRA_NODE_FLAGS, mb, onCleanup, residentMemory, runBench, sleep, startMeshdrift, stopChild, track } from './processes.ts';
import type { StormRequest, StormResult } from './scale-sender.ts';

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v < 1) throw new Error(`${name} must be a positive number`);
  return Math.floor(v);
};
const CLUSTERS = num('BENCH_SCALE_CLUSTERS', 5);
const APPS = num('BENCH_SCALE_APPS', 100);
const RESOURCES = num('BENCH_SCALE_RESOURCES', 1000);
const CONCURRENCY = num('BENCH_SCALE_CONCURRENCY', 16);
const TELL_TIMEOUT_S = num('BENCH_SCALE_TELL_TIMEOUT_S', 300);
const TOKEN = 'bench-argocd-token';
const SLACK_TOKEN = 'xoxb-bench-not-a-secret';
const PREFIX = 'bench-scale';
const GROUP_WAIT = process.env.BENCH_SCALE_GROUP_WAIT ?? '';
const REVISION = 'abc1234def5678abc1234def5678abc1234def56';
/** The route's group_wait in ms (BENCH_SCALE_GROUP_WAIT as 500ms, 1s, 2m; unset: the default 10s). */
const GROUP_WAIT_MS = ((): number => {
  const m = /^(\d+)(ms|s|m)$/.exec(GROUP_WAIT);
  if (GROUP_WAIT === '' || !m) return 10_000;
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
})();

/** What the webhook receiver was told alone (no storm summary): apps, and (group, seq) told more than once. */
function webhookTally(): { alone: Set<string>; duplicates: () => number; add(text: string): void } {
  const alone = new Set<string>();
  const seen = new Set<string>();
  let duplicates = 0;
  return {
    alone,
    duplicates: () => duplicates,
    add(text) {
      try {
        const body = JSON.parse(text) as { storm?: unknown; groupKey?: string; seq?: number; groupLabels?: { owner?: string } };
        if (body.storm !== undefined) return;
        const key = `${body.groupKey}#${body.seq}`;
        if (seen.has(key)) duplicates++;
        seen.add(key);
        if (body.groupLabels?.owner !== undefined) alone.add(body.groupLabels.owner);
      } catch {
        // counted by the sink as a bad post
      }
    },
  };
}

/** Apps (by Application name) that are members of each receiver's storms, from GET /api/v1/storms and /storms/{id}. */
async function stormMembers(url: string): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  const list = (await (await fetch(`${url}/api/v1/storms`)).json()) as { storms: Array<{ receiver: string; href: string }> };
  for (const storm of list.storms) {
    const apps = out.get(storm.receiver) ?? new Map<string, number>();
    out.set(storm.receiver, apps);
    let next: string | undefined = '0';
    while (next !== undefined) {
      const page = (await (await fetch(`${url}${storm.href}?limit=1000&cursor=${next}`)).json()) as { members: Array<{ owner: string }>; next?: string };
      for (const m of page.members) {
        const app = m.owner.slice(m.owner.lastIndexOf('/') + 1);
        apps.set(app, (apps.get(app) ?? 0) + 1);
      }
      next = page.next;
    }
  }
  return out;
}

/** Delivery jobs to the Slack receiver (`chat`) waiting in the delayed set: deferred by pacing (or backing off). At most 2,000 looked at. */
async function pacedSlackDeliveries(redis: Redis, queue: string): Promise<number> {
  const ids = await redis.zrange(`${queue}:delayed`, 0, 1999);
  if (ids.length === 0) return 0;
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hmget(`${queue}:${id}`, 'name', 'data');
  const rows = (await pipe.exec()) ?? [];
  return rows.filter(([err, v]) => {
    const [name, data] = (err === null ? v : [null, null]) as [string | null, string | null];
    return name === 'deliver' && (data ?? '').includes('"receiver":"chat"');
  }).length;
}

/** Redis memory by key family (the prefix's next segment: group, deliver, storm, ...), MEMORY USAGE of every key. */
async function memoryByFamily(redis: Redis): Promise<Array<[string, number]>> {
  const families = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    const pipe = redis.pipeline();
    for (const k of keys) pipe.call('MEMORY', 'USAGE', k);
    const sizes = (await pipe.exec()) ?? [];
    keys.forEach((k, i) => {
      const family = k.split(':').slice(0, 2).join(':');
      families.set(family, (families.get(family) ?? 0) + Number(sizes[i]?.[1] ?? 0));
    });
  } while (cursor !== '0');
  return [...families].sort((a, b) => b[1] - a[1]);
}

/** Lost (told neither alone nor as a storm member) and duplicate (told twice) apps of one receiver. */
function accounting(
  accepted: ReadonlySet<string>,
  alone: ReadonlyMap<string, number>,
  members: ReadonlyMap<string, number> | undefined,
): { lost: number; duplicates: number } {
  let lost = 0;
  let duplicates = 0;
  for (const app of accepted) {
    const times = (alone.get(app) ?? 0) + (members?.get(app) ?? 0);
    if (times === 0) lost++;
    if (times > 1) duplicates += times - 1;
    if (process.env.BENCH_VERBOSE && times !== 1) process.stdout.write(`  ${app}: told alone ${alone.get(app) ?? 0}, storm member ${members?.get(app) ?? 0}\n`);
  }
  return { lost, duplicates };
}

async function redisMemory(redis: Redis): Promise<{ used: number; peak: number }> {
  const info = await redis.info('memory');
  const field = (f: string): number => Number(new RegExp(`^${f}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  return { used: field('used_memory'), peak: field('used_memory_peak') };
}

/** meshdrift's own counts of signal outcomes and notification attempts, from /metrics. */
async function countersOf(url: string): Promise<{ signals: string; notifications: string }> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text().catch(() => '');
  const pick = (metric: string, labels: string[]): string =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${metric}{`))
      .map((l) => `${labels.map((k) => new RegExp(`${k}="([^"]*)"`).exec(l)?.[1] ?? '?').join('/')} ${l.slice(l.lastIndexOf(' ') + 1)}`)
      .join(', ') || '-';
  return { signals: pick('meshdrift_signals_total', ['outcome']), notifications: pick('meshdrift_notifications_total', ['receiver', 'outcome']) };
}

function sendStorm(req: StormRequest, timeoutMs: number): Promise<StormResult> {
  const child = track(fork(new URL('./scale-sender.ts', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  return new Promise<StormResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the storm sender did not finish within ${timeoutMs / 1000} s`)), timeoutMs);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as StormResult);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the storm sender exited ${code}`));
    });
    child.send(req);
  }).finally(() => stopChild(child));
}

runBench('scale bench', (TELL_TIMEOUT_S + 900) * 1000, async () => {
  if (RESOURCES < APPS) throw new Error('BENCH_SCALE_RESOURCES must be at least BENCH_SCALE_APPS (every app has a drifted resource)');
  const own = await startOwnRedis();
  onCleanup(() => own.stop());
  const redis = new Redis(own.url);
  onCleanup(async () => void redis.disconnect());
  const slack = await startFakeSlack({ token: SLACK_TOKEN });
  onCleanup(() => slack.close());
  // A storm summary's headline ("1,412 resources in 387 apps drifted ...", src/deliver/storm.ts):
  // the most apps one headline has counted, per receiver.
  const summaryApps = { slack: 0, hook: 0 };
  const headline = (text: string, receiver: 'slack' | 'hook'): void => {
    for (const m of text.matchAll(/([\d,]+) resources? in ([\d,]+) apps? drifted/g))
      summaryApps[receiver] = Math.max(summaryApps[receiver], Number((m[2] ?? '0').replaceAll(',', '')));
  };
  const hook = webhookTally();
  const hookCounts: Array<{ at: number; apps: number }> = [];
  const sink = await startWebhookSink({
    onBody: (text) => {
      headline(text, 'hook');
      hook.add(text);
      // How many apps the webhook receiver had been told of, when (the loop reads it later).
      hookCounts.push({ at: Date.now(), apps: hook.alone.size + summaryApps.hook });
    },
  });
  onCleanup(() => sink.close());
  const dir = await mkdtemp(join(tmpdir(), 'meshdrift-bench-scale-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const policy = join(dir, 'policy.yaml');
  await writeFile(
    policy,
    [
      'receivers:',
      '  - { name: chat, slack: { channel: "#mesh-drift" } }',
      '  - { name: hook, webhook: { url_env: HOOK_URL } }',
      'route:',
      '  receiver: chat',
      ...(GROUP_WAIT === '' ? [] : [`  group_wait: ${JSON.stringify(GROUP_WAIT)}`]),
      '  routes:',
      '    - { receiver: chat, continue: true }',
      '    - { receiver: hook }',
      '',
    ].join('\n'),
  );
  const before = await redisMemory(redis);
  const svc = await startMeshdrift({
    // MESHDRIFT_* settings from the bench's environment reach the service (e.g. a bound to raise).
    ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('MESHDRIFT_') && e[1] !== undefined)),
    REDIS_URL: own.url,
    MESHDRIFT_KEY_PREFIX: PREFIX,
    MESHDRIFT_POLICY: policy,
    MESHDRIFT_ARGOCD_TOKEN: TOKEN,
    MESHDRIFT_LEGACY_SENDER_CLUSTERS: '*',
    MESHDRIFT_ALLOW_UNAUTHENTICATED: 'api,flux',
    SLACK_BOT_TOKEN: SLACK_TOKEN,
    SLACK_CHANNEL: '#mesh-drift',
    SLACK_API_URL: slack.url,
    HOOK_URL: sink.url,
  });
  onCleanup(() => svc.stop());
  const idle = await residentMemory(svc.pid);
  process.stdout.write(
    `scale bench (node ${process.version}; meshdrift serve, node flags: ${EXTRA_NODE_FLAGS.join(' ') || '(V8 defaults)'}): ${CLUSTERS} clusters, ${APPS} Argo CD apps, ${RESOURCES} drifted resources at one revision, ${CONCURRENCY} webhooks at a time from a separate process\n`,
  );

  let rssPeak = idle.rss;
  let redisPeak = before.used;
  // Deliver-queue jobs not yet run (waiting, prioritized, delayed: deferred by pacing or retrying).
  let backlogPeak = 0;
  // Slack deliveries deferred by the channel's pacing at once (delayed `deliver` jobs for the Slack
  // receiver): each needs at least one 1-s slot, so N of them are a backlog of N seconds or more.
  let pacedPeak = 0;
  let pacedReading = false;
  const q = `${PREFIX}:deliver`;
  let died = false;
  svc.child.once('exit', () => (died = true));
  const sampler = setInterval(() => {
    residentMemory(svc.pid).then(
      (m) => (rssPeak = Math.max(rssPeak, m.rss)),
      () => undefined,
    );
    redisMemory(redis).then(
      (m) => (redisPeak = Math.max(redisPeak, m.used)),
      () => undefined,
    );
    Promise.all([redis.llen(`${q}:wait`), redis.zcard(`${q}:prioritized`), redis.zcard(`${q}:delayed`)]).then(
      (n) => (backlogPeak = Math.max(backlogPeak, n[0] + n[1] + n[2])),
      () => undefined,
    );
    if (!pacedReading) {
      pacedReading = true;
      pacedSlackDeliveries(redis, q)
        .then(
          (n) => (pacedPeak = Math.max(pacedPeak, n)),
          () => undefined,
        )
        .finally(() => (pacedReading = false));
    }
  }, 250);
  onCleanup(async () => clearInterval(sampler));

  const started = performance.now();
  const startedAt = Date.now();
  // When each Slack call came (epoch ms, stamped every 100 ms from now on, the storm's sending
  // included): the loop below reads the calls only once the sender is done.
  const callAt: number[] = [];
  const stamper = setInterval(() => {
    for (let i = callAt.length; i < slack.calls.length; i++) callAt.push(Date.now());
  }, 100);
  onCleanup(async () => clearInterval(stamper));
  const storm = await sendStorm(
    {
      url: `${svc.url}/webhooks/argocd`,
      token: TOKEN,
      clusters: CLUSTERS,
      apps: APPS,
      resources: RESOURCES,
      revision: REVISION,
      concurrency: CONCURRENCY,
      retries: 4,
      budgetMs: TELL_TIMEOUT_S * 1000,
    },
    (TELL_TIMEOUT_S + 600) * 1000,
  );
  const accepted = new Set(storm.accepted);
  const per = (i: number): number => Math.floor(RESOURCES / APPS) + (i < RESOURCES % APPS ? 1 : 0);
  let wantFindings = 0;
  for (let i = 0; i < APPS; i++) if (accepted.has(`scale-app-${i}`)) wantFindings += per(i);

  // Slack: the accepted apps named so far, read from the calls as they come (each call read once).
  const named = new Set<string>();
  const namedAlone = new Set<string>();
  // Top-level messages that are no summary, per app (more than one: a duplicate).
  const alonePosts = new Map<string, number>();
  const acceptedAt = new Map(storm.accepted.map((a, i) => [a, storm.acceptedAt[i] ?? 0]));
  // The longest an app told on its own waited past group_wait for its message (the pacing backlog it met).
  let longestAloneWait = 0;
  let slackDoneAt: number | undefined;
  let read = 0;
  const readSlack = (): void => {
    for (; read < slack.calls.length; read++) {
      const call = slack.calls[read];
      const at = callAt[read] ?? Date.now();
      if (call === undefined) continue;
      const text = JSON.stringify(call.args);
      headline(text, 'slack');
      const summary = /resources? in [\d,]+ apps? drifted/.test(text);
      // Each app once per call (a message names its app in several places).
      for (const app of new Set([...text.matchAll(/scale-app-\d+/g)].map((m) => m[0]))) {
        if (!accepted.has(app)) continue;
        named.add(app);
        // Told on its own: a top-level message that is no storm summary (not a reply in its thread).
        if (!summary && call.args.thread_ts === undefined && call.method === 'chat.postMessage') {
          namedAlone.add(app);
          alonePosts.set(app, (alonePosts.get(app) ?? 0) + 1);
          longestAloneWait = Math.max(longestAloneWait, at - (acceptedAt.get(app) ?? at) - GROUP_WAIT_MS);
        }
      }
      // Told when this call came (its stamp), not when the loop read it.
      if (slackDoneAt === undefined && (named.size >= accepted.size || namedAlone.size + summaryApps.slack >= accepted.size)) slackDoneAt = at - startedAt;
    }
  };
  let hookDoneAt: number | undefined;
  let firstSlackAt: number | undefined;
  const deadline = started + TELL_TIMEOUT_S * 1000;
  while (!died && (hookDoneAt === undefined || slackDoneAt === undefined) && performance.now() < deadline) {
    readSlack();
    const now = performance.now() - started;
    if (firstSlackAt === undefined && callAt[0] !== undefined) firstSlackAt = callAt[0] - startedAt;
    if (hookDoneAt === undefined) {
      const told = hookCounts.find((c) => c.apps >= accepted.size);
      if (told !== undefined) hookDoneAt = told.at - startedAt;
      else if (sink.firing() >= wantFindings) hookDoneAt = now;
    }
    await sleep(250);
  }
  readSlack();
  const waited = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const final = died ? { rss: NaN, peak: rssPeak } : await residentMemory(svc.pid);
  const counters = died ? { signals: '-', notifications: '-' } : await countersOf(svc.url);
  const after = await redisMemory(redis);
  const members = died ? new Map<string, Map<string, number>>() : await stormMembers(svc.url).catch(() => new Map<string, Map<string, number>>());
  const hookAlone = new Map([...hook.alone].map((a) => [a, 1]));
  const slackAcc = accounting(accepted, alonePosts, members.get('chat'));
  const hookAcc = accounting(accepted, hookAlone, members.get('hook'));
  const families = died ? [] : await memoryByFamily(redis).catch(() => []);
  const s = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
  const notYet = (done: number, want: number, what: string): string => {
    const rate = done / waited;
    return `NOT within ${TELL_TIMEOUT_S} s: ${done} of ${want} ${what}${rate > 0 ? `; at the rate seen (${rate.toFixed(2)}/s) all would take ~${(want / rate / 60).toFixed(0)} min` : ''}`;
  };
  const replies = [...slack.replies.values()].reduce((n, r) => n + r.length, 0);
  const methods = new Map<string, number>();
  for (const c of slack.calls) methods.set(c.method, (methods.get(c.method) ?? 0) + 1);
  const rows: Array<[string, string]> = [
    [
      'storm sent in',
      `${(storm.ms / 1000).toFixed(1)} s (${storm.sent} webhooks incl. retries; ${accepted.size} apps accepted, ${storm.lost} lost${storm.unsent > 0 ? `, ${storm.unsent} not sent within the timeout` : ''})`,
    ],
    ['5xx answers', String(storm.fiveXx)],
    [
      'answers',
      Object.entries(storm.statuses)
        .map(([k, v]) => `${k}x${v}`)
        .join(' '),
    ],
    ['ingest latency', `p50 ${storm.p50.toFixed(0)} ms, p99 ${storm.p99.toFixed(0)} ms, max ${storm.max.toFixed(0)} ms`],
    [
      'webhook receiver told',
      hookDoneAt !== undefined
        ? `${s(hookDoneAt)} (${sink.firing()} findings in ${sink.posts()} posts${summaryApps.hook > 0 ? `; a storm summary counted ${summaryApps.hook} apps` : ''})`
        : notYet(sink.firing(), wantFindings, 'findings'),
    ],
    ['Slack: first message', s(firstSlackAt)],
    [
      'Slack told (every app named or counted)',
      slackDoneAt !== undefined
        ? `${s(slackDoneAt)} (${named.size} apps named${summaryApps.slack > 0 ? `; a storm summary counted ${summaryApps.slack} apps` : ''})`
        : notYet(Math.max(named.size, namedAlone.size + summaryApps.slack), accepted.size, 'apps named or counted'),
    ],
    ['every receiver told', hookDoneAt !== undefined && slackDoneAt !== undefined ? s(Math.max(hookDoneAt, slackDoneAt)) : 'no (see above)'],
    [
      'Slack calls made',
      `${slack.calls.length} (${[...methods].map(([m, n]) => `${m} ${n}`).join(', ')}); ${slack.messages.size} channel messages, ${replies} thread replies`,
    ],
    [
      'lost / duplicate notifications',
      `Slack ${slackAcc.lost} / ${slackAcc.duplicates}; webhook ${hookAcc.lost} / ${hookAcc.duplicates + hook.duplicates()} (apps told neither alone nor as a storm member / told twice, at the end)`,
    ],
    [
      'longest pacing backlog',
      `${pacedPeak} Slack deliveries deferred by pacing at once (peak: a backlog of at most ${pacedPeak} s at 1 message/s, less what a storm then takes); deliver jobs queued at once, peak ${backlogPeak}; the longest an app told alone on Slack waited past group_wait: ${(Math.max(0, longestAloneWait) / 1000).toFixed(1)} s (pacing and the service's own queueing)`,
    ],
    ['meshdrift: signals by outcome', counters.signals],
    ['meshdrift: notifications by receiver, outcome', counters.notifications],
    ['service', died ? `DIED (${svc.child.exitCode ?? svc.child.signalCode})` : 'alive'],
    ['RSS idle / peak / end', `${mb(idle.rss)} / ${mb(Math.max(rssPeak, final.peak))} / ${mb(final.rss)}`],
    ['Redis used_memory before / peak / end', `${mb(before.used)} / ${mb(Math.max(redisPeak, after.used))} / ${mb(after.used)}`],
    [
      'Redis memory by key family (MEMORY USAGE)',
      families
        .slice(0, 6)
        .map(([f, b]) => `${f} ${mb(b)}`)
        .join(', '),
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
  if (died) process.stdout.write(`${svc.stderrTail().slice(-3000)}\n`);
});

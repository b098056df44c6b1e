import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.ts';
import { loadEnv } from '../../src/config/env.ts';
import { createLogger } from '../../src/log.ts';
import type { RetryPolicy } from '../../src/queue/queues.ts';
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { isThreadReply, startFakeSlack, type FakeSlack, type FakeSlackMessage } from '../fakes/slack.ts';
import { meshAppBody, SYNCED_AT } from '../support/argocd.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startRelay, type Relay, type RelayAnswer } from '../support/relay.ts';
import { ARGOCD_TOKEN, SLACK_TOKEN, postArgocd } from '../support/service.ts';

// Issue #8 fault: the receivers go down for a while across many alert groups. Slack answers 429
// (Retry-After) and then 500; PagerDuty answers 5xx; then both recover. Some incidents also hit a
// permanent error (Slack channel_not_found, PagerDuty 400 invalid event) once the outage is over.
// Every other notification must arrive once after recovery; only the permanent ones become dead
// letters, each after exactly one permanent answer. Both receivers sit behind a relay
// (test/support/relay.ts) that plays the outage as a time window.
//
// Time scale: production retries 10 times from a 1 s backoff, doubling (queues.ts
// DEFAULT_DELIVERY_RETRY), so a one-minute 5xx outage spends 7 of the 10 attempts. Here the backoff
// starts at 100 ms with the same 10 attempts, so a 6 s outage spends the same number of attempts:
// the same test of "survives a minute", in a tenth of the time. Retry-After is honoured as sent
// (1 s) and spends no attempt, so the 429 phase's length does not matter for dead letters.
const RETRY: RetryPolicy = { attempts: 10, backoffMs: 100 };
const RATE_LIMITED_MS = 2_500;
const OUTAGE_MS = 6_000;
const OUT_APPS = 10;
const PERM_APPS = 3;
const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdef012345';

const policy = (channel: string, groupInterval: string): string => `
receivers:
  - name: chat
    slack: { channel: "${channel}" }
  - name: pager
    pagerduty: { routing_key_env: PD_ROUTING_KEY }
route:
  receiver: chat
  group_by: [cluster, owner]
  group_wait: 300ms
  group_interval: ${groupInterval}
  routes:
    - receiver: pager
      continue: true
    - receiver: chat
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Which incident a request or message is about (Slack sends form-encoded bodies, PagerDuty JSON). */
function appIn(text: string): string | undefined {
  const form = new URLSearchParams(text).get('blocks');
  return /(?:out|perm|slow)-app-\d+/.exec(form ?? text)?.[0];
}

interface Fixture {
  slack: FakeSlack;
  pd: FakePagerDuty;
  slackRelay: Relay;
  pdRelay: Relay;
  app: App & { url: string };
  prefix: string;
  dir: string;
}

/** The service in-process with both receivers behind relays, and the scaled retry policy. */
async function startFixture(name: string, channel = '#mesh-drift', groupInterval = '10m'): Promise<Fixture> {
  const slack = await startFakeSlack({ token: SLACK_TOKEN });
  const pd = await startFakePagerDuty();
  const slackRelay = await startRelay(new URL(slack.url).origin);
  const pdRelay = await startRelay(pd.url);
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-fault-receivers-`);
  writeFileSync(`${dir}/policy.yaml`, policy(channel, groupInterval));
  const prefix = testPrefix(name);
  const raw: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: redisUrl(),
    MESHDRIFT_KEY_PREFIX: prefix,
    MESHDRIFT_CLUSTER: 'test-cluster',
    MESHDRIFT_ARGOCD_TOKEN: ARGOCD_TOKEN,
    MESHDRIFT_ALLOW_UNAUTHENTICATED: 'flux,api',
    MESHDRIFT_LOG_LEVEL: 'silent',
    MESHDRIFT_POLICY: `${dir}/policy.yaml`,
    SLACK_BOT_TOKEN: SLACK_TOKEN,
    SLACK_CHANNEL: channel,
    SLACK_API_URL: `${slackRelay.url}/api/`,
    PAGERDUTY_EVENTS_URL: `${pdRelay.url}/v2/enqueue`,
    PD_ROUTING_KEY: ROUTING_KEY,
  };
  const app = createApp({ env: loadEnv(raw), processEnv: raw, registry: new Registry(), log: createLogger('silent'), deliveryRetry: RETRY });
  await app.start();
  return { slack, pd, slackRelay, pdRelay, app: Object.assign(app, { url: app.address().url }), prefix, dir };
}

async function stopFixture(f: Fixture | undefined): Promise<void> {
  if (!f) return;
  await f.app.stop();
  await Promise.all([f.slackRelay.close(), f.pdRelay.close()]);
  await Promise.all([f.slack.close(), f.pd.close()]);
  await deleteKeys(redisUrl(), f.prefix);
  rmSync(f.dir, { recursive: true, force: true });
}

function appBody(name: string): unknown {
  const body = meshAppBody() as { app: { metadata: { name: string } } };
  body.app.metadata.name = name;
  return body;
}

async function metric(url: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`${line.source} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

describe('Slack 429 then 500, PagerDuty 5xx, for an outage window across many groups', () => {
  let f: Fixture | undefined;
  beforeAll(async () => void (f = await startFixture('fault-recv')), 30_000);
  afterAll(() => stopFixture(f), 30_000);

  it('delivers every notification once after recovery; only permanent errors become dead letters', async () => {
    if (!f) throw new Error('setup failed');
    const { slack, pd, slackRelay, pdRelay, app } = f;
    const t0 = Date.now();
    const end = t0 + OUTAGE_MS;
    slackRelay.answer = (req): RelayAnswer => {
      if (req.at < t0 + RATE_LIMITED_MS)
        return { status: 429, headers: { 'Retry-After': '1', 'content-type': 'application/json' }, body: '{"ok":false,"error":"ratelimited"}' };
      if (req.at < end) return { status: 500, headers: { 'content-type': 'text/html' }, body: '<html>500</html>' };
      if (appIn(req.body)?.startsWith('perm-'))
        return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":false,"error":"channel_not_found"}' };
      return 'forward';
    };
    let pdFailures = 0;
    pdRelay.answer = (req): RelayAnswer => {
      if (req.at < end) return { status: [500, 502, 503][pdFailures++ % 3] ?? 500, body: '' };
      if (appIn(req.body)?.startsWith('perm-')) {
        return {
          status: 400,
          headers: { 'content-type': 'application/json' },
          body: '{"status":"invalid event","message":"Event object is invalid","errors":["\'payload.severity\' is invalid"]}',
        };
      }
      return 'forward';
    };

    const names = [...Array.from({ length: OUT_APPS }, (_, i) => `out-app-${i}`), ...Array.from({ length: PERM_APPS }, (_, i) => `perm-app-${i}`)];
    for (const name of names) expect((await postArgocd(app.url, appBody(name))).status).toBe(202);

    // About one Slack call a second after recovery (the channel's rate limit), the dead letters included.
    await waitFor(
      async () => slack.messages.size === OUT_APPS && pd.alerts.length === OUT_APPS && (await app.queues.deliver.getFailedCount()) === 2 * PERM_APPS,
      60_000,
      'every delivery done or dead',
    );
    const recoveredAfter = Date.now() - end;
    await sleep(2_000); // a duplicate would come from a retry, well within this

    // Every notification once: one Slack message and one PagerDuty alert (triggered once) per incident.
    const messagesPerApp = new Map<string, number>();
    for (const m of slack.messages.values()) {
      const a = appIn(JSON.stringify(m.blocks)) ?? 'unknown';
      messagesPerApp.set(a, (messagesPerApp.get(a) ?? 0) + 1);
    }
    const outNames = names.filter((n) => n.startsWith('out-')).sort();
    expect([...messagesPerApp.keys()].sort()).toEqual(outNames);
    expect([...messagesPerApp.values()].every((n) => n === 1)).toBe(true);
    expect(slack.calls.filter((c) => c.method === 'chat.update' || isThreadReply(c))).toEqual([]);
    expect(
      pd.alerts
        .map((a) => a.summary)
        .map((s) => appIn(s))
        .sort(),
    ).toEqual(outNames);
    expect(pd.alerts.every((a) => a.triggers === 1 && a.status === 'triggered')).toBe(true);

    // The outage was real: every receiver call before its end failed, and some of each kind came.
    const during = (r: Relay) => r.requests.filter((x) => x.at < end);
    const slack429 = during(slackRelay).filter((x) => x.outcome === 429).length;
    const slack500 = during(slackRelay).filter((x) => x.outcome === 500).length;
    expect(slack429).toBeGreaterThan(0);
    expect(slack500).toBeGreaterThan(0);
    expect(during(pdRelay).length).toBeGreaterThan(0);
    expect(during(pdRelay).every((x) => typeof x.outcome === 'number' && x.outcome >= 500)).toBe(true);

    // After it: one successful call per incident and receiver, one permanent answer per dead letter.
    // A Slack 500 does not say whether the post landed, so a retry may first look for it in the
    // channel's history (src/deliver/slack/lost-post.ts): those lookups are about no incident.
    const isLookup = (x: { path: string }) => x.path.endsWith('/conversations.history');
    for (const relay of [slackRelay, pdRelay]) {
      const after = relay.requests.filter((x) => x.at >= end && !isLookup(x));
      const perApp = new Map<string, number>();
      for (const x of after) {
        const a = appIn(x.body) ?? 'unknown';
        perApp.set(a, (perApp.get(a) ?? 0) + 1);
      }
      expect(Object.fromEntries(perApp)).toEqual(Object.fromEntries(names.map((n) => [n, 1])));
    }

    // Dead letters: exactly the permanent failures, with the receivers' reasons.
    const dead = await app.queues.deliver.getFailed();
    // Jobs refer to their notification (queue/notification-store.ts); the summary names the owner.
    const deadBy = dead
      .map((j) => `${j.data.receiver} ${'ref' in j.data ? j.data.ref.summary.labels.owner.name : j.data.notification.labels.owner.name}`)
      .sort();
    expect(deadBy).toEqual(
      names
        .filter((n) => n.startsWith('perm-'))
        .flatMap((n) => [`chat ${n}`, `pager ${n}`])
        .sort(),
    );
    expect(dead.filter((j) => j.data.receiver === 'chat').every((j) => j.failedReason.includes('channel_not_found'))).toBe(true);
    expect(dead.filter((j) => j.data.receiver === 'pager').every((j) => j.failedReason.includes('HTTP 400'))).toBe(true);
    expect(await app.queues.deliver.getCompletedCount()).toBe(2 * OUT_APPS);
    expect(await metric(app.url, /meshdrift_notifications_total\{receiver="chat",type="slack",outcome="dead_letter"\}/)).toBe(PERM_APPS);
    expect(await metric(app.url, /meshdrift_notifications_total\{receiver="pager",type="pagerduty",outcome="dead_letter"\}/)).toBe(PERM_APPS);
    expect(await metric(app.url, /meshdrift_notifications_total\{receiver="chat",type="slack",outcome="success"\}/)).toBe(OUT_APPS);
    expect(await metric(app.url, /meshdrift_notifications_total\{receiver="pager",type="pagerduty",outcome="success"\}/)).toBe(OUT_APPS);
    console.log(
      `[receivers-outage] ${OUT_APPS + PERM_APPS} groups x 2 receivers, ${OUTAGE_MS} ms outage: ` +
        `Slack ${slack429} x 429 + ${slack500} x 500 (${slackRelay.requests.filter(isLookup).length} history lookups), PagerDuty ${during(pdRelay).length} x 5xx; ` +
        `all delivered or dead ${recoveredAfter} ms after recovery`,
    );
  }, 180_000);
});

// Issue #8 gap, closed: Slack has no idempotency key. When a post lands but its answer never
// reaches meshdrift (a timeout, or a replica killed mid-call), the retry must not post the same
// notification again. Here the relay forwards the first post of one incident and never answers it;
// the notifier's 10 s client timeout makes it retryable, and the retry finds the message in the
// channel's history (by its metadata) instead of posting. The resolve then edits that message.
// The channel is configured by ID: a lookup needs it (by name, it is learnt from Slack's answers,
// and this incident's post is the first one this installation makes).
describe('Slack takes a post but its answer never comes back (client timeout)', () => {
  let f: Fixture | undefined;
  let lost: FakeSlackMessage | undefined;
  beforeAll(async () => {
    f = await startFixture('fault-recv-slow', 'C0MESHDRIFT1', '1s');
    let held = false;
    f.slackRelay.answer = () => {
      if (held) return 'forward';
      held = true;
      return 'forward-hold';
    };
    f.pdRelay.answer = () => ({ status: 202, headers: { 'content-type': 'application/json' }, body: '{"status":"success","message":"Event processed"}' });
    const { slack, app } = f;
    await postArgocd(app.url, appBody('slow-app-0'));
    // The held post, the client's timeout (10 s), then the retry, which looks before it posts.
    await waitFor(async () => (await app.queues.deliver.getCompletedCount()) === 2, 30_000, 'both deliveries done');
    lost = [...slack.messages.values()][0];
    // The resolve, a group_interval later, edits the message it found.
    const resolved = meshAppBody('Synced', SYNCED_AT) as { app: { metadata: { name: string } } };
    resolved.app.metadata.name = 'slow-app-0';
    await postArgocd(app.url, resolved);
    await waitFor(() => (lost?.updates ?? 0) > 0, 30_000, 'the resolve edits the message');
    await sleep(1_000);
    console.log(
      `[receivers-outage] a post whose answer never came: ${slack.messages.size} Slack message(s) for one incident, edited ${lost?.updates ?? 0} time(s)`,
    );
  }, 60_000);
  afterAll(() => stopFixture(f), 30_000);

  it('posts the incident once, and the resolve updates that message in place', () => {
    if (!f) throw new Error('setup failed');
    const { slack, slackRelay } = f;
    expect(slack.messages.size).toBe(1);
    expect(lost?.metadata?.event_type).toBe('meshdrift_alert');
    expect(JSON.stringify(lost?.blocks)).toContain('RESOLVED');
    // What reached Slack: the held post, one history lookup, then the resolve's edit and reply.
    const methods = slackRelay.requests.map((r) => `${r.path.replace('/api/', '')}${r.outcome === 'forward-held' ? ' (answer lost)' : ''}`);
    expect(methods).toEqual(['chat.postMessage (answer lost)', 'conversations.history', 'chat.update', 'chat.postMessage']);
    expect(slack.replies.get(lost?.ts ?? '')).toHaveLength(1);
  });
});

import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/queue/queues.ts';
import { isThreadReply, startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody } from '../support/argocd.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startRelay, type Relay } from '../support/relay.ts';
import { startReplica, type Replica } from '../support/replica.ts';
import { ARGOCD_TOKEN, SLACK_TOKEN, postArgocd } from '../support/service.ts';

// Issue #8 fault: three `meshdrift serve` processes on one Redis key prefix; a stream of webhooks
// spread across them (each incident sent twice, to two replicas, as a retrying Argo CD would);
// one replica SIGKILLed while groups wait out group_wait and while one of its deliveries is in
// flight. Each replica reaches Slack through its own relay, so the victim's in-flight request can
// be held (lost before Slack saw it) and told apart. The survivors must deliver every incident
// exactly once, the held one included.
//
// Bounds: the held delivery job stays locked by the dead worker until BullMQ's lock expires
// (lockDuration 30 s, the default: src/queue/worker.ts sets none) and a survivor's stalled check
// (stalledInterval 30 s) moves it back to wait: 30-60 s after the kill. The Slack per-group lock
// the victim held (35 s) has expired by then. Hence the 100 s bound on the wait.
const APPS = 24;
const appName = (i: number): string => `kill-app-${i}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const prefix = testPrefix('fault-kill');
let slack: FakeSlack;
const relays: Relay[] = [];
const replicas: Replica[] = [];

beforeAll(async () => {
  slack = await startFakeSlack({ token: SLACK_TOKEN });
  const origin = new URL(slack.url).origin;
  for (let i = 0; i < 3; i++) relays.push(await startRelay(origin));
  // One at a time: three Node start-ups at once on two loaded cores only slow each other down.
  for (let i = 0; i < 3; i++) {
    replicas.push(
      await startReplica(`r${i}`, {
        REDIS_URL: redisUrl(),
        MESHDRIFT_KEY_PREFIX: prefix,
        MESHDRIFT_CLUSTER: 'test-cluster',
        MESHDRIFT_ARGOCD_TOKEN: ARGOCD_TOKEN,
        MESHDRIFT_GROUP_WAIT: '2s',
        MESHDRIFT_GROUP_INTERVAL: '5m',
        SLACK_BOT_TOKEN: SLACK_TOKEN,
        SLACK_CHANNEL: '#mesh-drift',
        SLACK_API_URL: `${relays[i]?.url ?? ''}/api/`,
      }),
    );
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await Promise.all(relays.map((r) => r.close()));
  await slack?.close();
  await deleteKeys(redisUrl(), prefix);
}, 30_000);

function appBody(i: number): unknown {
  const body = meshAppBody() as { app: { metadata: { name: string } } };
  body.app.metadata.name = appName(i);
  return body;
}

/** Which incident a Slack request (form-encoded, blocks JSON-encoded) is about. */
function appOfRequest(body: string): string | undefined {
  const blocks = new URLSearchParams(body).get('blocks') ?? body;
  return /kill-app-\d+/.exec(blocks)?.[0];
}

/** Posts to `replica` until accepted, falling over to the next live one as a load balancer would. */
async function send(body: unknown, first: number): Promise<void> {
  for (let attempt = 0; attempt < 60; attempt++) {
    const target = replicas[(first + attempt) % replicas.length];
    if (target && target.child.exitCode === null && target.child.signalCode === null) {
      const res = await postArgocd(target.url, body).catch(() => null);
      if (res?.status === 202) return;
    }
    await sleep(100);
  }
  throw new Error('webhook never accepted');
}

describe('three replicas, one killed with -9 mid-stream', () => {
  it('the survivors deliver every incident exactly once, the one in flight on the dead replica included', async () => {
    const victim = replicas[0];
    const victimRelay = relays[0];
    if (!victim || !victimRelay) throw new Error('setup failed');
    // Every request the victim makes to Slack is held: it never reaches Slack, and never returns.
    victimRelay.answer = () => 'hold';
    const started = Date.now();

    const stream = (async () => {
      for (let i = 0; i < APPS; i++) {
        // Each incident reaches two replicas (a sender retrying elsewhere): CAS keeps it one.
        await Promise.all([send(appBody(i), i % 3), send(appBody(i), (i + 1) % 3)]);
        await sleep(150);
      }
    })();

    await waitFor(() => victimRelay.requests.some((r) => r.open), 40_000, 'a delivery in flight on the victim');
    const inFlight = victimRelay.requests.find((r) => r.open);
    const heldApp = appOfRequest(inFlight?.body ?? '');
    const killedAt = Date.now();
    await victim.kill9();
    // Groups still waiting for their flush or delivery at the moment of the kill.
    const pendingAtKill = APPS - slack.messages.size;
    await stream;

    await waitFor(() => slack.messages.size >= APPS, 100_000, `${APPS} messages (have ${slack.messages.size})`);
    const heldDeliveredAt = slack.calls.find((c) => c.method === 'chat.postMessage' && appOfRequest(JSON.stringify(c.args.blocks)) === heldApp)?.at;
    // Anything duplicated would show up after a delay: BullMQ retries, Slack lock expiry.
    await sleep(3_000);

    const posts = slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c));
    const perApp = new Map<string, number>();
    for (const m of slack.messages.values()) {
      const app = /kill-app-\d+/.exec(JSON.stringify(m.blocks))?.[0] ?? 'unknown';
      perApp.set(app, (perApp.get(app) ?? 0) + 1);
    }
    console.log(
      `[replicas-kill] ${APPS} incidents, ${pendingAtKill} pending at the kill (${killedAt - started} ms in); ` +
        `held delivery (${heldApp}) recovered ${heldDeliveredAt === undefined ? 'never' : `${heldDeliveredAt - killedAt} ms`} after the kill; ` +
        `all delivered after ${Date.now() - started - 3_000} ms`,
    );
    expect(heldApp).toMatch(/^kill-app-\d+$/);
    expect(pendingAtKill).toBeGreaterThan(0);
    expect(heldDeliveredAt).toBeGreaterThan(killedAt);
    expect([...perApp.keys()].sort()).toEqual(Array.from({ length: APPS }, (_, i) => appName(i)).sort());
    expect([...perApp.values()].every((n) => n === 1)).toBe(true);
    expect(posts).toHaveLength(APPS);
    expect(slack.calls.filter((c) => c.method === 'chat.update' || isThreadReply(c))).toEqual([]);
    // Nothing became a dead letter (a job stalled twice would have).
    const connection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    const deliver = new Queue(QUEUE_NAMES.deliver, { connection, prefix });
    try {
      expect(await deliver.getFailedCount()).toBe(0);
      expect(await deliver.getCompletedCount()).toBe(APPS);
    } finally {
      await deliver.close();
      connection.disconnect();
    }
  }, 150_000);
});

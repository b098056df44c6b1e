import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Notification, TrackedFinding } from '../../src/model/alert-group.ts';
import { createRedisSlackMessageStore, type SlackMessageStore } from '../../src/deliver/slack/message-store.ts';
import { createSlackNotifier } from '../../src/deliver/slack/notifier.ts';
import type { Notifier } from '../../src/deliver/notifier.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { redisUrl } from '../support/redis.ts';

const REDIS_URL = redisUrl();
const TOKEN = 'xoxb-1111-2222-meshdrift-test-SECRET';
const CHANNEL = '#mesh-drift';
const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);

function finding(name: string, severity: TrackedFinding['severity'] = 'high'): TrackedFinding {
  return {
    fingerprint: `fp-${name}`,
    groupKey: 'g',
    cluster: 'prod-eu',
    tool: 'argocd',
    owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
    project: 'payments',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name },
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity,
    receivers: ['slack'],
    reasons: ['test'],
    observedAt: T0,
    firstSeen: T0,
    lastSeen: T0,
    status: 'firing',
  };
}

function notification(groupKey: string, seq: number, firing: TrackedFinding[] = [finding('checkout')]): Notification {
  return {
    groupKey,
    seq,
    reason: seq === 1 ? 'first' : 'new-findings',
    status: 'firing',
    labels: { cluster: 'prod-eu', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: 'payments' }, project: 'payments' },
    severity: 'high',
    firing,
    resolved: [],
    at: T0 + seq * 1000,
    firstSeen: T0,
  };
}

let redis: Redis;
let slack: FakeSlack;
let prefix: string;
let store: SlackMessageStore;
let notifier: Notifier;
let groupKey: string;

beforeAll(async () => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  await redis.ping();
});

afterAll(async () => {
  await redis.quit();
});

beforeEach(async () => {
  prefix = `test-slack-${randomUUID()}`;
  groupKey = `argocd/prod-eu/payments-${randomUUID()}`;
  slack = await startFakeSlack({ token: TOKEN });
  store = createRedisSlackMessageStore(redis, prefix);
  notifier = createSlackNotifier({ token: TOKEN, channel: CHANNEL, apiUrl: slack.url, store, timeoutMs: 2_000 });
});

afterEach(async () => {
  await slack.close();
  // Only this test's keys: the prefix is unique to it.
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
});

describe('slack notifier against the fake Slack Web API and real Redis', () => {
  it('posts the first notification and remembers where', async () => {
    await expect(notifier.send(notification(groupKey, 1))).resolves.toEqual({ ok: true });

    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage']);
    const call = slack.calls[0];
    expect(call?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(call?.args.channel).toBe(CHANNEL);
    expect(Array.isArray(call?.args.blocks)).toBe(true);
    expect(call?.args.text).toMatch(/^FIRING \[high\] 1 drifted resource in/);

    const ref = await store.get(groupKey);
    expect(ref).toEqual({ channel: expect.stringMatching(/^C[A-Z0-9]+$/), ts: expect.any(String), seq: 1 });
    expect(slack.messages.get(ref?.ts ?? '')?.channel).toBe(ref?.channel);
    // The ref expires with the default 7-day retention.
    const ttl = await redis.ttl(`${prefix}:slack:message:${groupKey}`);
    expect(ttl).toBeGreaterThan(7 * 24 * 3600 - 60);
    expect(ttl).toBeLessThanOrEqual(7 * 24 * 3600);
  });

  it('updates the same message for a later notification', async () => {
    await notifier.send(notification(groupKey, 1));
    const first = await store.get(groupKey);

    const result = await notifier.send(notification(groupKey, 2, [finding('checkout'), finding('deny-all', 'critical')]));
    expect(result).toEqual({ ok: true });

    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.update']);
    // chat.update goes to the channel ID Slack returned, not the #name.
    expect(slack.calls[1]?.args).toMatchObject({ channel: first?.channel, ts: first?.ts });
    expect(slack.messages.size).toBe(1);
    const message = slack.messages.get(first?.ts ?? '');
    expect(message?.updates).toBe(1);
    expect(JSON.stringify(message?.blocks)).toContain('deny-all');
    expect(await store.get(groupKey)).toEqual({ channel: first?.channel, ts: first?.ts, seq: 2 });
  });

  it('ignores a notification older than the one the message shows', async () => {
    await notifier.send(notification(groupKey, 1));
    await notifier.send(notification(groupKey, 3));
    const callsBefore = slack.calls.length;

    await expect(notifier.send(notification(groupKey, 2))).resolves.toEqual({ ok: true });
    await expect(notifier.send(notification(groupKey, 3))).resolves.toEqual({ ok: true });

    expect(slack.calls).toHaveLength(callsBefore);
    expect((await store.get(groupKey))?.seq).toBe(3);
  });

  it('answers retryable with retryAfterMs while another worker holds the group lock', async () => {
    const release = await store.tryLock(groupKey, 10_000);
    expect(release).not.toBeNull();

    expect(await notifier.send(notification(groupKey, 1))).toEqual({
      ok: false,
      retryable: true,
      reason: 'slack message for this group is being written by another worker',
      retryAfterMs: 250,
    });
    expect(slack.calls).toHaveLength(0);

    await release?.();
    await expect(notifier.send(notification(groupKey, 1))).resolves.toEqual({ ok: true });
  });

  it('maps 429 with Retry-After to a retryable result with retryAfterMs, and releases the lock', async () => {
    slack.failNext(1, { status: 429, retryAfterSeconds: 7 });

    expect(await notifier.send(notification(groupKey, 1))).toEqual({
      ok: false,
      retryable: true,
      reason: expect.stringContaining('rate limited'),
      retryAfterMs: 7000,
    });
    // No SDK-side retry: BullMQ owns retries.
    expect(slack.calls).toHaveLength(1);
    await expect(notifier.send(notification(groupKey, 1))).resolves.toEqual({ ok: true });
  });

  it.each([500, 502, 503, 504])('maps HTTP %i to retryable', async (status) => {
    slack.failNext(1, { status });
    const result = await notifier.send(notification(groupKey, 1));
    expect(result).toEqual({ ok: false, retryable: true, reason: `slack chat.postMessage failed: HTTP ${status}` });
    expect(slack.calls).toHaveLength(1);
  });

  it.each([400, 404])('maps HTTP %i to not retryable', async (status) => {
    slack.failNext(1, { status });
    expect(await notifier.send(notification(groupKey, 1))).toMatchObject({ ok: false, retryable: false });
  });

  it.each([
    ['channel_not_found', false],
    ['not_in_channel', false],
    ['is_archived', false],
    ['msg_too_long', false],
    ['invalid_blocks', false],
    ['invalid_auth', false],
    ['not_authed', false],
    ['ratelimited', true],
    ['internal_error', true],
    ['fatal_error', true],
    ['service_unavailable', true],
    ['request_timeout', true],
  ])('maps platform error %s to retryable=%s', async (slackError, retryable) => {
    slack.failNext(1, { slackError });
    const result = await notifier.send(notification(groupKey, 1));
    expect(result).toMatchObject({ ok: false, retryable, reason: expect.stringContaining(slackError) });
    expect(await store.get(groupKey)).toBeNull();
  });

  it('maps a wrong token to not retryable without putting the token in the reason', async () => {
    const secret = 'xoxb-9999-8888-wrong-token-SECRET';
    const wrong = createSlackNotifier({ token: secret, channel: CHANNEL, apiUrl: slack.url, store, timeoutMs: 2_000 });

    const result = await wrong.send(notification(groupKey, 1));

    expect(result).toMatchObject({ ok: false, retryable: false, reason: expect.stringContaining('invalid_auth') });
    expect(JSON.stringify(result)).not.toContain(secret);
    expect(JSON.stringify(result)).not.toContain('SECRET');
    expect(slack.calls[0]?.authorization).toBe(`Bearer ${secret}`);
    expect(slack.messages.size).toBe(0);
  });

  it('never puts the token into a reason, whatever the failure', async () => {
    const answers = [
      { status: 429, retryAfterSeconds: 1 },
      { status: 500 },
      { status: 429 },
      { slackError: 'invalid_auth' },
      { slackError: 'channel_not_found' },
      { delayMs: 600 },
    ] as const;
    const quick = createSlackNotifier({ token: TOKEN, channel: CHANNEL, apiUrl: slack.url, store, timeoutMs: 300 });
    for (const answer of answers) {
      slack.failNext(1, answer);
      const result = await quick.send(notification(groupKey, 1));
      expect(result.ok).toBe(false);
      expect(JSON.stringify(result)).not.toContain(TOKEN);
    }
  });

  it('maps a timeout to retryable', async () => {
    const quick = createSlackNotifier({ token: TOKEN, channel: CHANNEL, apiUrl: slack.url, store, timeoutMs: 200 });
    slack.failNext(1, { delayMs: 1_000 });
    expect(await quick.send(notification(groupKey, 1))).toEqual({ ok: false, retryable: true, reason: 'slack chat.postMessage timed out' });
  });

  it('maps an unreachable Slack to retryable', async () => {
    const closed = await startFakeSlack({ token: TOKEN });
    const url = closed.url;
    await closed.close();
    const unreachable = createSlackNotifier({ token: TOKEN, channel: CHANNEL, apiUrl: url, store, timeoutMs: 2_000 });

    expect(await unreachable.send(notification(groupKey, 1))).toMatchObject({
      ok: false,
      retryable: true,
      reason: expect.stringMatching(/^slack chat\.postMessage request failed: /),
    });
  });

  it('posts a new message when the stored one cannot be updated', async () => {
    await notifier.send(notification(groupKey, 1));
    const first = await store.get(groupKey);
    // The message was deleted in Slack (or the ts is otherwise unknown).
    await store.set(groupKey, { channel: first?.channel ?? '', ts: '1700000000.000001', seq: 1 });

    await expect(notifier.send(notification(groupKey, 2))).resolves.toEqual({ ok: true });

    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.update', 'chat.postMessage']);
    const ref = await store.get(groupKey);
    expect(ref?.seq).toBe(2);
    expect(ref?.ts).not.toBe('1700000000.000001');
    expect(ref?.ts).not.toBe(first?.ts);
    expect(slack.messages.has(ref?.ts ?? '')).toBe(true);
  });

  it('posts a new message when Slack answers cant_update_message', async () => {
    await notifier.send(notification(groupKey, 1));
    slack.failNext(1, { slackError: 'cant_update_message' });

    await expect(notifier.send(notification(groupKey, 2))).resolves.toEqual({ ok: true });
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.update', 'chat.postMessage']);
    expect(slack.messages.size).toBe(2);
  });

  it('does not fall back to a new post for other update errors', async () => {
    await notifier.send(notification(groupKey, 1));
    slack.failNext(1, { status: 503 });

    expect(await notifier.send(notification(groupKey, 2))).toEqual({ ok: false, retryable: true, reason: 'slack chat.update failed: HTTP 503' });
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.update']);
    expect((await store.get(groupKey))?.seq).toBe(1);
  });

  it('delivers a 500-finding notification that Slack accepts', async () => {
    const firing = Array.from({ length: 500 }, (_, i) => finding(`${'long-name-'.repeat(20)}${i}`, i % 3 === 0 ? 'critical' : 'medium'));
    await expect(notifier.send(notification(groupKey, 1, firing))).resolves.toEqual({ ok: true });
    const blocks = slack.calls[0]?.args.blocks;
    expect(JSON.stringify(blocks)).toMatch(/…and \d+ more/);
  });

  it('serializes concurrent sends for one group: one post, then an update', async () => {
    const results = await Promise.all([notifier.send(notification(groupKey, 1)), notifier.send(notification(groupKey, 2))]);
    const busy = results.filter((r) => !r.ok);
    // Either both got through one after the other, or one was told to retry shortly.
    for (const r of busy) expect(r).toMatchObject({ retryable: true, retryAfterMs: 250 });
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage')).toHaveLength(1);
  });
});

describe('redis slack message store', () => {
  it('treats a corrupt stored value as absent, and the next send overwrites it', async () => {
    await redis.set(`${prefix}:slack:message:${groupKey}`, '{"channel":42');
    expect(await store.get(groupKey)).toBeNull();
    await redis.set(`${prefix}:slack:message:${groupKey}`, JSON.stringify({ channel: 'C1', ts: '1.2', seq: 0 }));
    expect(await store.get(groupKey)).toBeNull();

    await expect(notifier.send(notification(groupKey, 1))).resolves.toEqual({ ok: true });
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage']);
    expect((await store.get(groupKey))?.seq).toBe(1);
  });

  it('honours a custom retention', async () => {
    const short = createRedisSlackMessageStore(redis, prefix, 60);
    await short.set(groupKey, { channel: 'C1', ts: '1.2', seq: 1 });
    const ttl = await redis.ttl(`${prefix}:slack:message:${groupKey}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('gives the lock to one holder at a time and expires it after its TTL', async () => {
    const release = await store.tryLock(groupKey, 5_000);
    expect(release).not.toBeNull();
    expect(await store.tryLock(groupKey, 5_000)).toBeNull();
    const pttl = await redis.pttl(`${prefix}:slack:lock:${groupKey}`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(5_000);
    await release?.();
    const again = await store.tryLock(groupKey, 5_000);
    expect(again).not.toBeNull();
    await again?.();
  });

  it('release does not delete a lock another holder took after ours expired', async () => {
    const stale = await store.tryLock(groupKey, 50);
    await new Promise((resolve) => setTimeout(resolve, 120));
    const current = await store.tryLock(groupKey, 5_000);
    expect(current).not.toBeNull();

    await stale?.();

    expect(await redis.exists(`${prefix}:slack:lock:${groupKey}`)).toBe(1);
    expect(await store.tryLock(groupKey, 5_000)).toBeNull();
    await current?.();
    expect(await redis.exists(`${prefix}:slack:lock:${groupKey}`)).toBe(0);
  });
});

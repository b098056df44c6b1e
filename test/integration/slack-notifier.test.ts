import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Notification, TrackedFinding } from '../../src/model/alert-group.ts';
import { createRedisSlackMessageStore, type SlackMessageStore } from '../../src/deliver/slack/message-store.ts';
import { createSlackNotifier } from '../../src/deliver/slack/notifier.ts';
import { createRedisSlackRateLimiter, type SlackRateLimiter } from '../../src/deliver/slack/rate-limit.ts';
import type { Notifier, SendResult } from '../../src/deliver/notifier.ts';
import { isThreadReply, startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { redisUrl } from '../support/redis.ts';

const REDIS_URL = redisUrl();
const TOKEN = 'xoxb-1111-2222-meshdrift-test-SECRET';
const CHANNEL = '#mesh-drift';
const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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

function notification(groupKey: string, seq: number, firing: TrackedFinding[] = [finding('checkout')], over: Partial<Notification> = {}): Notification {
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
    ...over,
  };
}

function resolvedFinding(name: string, severity: TrackedFinding['severity'] = 'high'): TrackedFinding {
  return { ...finding(name, severity), status: 'resolved', resolvedAt: T0 + 60_000 };
}

/** Slack calls in order; a chat.postMessage with thread_ts is shown as 'reply'. */
function callKinds(fake: FakeSlack): string[] {
  return fake.calls.map((c) => (isThreadReply(c) ? 'reply' : c.method));
}

function replyText(fake: FakeSlack, parentTs: string | undefined, index = 0): string {
  return JSON.stringify(fake.replies.get(parentTs ?? '')?.[index]?.blocks ?? null);
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
    // A new message owes no thread reply; `told` is what the next reply diffs against.
    expect(ref).toEqual({ channel: expect.stringMatching(/^C[A-Z0-9]+$/), ts: expect.any(String), seq: 1, repliedSeq: 1, told: { 'fp-checkout': 'high' } });
    expect(slack.replies.size).toBe(0);
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

    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'reply']);
    // chat.update goes to the channel ID Slack returned, not the #name.
    expect(slack.calls[1]?.args).toMatchObject({ channel: first?.channel, ts: first?.ts });
    expect(slack.messages.size).toBe(1);
    const message = slack.messages.get(first?.ts ?? '');
    expect(message?.updates).toBe(1);
    expect(JSON.stringify(message?.blocks)).toContain('deny-all');
    expect(await store.get(groupKey)).toEqual({
      channel: first?.channel,
      ts: first?.ts,
      seq: 2,
      repliedSeq: 2,
      told: { 'fp-checkout': 'high', 'fp-deny-all': 'critical' },
    });
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

    // The new message starts a new thread: no reply.
    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'chat.postMessage']);
    expect(slack.replies.size).toBe(0);
    const ref = await store.get(groupKey);
    expect(ref?.seq).toBe(2);
    expect(ref?.repliedSeq).toBe(2);
    expect(ref?.ts).not.toBe('1700000000.000001');
    expect(ref?.ts).not.toBe(first?.ts);
    expect(slack.messages.has(ref?.ts ?? '')).toBe(true);
  });

  it('posts a new message when Slack answers cant_update_message', async () => {
    await notifier.send(notification(groupKey, 1));
    slack.failNext(1, { slackError: 'cant_update_message' });

    await expect(notifier.send(notification(groupKey, 2))).resolves.toEqual({ ok: true });
    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'chat.postMessage']);
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
    expect(slack.messages.size).toBe(1);
    expect(callKinds(slack).filter((k) => k === 'chat.postMessage')).toHaveLength(1);
  });
});

describe('slack thread replies', () => {
  const two = (): TrackedFinding[] => [finding('checkout'), finding('deny-all', 'critical')];

  it('posts the first notification as the main message only', async () => {
    await expect(notifier.send(notification(groupKey, 1))).resolves.toEqual({ ok: true });
    expect(callKinds(slack)).toEqual(['chat.postMessage']);
    expect(slack.calls[0]?.args.thread_ts).toBeUndefined();
    expect(slack.replies.size).toBe(0);
  });

  it('a later notification updates the main message and tells the change once in its thread', async () => {
    await notifier.send(notification(groupKey, 1));
    const main = await store.get(groupKey);

    await expect(notifier.send(notification(groupKey, 2, two()))).resolves.toEqual({ ok: true });

    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'reply']);
    expect(slack.calls[2]?.args).toMatchObject({ channel: main?.channel, thread_ts: main?.ts });
    // The channel still shows one message; the thread has one line.
    expect(slack.messages.size).toBe(1);
    const replies = slack.replies.get(main?.ts ?? '') ?? [];
    expect(replies).toHaveLength(1);
    expect(replies[0]?.threadTs).toBe(main?.ts);
    expect(replyText(slack, main?.ts)).toContain('1 new drifted resource');
    expect(replyText(slack, main?.ts)).toContain('deny-all');
    // Only the new finding is listed.
    expect(replyText(slack, main?.ts)).not.toContain('checkout');
    expect(replies[0]?.text).toMatch(/^1 new drifted resource, 2 drifted resources now · Application argocd\/payments on prod-eu$/);

    // A retried delivery of the same notification (the job ran twice) changes nothing.
    await expect(notifier.send(notification(groupKey, 2, two()))).resolves.toEqual({ ok: true });
    expect(slack.calls).toHaveLength(3);
    expect(slack.replies.get(main?.ts ?? '')).toHaveLength(1);
  });

  it('resumes with the reply alone when the reply failed after the update', async () => {
    await notifier.send(notification(groupKey, 1));
    const main = await store.get(groupKey);
    slack.failNextMatching((c) => c.args.thread_ts !== undefined, { status: 503 });

    expect(await notifier.send(notification(groupKey, 2, two()))).toEqual({
      ok: false,
      retryable: true,
      reason: 'slack chat.postMessage (thread reply) failed: HTTP 503',
    });
    // The update is recorded, the reply is owed.
    expect(await store.get(groupKey)).toMatchObject({ seq: 2, repliedSeq: 1, told: { 'fp-checkout': 'high' } });

    await expect(notifier.send(notification(groupKey, 2, two()))).resolves.toEqual({ ok: true });
    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'reply', 'reply']);
    expect(slack.messages.get(main?.ts ?? '')?.updates).toBe(1);
    expect(slack.replies.get(main?.ts ?? '')).toHaveLength(1);
    expect(replyText(slack, main?.ts)).toContain('deny-all');
    expect(await store.get(groupKey)).toMatchObject({ seq: 2, repliedSeq: 2 });
  });

  it('a job that stopped after the update but before recording it edits again and replies once', async () => {
    await notifier.send(notification(groupKey, 1));
    const main = await store.get(groupKey);
    // Slack has the edit, the ref does not: the write after chat.update fails once.
    let failSet = true;
    const flaky: SlackMessageStore = {
      ...store,
      async set(key, ref) {
        if (failSet) {
          failSet = false;
          throw new Error('connection lost');
        }
        return store.set(key, ref);
      },
    };
    const crashy = createSlackNotifier({ token: TOKEN, channel: CHANNEL, apiUrl: slack.url, store: flaky, timeoutMs: 2_000 });

    expect(await crashy.send(notification(groupKey, 2, two()))).toEqual({ ok: false, retryable: true, reason: 'slack message store failed: connection lost' });
    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update']);
    expect((await store.get(groupKey))?.seq).toBe(1);

    await expect(crashy.send(notification(groupKey, 2, two()))).resolves.toEqual({ ok: true });
    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'chat.update', 'reply']);
    expect(slack.messages.get(main?.ts ?? '')?.updates).toBe(2);
    expect(slack.replies.get(main?.ts ?? '')).toHaveLength(1);
  });

  it.each<[string, Partial<Notification>, TrackedFinding[], RegExp]>([
    [
      'severity-raised',
      { reason: 'severity-raised', severity: 'critical' },
      [finding('checkout', 'critical')],
      /Severity raised to CRITICAL.*checkout.*high → \*CRITICAL\*/,
    ],
    ['some-resolved', { reason: 'some-resolved', resolved: [resolvedFinding('legacy')] }, [finding('checkout')], /1 resolved\* · 1 still drifted.*legacy/],
    ['repeat', { reason: 'repeat', at: T0 + 4 * 3_600_000 }, [finding('checkout')], /Still drifted after 4h\*: 1 finding/],
    [
      'resolved',
      { reason: 'resolved', status: 'resolved', resolved: [resolvedFinding('checkout')], at: T0 + 90 * 60_000 },
      [],
      /All resolved\* · back in sync after 1h 30m.*checkout/,
    ],
  ])('replies for %s', async (_reason, over, firing, expected) => {
    await notifier.send(notification(groupKey, 1));
    const main = await store.get(groupKey);

    await expect(notifier.send(notification(groupKey, 2, firing, over))).resolves.toEqual({ ok: true });

    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'reply']);
    expect(replyText(slack, main?.ts)).toMatch(expected);
  });

  it('a resolve updates the main message to RESOLVED and replies in its thread', async () => {
    await notifier.send(notification(groupKey, 1, two()));
    const main = await store.get(groupKey);
    const resolved = notification(groupKey, 2, [], {
      reason: 'resolved',
      status: 'resolved',
      severity: 'critical',
      resolved: two().map((f) => ({ ...f, status: 'resolved' as const })),
    });

    await expect(notifier.send(resolved)).resolves.toEqual({ ok: true });

    expect(JSON.stringify(slack.messages.get(main?.ts ?? '')?.blocks)).toContain('RESOLVED');
    const reply = replyText(slack, main?.ts);
    expect(reply).toContain('All resolved');
    // Most severe first.
    expect(reply.indexOf('deny-all')).toBeLessThan(reply.indexOf('checkout'));
    expect(await store.get(groupKey)).toMatchObject({ seq: 2, repliedSeq: 2, told: {} });
  });

  it('a notification that overtakes an owed reply tells both changes; the older job then does nothing', async () => {
    await notifier.send(notification(groupKey, 1));
    const main = await store.get(groupKey);
    // Seq 2's reply failed and its retry is still waiting.
    slack.failNextMatching((c) => c.args.thread_ts !== undefined, { status: 503 });
    await notifier.send(notification(groupKey, 2, two()));

    const three = [...two(), finding('gateway', 'medium')];
    await expect(notifier.send(notification(groupKey, 3, three))).resolves.toEqual({ ok: true });
    await expect(notifier.send(notification(groupKey, 2, two()))).resolves.toEqual({ ok: true });

    const replies = slack.replies.get(main?.ts ?? '') ?? [];
    expect(replies).toHaveLength(1);
    expect(replyText(slack, main?.ts)).toContain('2 new drifted resources');
    expect(replyText(slack, main?.ts)).toMatch(/deny-all.*gateway/);
    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'reply', 'chat.update', 'reply']);
  });

  it('replies for a message stored before threads existed ({ channel, ts, seq })', async () => {
    await notifier.send(notification(groupKey, 1));
    const main = await store.get(groupKey);
    await redis.set(`${prefix}:slack:message:${groupKey}`, JSON.stringify({ channel: main?.channel, ts: main?.ts, seq: 1 }));
    expect(await store.get(groupKey)).toEqual({ channel: main?.channel, ts: main?.ts, seq: 1 });

    await expect(notifier.send(notification(groupKey, 2, two()))).resolves.toEqual({ ok: true });
    // Without `told`, it cannot say which are new: it lists the most severe drifted now.
    expect(replyText(slack, main?.ts)).toMatch(/New drifted resources.*Drifted now \(2\).*deny-all.*checkout/);
    expect(await store.get(groupKey)).toMatchObject({ seq: 2, repliedSeq: 2, told: { 'fp-checkout': 'high', 'fp-deny-all': 'critical' } });
    // A retry of the same notification on a legacy value replies nothing more.
    await notifier.send(notification(groupKey, 2, two()));
    expect(slack.replies.get(main?.ts ?? '')).toHaveLength(1);
  });

  it('a legacy value at the same seq owes no reply', async () => {
    await notifier.send(notification(groupKey, 1));
    const main = await store.get(groupKey);
    await redis.set(`${prefix}:slack:message:${groupKey}`, JSON.stringify({ channel: main?.channel, ts: main?.ts, seq: 2 }));
    await expect(notifier.send(notification(groupKey, 2, two()))).resolves.toEqual({ ok: true });
    expect(slack.calls).toHaveLength(1);
  });

  it('skips the reply when Slack says the thread is gone, and records it as told', async () => {
    await notifier.send(notification(groupKey, 1));
    slack.failNextMatching((c) => c.args.thread_ts !== undefined, { slackError: 'thread_not_found' });
    await expect(notifier.send(notification(groupKey, 2, two()))).resolves.toEqual({ ok: true });
    expect(await store.get(groupKey)).toMatchObject({ seq: 2, repliedSeq: 2 });
  });

  it('with threads off, only updates the main message', async () => {
    const plain = createSlackNotifier({ token: TOKEN, channel: CHANNEL, apiUrl: slack.url, store, timeoutMs: 2_000, threads: false });
    await plain.send(notification(groupKey, 1));
    await expect(plain.send(notification(groupKey, 2, two()))).resolves.toEqual({ ok: true });
    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update']);
    expect(await store.get(groupKey)).toMatchObject({ seq: 2, repliedSeq: 2 });
    // Turning threads on later does not reply to what was already shown.
    await notifier.send(notification(groupKey, 2, two()));
    expect(slack.calls).toHaveLength(2);
  });

  it('a new episode (reason first) posts a new main message, not a reply', async () => {
    await notifier.send(notification(groupKey, 1));
    await notifier.send(notification(groupKey, 2, [], { reason: 'resolved', status: 'resolved', resolved: [resolvedFinding('checkout')] }));
    await expect(notifier.send(notification(groupKey, 3, [finding('checkout')], { reason: 'first' }))).resolves.toEqual({ ok: true });
    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'reply', 'chat.postMessage']);
    expect(slack.messages.size).toBe(2);
  });
});

describe('slack channel rate limit (Redis, shared by replicas)', () => {
  let limiter: SlackRateLimiter;
  let limited: Notifier;
  let otherGroup: string;

  beforeEach(() => {
    limiter = createRedisSlackRateLimiter(redis, prefix);
    limited = createSlackNotifier({ token: TOKEN, channel: CHANNEL, apiUrl: slack.url, store, timeoutMs: 2_000, rateLimiter: limiter });
    otherGroup = `${groupKey}-other`;
  });

  const deferred = (result: SendResult): number => {
    expect(result).toEqual({ ok: false, retryable: true, reason: 'slack channel rate limit', retryAfterMs: expect.any(Number) });
    return result.ok ? 0 : (result.retryAfterMs ?? 0);
  };

  it('defers a second group in the same channel within the interval, having called nothing', async () => {
    await expect(limited.send(notification(groupKey, 1))).resolves.toEqual({ ok: true });
    const wait = deferred(await limited.send(notification(otherGroup, 1)));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(1000);
    expect(slack.calls).toHaveLength(1);
    // The group lock was released and nothing was recorded.
    const lock = await store.tryLock(otherGroup, 1_000);
    expect(lock).not.toBeNull();
    await lock?.();
    expect(await store.get(otherGroup)).toBeNull();
    // The key is per channel (without '#') and expires with the interval.
    const pttl = await redis.pttl(`${prefix}:slack:rate:mesh-drift`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(1000);

    await sleep(wait);
    await expect(limited.send(notification(otherGroup, 1))).resolves.toEqual({ ok: true });
    expect(slack.messages.size).toBe(2);
  });

  it('is shared by two replicas (two notifiers, two connections, same Redis)', async () => {
    const redis2 = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const replica2 = createSlackNotifier({
        token: TOKEN,
        channel: CHANNEL,
        apiUrl: slack.url,
        store: createRedisSlackMessageStore(redis2, prefix),
        rateLimiter: createRedisSlackRateLimiter(redis2, prefix),
      });
      await expect(limited.send(notification(groupKey, 1))).resolves.toEqual({ ok: true });
      const wait = deferred(await replica2.send(notification(otherGroup, 1)));
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(1000);
    } finally {
      await redis2.quit();
    }
  });

  it('takes a slot for each call of a notification: an update with its reply holds the channel for two intervals', async () => {
    await limited.send(notification(groupKey, 1));
    await sleep(deferred(await limited.send(notification(groupKey, 2, [finding('checkout'), finding('deny-all', 'critical')]))));

    await expect(limited.send(notification(groupKey, 2, [finding('checkout'), finding('deny-all', 'critical')]))).resolves.toEqual({ ok: true });
    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'reply']);
    const wait = deferred(await limited.send(notification(otherGroup, 1)));
    expect(wait).toBeGreaterThan(1000);
    expect(wait).toBeLessThanOrEqual(2000);
  });

  it('a deferred notification resumes where it stopped: the owed reply alone', async () => {
    await limited.send(notification(groupKey, 1));
    const main = await store.get(groupKey);
    // Seq 2 was updated by a job whose reply failed; its retry then meets a busy channel.
    slack.failNextMatching((c) => c.args.thread_ts !== undefined, { status: 503 });
    await notifier.send(notification(groupKey, 2, [finding('checkout'), finding('deny-all', 'critical')]));
    await sleep(deferred(await limited.send(notification(groupKey, 2, [finding('checkout'), finding('deny-all', 'critical')]))));

    await expect(limited.send(notification(groupKey, 2, [finding('checkout'), finding('deny-all', 'critical')]))).resolves.toEqual({ ok: true });
    expect(callKinds(slack)).toEqual(['chat.postMessage', 'chat.update', 'reply', 'reply']);
    expect(slack.replies.get(main?.ts ?? '')).toHaveLength(1);
    expect(slack.messages.get(main?.ts ?? '')?.updates).toBe(1);
  });

  it("a 429 with Retry-After 3 makes another group's send wait about 3 s", async () => {
    slack.failNext(1, { status: 429, retryAfterSeconds: 3 });
    expect(await limited.send(notification(groupKey, 1))).toMatchObject({ ok: false, retryable: true, retryAfterMs: 3000 });

    const wait = deferred(await limited.send(notification(otherGroup, 1)));
    expect(wait).toBeGreaterThan(2500);
    expect(wait).toBeLessThanOrEqual(3000);
    expect(slack.calls).toHaveLength(1);
  });

  it('a 429 on a thread reply also holds the channel back', async () => {
    await notifier.send(notification(groupKey, 1));
    slack.failNextMatching((c) => c.args.thread_ts !== undefined, { status: 429, retryAfterSeconds: 2 });
    expect(await limited.send(notification(groupKey, 2, [finding('checkout'), finding('deny-all', 'critical')]))).toMatchObject({
      ok: false,
      retryAfterMs: 2000,
    });
    const wait = deferred(await limited.send(notification(otherGroup, 1)));
    expect(wait).toBeGreaterThan(1500);
    expect(wait).toBeLessThanOrEqual(2000);
  });

  it('does not take a slot for a notification with nothing left to do', async () => {
    await notifier.send(notification(groupKey, 1));
    await expect(limited.send(notification(groupKey, 1))).resolves.toEqual({ ok: true });
    await expect(limited.send(notification(otherGroup, 1))).resolves.toEqual({ ok: true });
  });

  it('honours intervalMs and burst', async () => {
    const fast = createRedisSlackRateLimiter(redis, `${prefix}:fast`, { intervalMs: 200, burst: 2 });
    expect(await fast.reserve('C1')).toBe(0);
    expect(await fast.reserve('C1')).toBe(0);
    const wait = await fast.reserve('C1');
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(200);
    // Other channels have their own budget.
    expect(await fast.reserve('C2')).toBe(0);
    await sleep(wait);
    expect(await fast.reserve('C1')).toBe(0);
  });

  it('rejects a bad configuration', () => {
    expect(() => createRedisSlackRateLimiter(redis, prefix, { intervalMs: 0 })).toThrow(/intervalMs/);
    expect(() => createRedisSlackRateLimiter(redis, prefix, { burst: 0 })).toThrow(/burst/);
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

  it('extend keeps a held lock longer, and answers false once it expired or was taken (a slow lookup stops)', async () => {
    const held = await store.tryLock(groupKey, 1_000);
    expect(await held?.extend(60_000)).toBe(true);
    expect(await redis.pttl(`${prefix}:slack:lock:${groupKey}`)).toBeGreaterThan(30_000);
    await held?.();
    expect(await held?.extend(60_000)).toBe(false);

    const stale = await store.tryLock(groupKey, 50);
    await new Promise((resolve) => setTimeout(resolve, 120));
    const current = await store.tryLock(groupKey, 5_000);
    expect(await stale?.extend(60_000)).toBe(false);
    expect(await redis.pttl(`${prefix}:slack:lock:${groupKey}`)).toBeLessThanOrEqual(5_000);
    await current?.();
  });
});

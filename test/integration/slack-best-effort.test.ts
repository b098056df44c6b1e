import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Notification } from '../../src/model/alert-group.ts';
import { createRedisSlackMessageStore, type SlackMessageStore } from '../../src/deliver/slack/message-store.ts';
import { createSlackNotifier, type SlackNotifierOptions } from '../../src/deliver/slack/notifier.ts';
import type { SlackRateLimiter } from '../../src/deliver/slack/rate-limit.ts';
import { capturedBestEffort } from '../support/best-effort.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { deleteKeys, redisUrl } from '../support/redis.ts';

// The Slack notifier's best-effort Redis steps (a lock release, a 429's hold on the channel, the
// channel's learnt ID, a refused post's pending record): their store or limiter throws here, the
// delivery's result is what it would have been, and each failure is counted and logged at most
// once a minute per step, the bot token never in the line.
const TOKEN = 'xoxb-1111-2222-meshdrift-best-effort-SECRET';
const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);

function notification(groupKey: string, seq = 1): Notification {
  const owner = { kind: 'Application', namespace: 'argocd', name: 'payments' };
  return {
    groupKey,
    seq,
    reason: seq === 1 ? 'first' : 'repeat',
    status: 'firing',
    labels: { cluster: 'prod-eu', tool: 'argocd', owner, project: 'payments' },
    severity: 'high',
    firing: [
      {
        fingerprint: 'fp-checkout',
        groupKey,
        cluster: 'prod-eu',
        tool: 'argocd',
        owner,
        project: 'payments',
        resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'checkout' },
        state: 'Modified',
        category: 'traffic',
        mesh: 'istio',
        severity: 'high',
        receivers: ['slack'],
        reasons: ['test'],
        observedAt: T0,
        firstSeen: T0,
        lastSeen: T0,
        status: 'firing',
      },
    ],
    resolved: [],
    at: T0 + seq * 1000,
    firstSeen: T0,
  };
}

let redis: Redis;
let slack: FakeSlack;
let prefix: string;
let store: SlackMessageStore;
let seen: ReturnType<typeof capturedBestEffort>;

const notifierWith = (over: Partial<SlackNotifierOptions>) =>
  createSlackNotifier({ token: TOKEN, channel: '#mesh-drift', apiUrl: slack.url, store, timeoutMs: 2_000, bestEffort: seen.bestEffort, ...over });
const broken = (what: string) => new Error(`${what}: Connection is closed (token ${TOKEN})`);

beforeAll(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  await redis.ping();
});

afterAll(async () => {
  await redis.quit();
});

beforeEach(async () => {
  prefix = `test-slack-best-effort-${randomUUID()}`;
  slack = await startFakeSlack({ token: TOKEN });
  store = createRedisSlackMessageStore(redis, prefix);
  seen = capturedBestEffort();
});

afterEach(async () => {
  await slack.close();
  await deleteKeys(redisUrl(), prefix);
  expect(JSON.stringify(seen.lines)).not.toContain(TOKEN);
});

describe('slack best-effort steps', () => {
  it("a failed release of the group's lock: the delivery still succeeds; counted, logged once, token redacted", async () => {
    const unreleasable: SlackMessageStore = {
      ...store,
      async tryLock(groupKey, ttlMs) {
        const lock = await store.tryLock(groupKey, ttlMs);
        if (lock === null) return null;
        return Object.assign(
          async () => {
            throw broken('EVAL');
          },
          { extend: lock.extend },
        );
      },
    };
    const notifier = notifierWith({ store: unreleasable });
    await expect(notifier.send(notification('g-1'))).resolves.toEqual({ ok: true });
    await expect(notifier.send(notification('g-2'))).resolves.toEqual({ ok: true });
    expect(await seen.failures('slack_lock_release')).toBe(2);
    expect(seen.warnings('slack_lock_release')).toEqual([expect.objectContaining({ level: 40, failed: 1, error: expect.stringContaining('[redacted]') })]);
    // The lock left behind expires by itself.
    const pttl = await redis.pttl(`${prefix}:slack:lock:g-1`);
    expect(pttl).toBeGreaterThan(0);
  });

  it("a 429's hold on the channel not written: the job is still deferred by Retry-After; counted, logged once", async () => {
    const limiter: SlackRateLimiter = {
      reserve: async () => 0,
      block: async () => {
        throw broken('SET');
      },
    };
    const notifier = notifierWith({ rateLimiter: limiter });
    slack.failNext(2, { status: 429, retryAfterSeconds: 7 });
    for (const g of ['g-1', 'g-2']) {
      expect(await notifier.send(notification(g))).toEqual({ ok: false, retryable: true, reason: expect.stringContaining('rate limited'), retryAfterMs: 7000 });
    }
    expect(await seen.failures('slack_rate_limit_hold')).toBe(2);
    expect(seen.warnings('slack_rate_limit_hold')).toEqual([expect.objectContaining({ failed: 1 })]);
  });

  it("the channel's learnt ID not stored: the post still succeeds; counted, logged once", async () => {
    const forgetful: SlackMessageStore = {
      ...store,
      setChannelId: async () => {
        throw broken('SET');
      },
    };
    const notifier = notifierWith({ store: forgetful });
    await expect(notifier.send(notification('g-1'))).resolves.toEqual({ ok: true });
    await expect(notifier.send(notification('g-2'))).resolves.toEqual({ ok: true });
    expect(await seen.failures('slack_channel_id_write')).toBe(2);
    expect(seen.warnings('slack_channel_id_write')).toEqual([expect.objectContaining({ failed: 1 })]);
  });

  it("a refused post's pending record not cleared: the refusal is still the answer; counted, logged once", async () => {
    const sticky: SlackMessageStore = {
      ...store,
      clearPendingPost: async () => {
        throw broken('DEL');
      },
    };
    const notifier = notifierWith({ store: sticky });
    slack.failNext(2, { slackError: 'channel_not_found' });
    for (const g of ['g-1', 'g-2']) expect(await notifier.send(notification(g))).toMatchObject({ ok: false, retryable: false });
    expect(await seen.failures('slack_pending_post_clear')).toBe(2);
    expect(seen.warnings('slack_pending_post_clear')).toEqual([expect.objectContaining({ failed: 1 })]);
  });

  it('a post or a thread reply that went through but was not recorded: the delivery is done; counted, logged once', async () => {
    // Only the write that settles a delivery (the message shows, and the thread has told, its seq)
    // fails: the write between an edit and its reply is not best effort (its failure retries the job).
    const unrecorded: SlackMessageStore = {
      ...store,
      set: async (groupKey, ref) => {
        if (ref.repliedSeq === ref.seq) throw broken('SET');
        return store.set(groupKey, ref);
      },
    };
    const notifier = notifierWith({ store: unrecorded });
    // A post: in Slack, not recorded.
    await expect(notifier.send(notification('g-1'))).resolves.toEqual({ ok: true });
    // A thread reply to a recorded message: in Slack, not recorded.
    await expect(notifierWith({}).send(notification('g-2'))).resolves.toEqual({ ok: true });
    await expect(notifier.send(notification('g-2', 2))).resolves.toEqual({ ok: true });
    expect(slack.calls.filter((c) => c.args.thread_ts !== undefined)).toHaveLength(1);
    expect(await seen.failures('slack_message_record')).toBe(2);
    expect(seen.warnings('slack_message_record')).toEqual([expect.objectContaining({ failed: 1 })]);
  });
});

import { WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebAPIRequestError } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import {
  findPostedMessage,
  isSlackChannelId,
  lookForPost,
  lostPostLookupFailureOf,
  lookupTooEarlyByMs,
  mergePendingPosts,
  postMayHaveLanded,
  postMayHaveLandedAfter,
  slackAlertMetadata,
  slackTsOf,
  type SlackHistoryQuery,
} from '../../../src/deliver/slack/lost-post.ts';
import type { SlackMessageRef, SlackPendingPost } from '../../../src/deliver/slack/message-store.ts';
import { lookupTimeoutFactor } from '../../../src/deliver/slack/lost-post-recovery.ts';

const ref = (seq: number): SlackMessageRef => ({ channel: 'C0ALERTS1', ts: '1736935200.000100', seq });
const pending = (seq: number, at = 1_000): SlackPendingPost => ({ seq, at });
const platform = (error: string, extra: Record<string, unknown> = {}) => new WebAPIPlatformError({ ok: false, error, ...extra });
const network = (code: string): WebAPIRequestError =>
  new WebAPIRequestError(Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) }));
const timeout = (): WebAPIRequestError =>
  new WebAPIRequestError(Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }));
const ours = (group: string, seq: number, ts = `1736935200.00010${seq}`) => ({
  type: 'message',
  ts,
  text: 'x',
  metadata: slackAlertMetadata({ groupKey: group, seq }),
});

describe('postMayHaveLanded', () => {
  it.each<[string, SlackPendingPost | null, SlackMessageRef | null, boolean]>([
    ['no record: the first attempt', null, null, false],
    ['a record and no message stored: its answer was lost', pending(1), null, true],
    ['a record older than the stored message: answered', pending(1), ref(1), false],
    ['a record answered, then later notifications', pending(1), ref(3), false],
    ["a new episode's post after the last message stored", pending(4), ref(3), true],
  ])('%s', (_what, record, stored, expected) => {
    expect(postMayHaveLanded(record, stored)).toBe(expected);
  });
});

describe('mergePendingPosts', () => {
  it('keeps the earliest time and lowest seq, the failed lookups so far, and when the last attempt that may have posted started', () => {
    expect(mergePendingPosts({ seq: 2, at: 1_000, failedLookups: 1 }, { seq: 3, at: 5_000 })).toEqual({ seq: 2, at: 1_000, lastAt: 1_000, failedLookups: 1 });
    expect(mergePendingPosts({ seq: 3, at: 5_000 }, { seq: 2, at: 9_000 })).toEqual({ seq: 2, at: 5_000, lastAt: 5_000 });
    // The attempt now merging has not posted: the earlier record's last attempt stays the last.
    expect(mergePendingPosts({ seq: 2, at: 1_000, lastAt: 7_000 }, { seq: 2, at: 9_000 })).toEqual({ seq: 2, at: 1_000, lastAt: 7_000 });
  });
});

describe('lookupTooEarlyByMs (nothing found: proof only once the last attempt has settled)', () => {
  it.each<[string, SlackPendingPost, number, number]>([
    ['right after the attempt', { seq: 1, at: 1_000 }, 1_100, 2_900],
    ['exactly settled', { seq: 1, at: 1_000 }, 4_000, 0],
    ['long after', { seq: 1, at: 1_000 }, 60_000, 0],
    ['measured from the last attempt, not the first', { seq: 1, at: 1_000, lastAt: 50_000 }, 51_000, 2_000],
  ])('%s', (_name, p, startedAt, expected) => {
    expect(lookupTooEarlyByMs(p, startedAt, 3_000)).toBe(expected);
  });
});

describe('lookupTimeoutFactor (a lookup waits the post timeout times this)', () => {
  it('doubles after each failed lookup, up to 4×', () => {
    expect([0, 1, 2, 3, 10, -1].map(lookupTimeoutFactor)).toEqual([1, 2, 4, 4, 4, 1]);
  });
});

describe('postMayHaveLandedAfter (a failed chat.postMessage)', () => {
  it.each<[string, unknown, boolean]>([
    ['HTTP 429', new WebAPIRateLimitedError(3), false],
    ['ratelimited', platform('ratelimited'), false],
    ['channel_not_found', platform('channel_not_found'), false],
    ['invalid_blocks', platform('invalid_blocks'), false],
    ["internal_error (Slack: 'some aspect of the operation may have succeeded')", platform('internal_error'), true],
    ['fatal_error', platform('fatal_error'), true],
    ['HTTP 400', new WebAPIHTTPError(400, 'Bad Request', {}), false],
    ['HTTP 500', new WebAPIHTTPError(500, 'Internal Server Error', {}), true],
    ['HTTP 504', new WebAPIHTTPError(504, 'Gateway Timeout', {}), true],
    ['a timeout', timeout(), true],
    ['a reset connection', network('ECONNRESET'), true],
    ['a refused connection (never sent)', network('ECONNREFUSED'), false],
    ['an unknown host (never sent)', network('ENOTFOUND'), false],
    ['anything else', new Error('boom'), true],
  ])('%s → %s', (_what, error, expected) => {
    expect(postMayHaveLandedAfter(error)).toBe(expected);
  });
});

describe('lostPostLookupFailureOf (a failed conversations.history)', () => {
  it.each<[string, unknown, string, RegExp | number | null]>([
    [
      'missing_scope names the scope Slack says is needed',
      platform('missing_scope', { needed: 'groups:history', provided: 'chat:write' }),
      'not-permitted',
      /add the bot scope groups:history/,
    ],
    [
      'missing_scope without `needed`',
      platform('missing_scope'),
      'not-permitted',
      /add the bot scope channels:history \(groups:history for a private channel\)/,
    ],
    ['not_in_channel', platform('not_in_channel'), 'not-permitted', /invite the bot/],
    ['channel_not_found', platform('channel_not_found'), 'not-permitted', /channel by ID/],
    ['HTTP 403', new WebAPIHTTPError(403, 'Forbidden', {}), 'not-permitted', null],
    ['HTTP 429 with Retry-After 20', new WebAPIRateLimitedError(20), 'rate-limited', 20_000],
    ['ratelimited', platform('ratelimited'), 'rate-limited', 1_000],
    ['internal_error', platform('internal_error'), 'transient', null],
    ['HTTP 503', new WebAPIHTTPError(503, 'Service Unavailable', {}), 'transient', null],
    ['a timeout', timeout(), 'transient', null],
  ])('%s', (_what, error, kind, detail) => {
    const failure = lostPostLookupFailureOf(error);
    expect(failure.kind).toBe(kind);
    if (detail instanceof RegExp && failure.kind === 'not-permitted') expect(failure.hint).toMatch(detail);
    if (typeof detail === 'number' && failure.kind === 'rate-limited') expect(failure.retryAfterMs).toBe(detail);
  });

  it('does not echo an odd `needed` value into the hint', () => {
    const failure = lostPostLookupFailureOf(platform('missing_scope', { needed: '<script>' }));
    expect(failure).toMatchObject({ kind: 'not-permitted' });
    expect(JSON.stringify(failure)).not.toContain('<script>');
  });
});

describe('findPostedMessage', () => {
  it("finds the newest message whose metadata names the group at the record's seq or later", () => {
    const page = [
      { type: 'message', ts: '1736935200.000900', text: 'someone talking' },
      ours('other-group', 5, '1736935200.000800'),
      ours('g1', 3, '1736935200.000700'),
      ours('g1', 2, '1736935200.000600'),
    ];
    expect(findPostedMessage(page, 'g1', 2)).toEqual({ ts: '1736935200.000700', seq: 3 });
    expect(findPostedMessage(page, 'g1', 4)).toBeNull();
    expect(findPostedMessage(page, 'g2', 1)).toBeNull();
  });

  it("skips malformed entries and other apps' metadata", () => {
    const page = [
      null,
      'text',
      { ts: 42, metadata: slackAlertMetadata({ groupKey: 'g1', seq: 1 }) },
      { ts: '1.000001', metadata: { event_type: 'task_created', event_payload: { group: 'g1', seq: 1 } } },
      { ts: '1.000002', metadata: { event_type: 'meshdrift_alert', event_payload: { group: 'g1', seq: '1' } } },
      { ts: '1.000003', metadata: { event_type: 'meshdrift_alert' } },
      ours('g1', 1, '1.000004'),
    ];
    expect(findPostedMessage(page, 'g1', 1)).toEqual({ ts: '1.000004', seq: 1 });
  });
});

describe('lookForPost', () => {
  const page = (messages: unknown[], next?: string) => ({
    ok: true,
    messages,
    has_more: next !== undefined,
    ...(next ? { response_metadata: { next_cursor: next } } : {}),
  });
  const search = { channel: 'C0ALERTS1', groupKey: 'g1', fromSeq: 1, sinceMs: Date.UTC(2025, 0, 15, 10, 0, 0, 250), pageSize: 15, maxPages: 3 };

  it('asks for metadata since the record (oldest as a Slack ts), and follows cursors until found', async () => {
    const queries: SlackHistoryQuery[] = [];
    const pages = [page([ours('g2', 1)], 'c1'), page([ours('g1', 1, '1736935260.000001')], 'c2')];
    const result = await lookForPost(async (q) => {
      queries.push(q);
      return pages[queries.length - 1];
    }, search);
    expect(result).toEqual({ found: { ts: '1736935260.000001', seq: 1 } });
    expect(queries).toEqual([
      { channel: 'C0ALERTS1', oldest: '1736935200.250000', limit: 15, include_all_metadata: true },
      { channel: 'C0ALERTS1', oldest: '1736935200.250000', limit: 15, include_all_metadata: true, cursor: 'c1' },
    ]);
  });

  it('is complete when the history ends without it, and inconclusive after maxPages', async () => {
    expect(await lookForPost(async () => page([ours('g2', 1)]), search)).toEqual({ found: null, complete: true });
    let calls = 0;
    expect(
      await lookForPost(async () => {
        calls++;
        return page([ours('g2', 1)], `c${calls}`);
      }, search),
    ).toEqual({ found: null, complete: false });
    expect(calls).toBe(3);
  });

  it('rejects an answer that is not a history page', async () => {
    await expect(lookForPost(async () => ({ ok: true, messages: 'nope' }), search)).rejects.toThrow(/unexpected shape/);
  });
});

describe('small helpers', () => {
  it('tells channel IDs from names', () => {
    expect(['C0ALERTS1', 'G01234567', 'D0123ABCD'].map(isSlackChannelId)).toEqual([true, true, true]);
    expect(['#mesh-drift', 'mesh-drift', 'C01', 'c0alerts1'].map(isSlackChannelId)).toEqual([false, false, false, false]);
  });

  it('writes Slack ts with microseconds', () => {
    expect(slackTsOf(Date.UTC(2025, 0, 15, 10, 0, 0, 7))).toBe('1736935200.007000');
    expect(slackTsOf(-5)).toBe('0.000000');
  });

  it('puts only the group key and seq into the metadata', () => {
    expect(slackAlertMetadata({ groupKey: 'abc', seq: 2 })).toEqual({ event_type: 'meshdrift_alert', event_payload: { group: 'abc', seq: 2 } });
  });
});

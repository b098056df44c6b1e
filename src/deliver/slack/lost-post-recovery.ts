import type { Notification } from '../../model/alert-group.ts';
import { ownerKey } from '../../model/owner.ts';
import type { SendResult } from '../notifier.ts';
import { lockBusy, type SlackChannel } from './channel.ts';
import {
  lastPostAttemptAt,
  lookForPost,
  lookupTooEarlyByMs,
  lostPostLookupFailureOf,
  mergePendingPosts,
  postMayHaveLanded,
  type LostPostLookupFailure,
  type SlackHistoryQuery,
} from './lost-post.ts';
import type { SlackGroupLock, SlackMessageRef, SlackPendingPost } from './message-store.ts';
import { execute, postMessage, type PostOnce } from './messages.ts';
import { planSlackDelivery, slackCallsOf } from './plan.ts';
import { toldFindingsOf } from './render-reply.ts';

/**
 * A group's main message is posted once even when Slack's answer to the post is lost (Slack has
 * no idempotency key): a pending-post record goes to Redis just before chat.postMessage, and the
 * message carries metadata naming its group and seq. A retry that finds the record unanswered
 * looks for the message in the channel (conversations.history) and edits it instead of posting
 * again; after Redis lost meshdrift's state, a group's first post looks for the message it had
 * before the loss. The rules are in notifier.ts; the pure parts in lost-post.ts.
 */

/** How long a post whose answer was lost is remembered: longer than a delivery job's retries (about 17 min by default). */
export const PENDING_POST_TTL_MS = 6 * 60 * 60 * 1000;
// The lookup starts this long before the first attempt: Slack's clock is not the replica's.
const LOOKUP_MARGIN_MS = 5 * 60 * 1000;
// Slack caps conversations.history at 15 messages a page for apps outside the Marketplace (2025);
// 4 pages cover 60 messages posted to the channel since the lost post.
const LOOKUP_PAGE_SIZE = 15;
const LOOKUP_MAX_PAGES = 4;
/**
 * A lost post's lookup waits, per history page, the post's own timeout times this factor, doubled
 * after each failed lookup up to the last: a Slack slow enough to lose a post's answer is as slow
 * to answer the lookup, and a lookup that times out too must not end in a second post.
 */
export const LOOKUP_TIMEOUT_FACTORS = [1, 2, 4] as const;
/**
 * A lookup that finds nothing means "never posted" only this many post timeouts after the latest
 * attempt that may have posted (see lookupTooEarlyByMs); earlier, the job is retried.
 */
export const POST_SETTLE_FACTOR = 3;
// After this many failed lookups in a row, an operator is told (once) that an alert is held back.
const WARN_AFTER_FAILED_LOOKUPS = 3;
// After Redis lost its state, a group's old message is looked for this far back before the loss:
// a group quiet for longer gets a new message anyway (DEFAULT_SLACK_MESSAGE_RETENTION_SECONDS).
const STATE_LOSS_LOOKBACK_MS = 7 * 24 * 60 * 60 * 1000;

/** {@link postOnce} on this channel, for the steps that may turn into a post. */
export function postOnceOn(ch: SlackChannel): PostOnce {
  return (n, ref, lock) => postOnce(ch, n, ref, lock);
}

/**
 * Posts the group's main message once: records the pending post, and when an earlier attempt's
 * answer was lost, first looks for the message it may have posted. `ref` is the stored message
 * (an older episode's, or one Slack lost), or null.
 */
export async function postOnce(ch: SlackChannel, n: Notification, ref: SlackMessageRef | null, lock: SlackGroupLock): Promise<SendResult> {
  const attempt: SlackPendingPost = { seq: n.seq, at: ch.now() };
  const previous = await ch.store.swapPendingPost(n.groupKey, attempt, PENDING_POST_TTL_MS);
  const stateLostAt = ref === null ? ch.stateLostAt() : undefined;
  if (stateLostAt !== undefined) return postAfterStateLoss(ch, n, attempt, previous, stateLostAt, lock);
  if (previous === null || !postMayHaveLanded(previous, ref)) return postMessage(ch, n, { forgetOnRefusal: true });
  // Keep the earliest attempt's time while the lost post is unaccounted for.
  const pending = mergePendingPosts(previous, attempt);
  await ch.store.setPendingPost(n.groupKey, pending, PENDING_POST_TTL_MS);
  const recovered = await recoverLostPost(ch, n, pending, lock);
  if (recovered.kind === 'defer') return recovered.result;
  if (recovered.kind === 'post') {
    // This attempt may post too: a later lookup waits for it to settle.
    await ch.store.setPendingPost(n.groupKey, { ...pending, lastAt: ch.now() }, PENDING_POST_TTL_MS);
    return postMessage(ch, n, { forgetOnRefusal: recovered.settled });
  }
  // Found: the message is in Slack; go on from it as from a stored one (update, reply or nothing).
  const next = planSlackDelivery(recovered.ref, n, { threads: ch.threads });
  const extra = slackCallsOf(next) - 1;
  // The found message is stored: a deferred retry plans from it without looking again.
  const deferred = extra > 0 ? await ch.reserve(extra) : null;
  if (deferred !== null) return deferred;
  // A 'post' now is a new episode's first message (the one found was an older episode's): it gets
  // its own record, the found one being accounted for.
  return next.action === 'post' ? postOnce(ch, n, recovered.ref, lock) : execute(ch, next, n, lock, postOnceOn(ch));
}

/**
 * A group's first post after Redis lost meshdrift's state: the group may have had a message
 * before the loss (the store forgot it), so look for it by its metadata (any seq) from a week
 * before the loss, and edit it (with a thread reply) rather than post a second one. Nothing is
 * stored before the edit succeeds, so a retry looks again. Not found after a complete look: post.
 */
async function postAfterStateLoss(
  ch: SlackChannel,
  n: Notification,
  attempt: SlackPendingPost,
  previous: SlackPendingPost | null,
  lostAt: number,
  lock: SlackGroupLock,
): Promise<SendResult> {
  const channel = await ch.channelIdForLookup();
  if (channel === undefined) {
    ch.warnOnce(
      'channel-unknown',
      n,
      'configure the Slack channel by its ID (C…): its ID is not known yet, so the message an alert had before Redis lost its state cannot be looked for',
    );
    ch.lostPost('fallback');
    return postMessage(ch, n, { forgetOnRefusal: false });
  }
  const failedLookups = previous?.failedLookups ?? 0;
  // What a deferral keeps: when an earlier attempt may have posted (0: none since the loss).
  const held: SlackPendingPost = { ...attempt, lastAt: previous === null ? 0 : lastPostAttemptAt(previous) };
  const startedAt = ch.now();
  let lookup: Awaited<ReturnType<typeof lookForPost>>;
  try {
    lookup = await lookForPost(historyHolding(ch, failedLookups, lock), {
      channel,
      groupKey: n.groupKey,
      fromSeq: 1,
      sinceMs: lostAt - STATE_LOSS_LOOKBACK_MS,
      pageSize: LOOKUP_PAGE_SIZE,
      maxPages: LOOKUP_MAX_PAGES,
    });
  } catch (error) {
    if (error instanceof LockLostError) return lockBusy();
    const failure = lostPostLookupFailureOf(error);
    if (failure.kind === 'not-permitted') {
      ch.warnOnce(
        failure.code,
        n,
        `cannot look for the message an alert had before Redis lost its state (conversations.history ${failure.code}: ${failure.hint}); posting a new one, which may show it twice`,
      );
      ch.lostPost('fallback');
      return postMessage(ch, n, { forgetOnRefusal: false });
    }
    // A passing failure never posts: the old message may well be there. Retried, waiting longer.
    return deferLookup(ch, n, { ...held, failedLookups: failedLookups + 1 }, failure, 'looking for the message an alert had before Redis lost its state');
  }
  if (lookup.found === null) {
    const tooEarlyMs = previous === null ? 0 : lookupTooEarlyByMs(held, startedAt, POST_SETTLE_FACTOR * ch.timeoutMs);
    if (tooEarlyMs > 0) {
      await ch.store.setPendingPost(n.groupKey, { ...held, failedLookups }, PENDING_POST_TTL_MS);
      ch.lostPost('deferred');
      return {
        ok: false,
        retryable: true,
        reason: 'slack message an alert had before Redis lost its state not found yet (an earlier attempt may still be posting): looking again',
        retryAfterMs: tooEarlyMs,
      };
    }
    ch.lostPost(lookup.complete ? 'not_found' : 'fallback');
    // The swapped-in record (this attempt) stands for this post.
    return postMessage(ch, n, { forgetOnRefusal: lookup.complete });
  }
  ch.lostPost('found');
  // deliver() reserved the edit's and its reply's slots.
  const found: SlackMessageRef = { channel, ts: lookup.found.ts, seq: lookup.found.seq, repliedSeq: lookup.found.seq };
  await ch.store.setOwnerGroup(ownerKey(n.labels), n.groupKey);
  return execute(ch, { action: 'update', ref: found, reply: ch.threads }, n, lock, postOnceOn(ch));
}

/**
 * conversations.history for a lookup after `failedLookups` failed ones: its timeout grows with
 * them (LOOKUP_TIMEOUT_FACTORS), and before each page the group's lock is extended for that page
 * and what follows; a lock no longer held stops the lookup (LockLostError).
 */
function historyHolding(ch: SlackChannel, failedLookups: number, lock: SlackGroupLock): (query: SlackHistoryQuery) => Promise<unknown> {
  const historyClient = ch.client(lookupTimeoutFactor(failedLookups));
  const pageTimeoutMs = ch.timeoutMs * lookupTimeoutFactor(failedLookups);
  return async (query) => {
    if (!(await lock.extend(pageTimeoutMs + ch.lockTtlMs))) throw new LockLostError();
    return historyClient.conversations.history(query);
  };
}

/**
 * A lookup that failed for a passing reason (5xx, timeout, network, rate limit): keeps `record`
 * (with the failed count, so the next lookup waits longer), warns once after a few, and answers a
 * retry (Retry-After for a rate limit, the job's backoff otherwise). Never posts.
 */
async function deferLookup(
  ch: SlackChannel,
  n: Notification,
  record: SlackPendingPost,
  failure: Exclude<LostPostLookupFailure, { kind: 'not-permitted' }>,
  what: string,
): Promise<SendResult> {
  if ((record.failedLookups ?? 0) >= WARN_AFTER_FAILED_LOOKUPS) {
    ch.warnOnce(
      'lookup-failing',
      n,
      `${what} keeps failing (conversations.history ${failure.kind === 'rate-limited' ? 'rate limited' : failure.reason}); the alert is held back and retried rather than posted twice`,
    );
  }
  await ch.store.setPendingPost(n.groupKey, record, PENDING_POST_TTL_MS);
  ch.lostPost('deferred');
  return failure.kind === 'rate-limited'
    ? { ok: false, retryable: true, reason: `slack conversations.history rate limited (${what})`, retryAfterMs: failure.retryAfterMs }
    : ch.fail({ ok: false, retryable: true, reason: `slack conversations.history failed (${what}): ${failure.reason}` });
}

/** `post` with `settled` when the lookup saw that nothing was posted (the record may then go on a refusal). */
type Recovery = { kind: 'found'; ref: SlackMessageRef } | { kind: 'post'; settled: boolean } | { kind: 'defer'; result: SendResult };

/** Looks for the message a lost post of `pending` may have left in the channel; never throws for Slack errors. */
async function recoverLostPost(ch: SlackChannel, n: Notification, pending: SlackPendingPost, lock: SlackGroupLock): Promise<Recovery> {
  const channel = await ch.channelIdForLookup();
  if (channel === undefined) {
    ch.warnOnce(
      'channel-unknown',
      n,
      'configure the Slack channel by its ID (C…): its ID is not known yet, so a post whose answer was lost cannot be looked for',
    );
    ch.lostPost('fallback');
    return { kind: 'post', settled: false };
  }
  let lookup: Awaited<ReturnType<typeof lookForPost>>;
  const startedAt = ch.now();
  try {
    lookup = await lookForPost(historyHolding(ch, pending.failedLookups ?? 0, lock), {
      channel,
      groupKey: n.groupKey,
      fromSeq: pending.seq,
      sinceMs: pending.at - LOOKUP_MARGIN_MS,
      pageSize: LOOKUP_PAGE_SIZE,
      maxPages: LOOKUP_MAX_PAGES,
    });
  } catch (error) {
    if (error instanceof LockLostError) return { kind: 'defer', result: lockBusy() };
    return lookupFailed(ch, n, pending, error);
  }
  if (lookup.found === null) {
    // Slack may still be working on the last attempt (a slow Slack loses the post's answer):
    // nothing found is no proof yet. Come back when it is.
    const tooEarlyMs = lookupTooEarlyByMs(pending, startedAt, POST_SETTLE_FACTOR * ch.timeoutMs);
    if (tooEarlyMs > 0) {
      ch.lostPost('deferred');
      return {
        kind: 'defer',
        result: {
          ok: false,
          retryable: true,
          reason: 'slack post whose answer was lost not found yet (Slack may still be posting it): looking again',
          retryAfterMs: tooEarlyMs,
        },
      };
    }
    if (lookup.complete) {
      // Every message since the first attempt was seen: the post never reached Slack.
      ch.lostPost('not_found');
      return { kind: 'post', settled: true };
    }
    ch.warnOnce(
      'channel-busy',
      n,
      `more than ${LOOKUP_PAGE_SIZE * LOOKUP_MAX_PAGES} messages were posted to the channel since a post whose answer was lost; posting it again, which may show it twice`,
    );
    ch.lostPost('fallback');
    return { kind: 'post', settled: false };
  }
  const { ts, seq } = lookup.found;
  // The message shows notification `seq`: its thread has told it, and for this notification the
  // findings told are known.
  const ref: SlackMessageRef = { channel, ts, seq, repliedSeq: seq, ...(seq === n.seq ? { told: toldFindingsOf(n) } : {}) };
  await ch.store.set(n.groupKey, ref);
  await ch.store.setOwnerGroup(ownerKey(n.labels), n.groupKey);
  ch.lostPost('found');
  return { kind: 'found', ref };
}

/**
 * A lookup that failed. Permissions and configuration post at once (and say what to grant): the
 * lookup will fail the same way until an operator acts. A rate limit or a passing failure (5xx,
 * timeout, network) never posts: the post it looks for may well be in Slack (a slow Slack both
 * loses the post's answer and times out the lookup), so the job is retried (its backoff, or
 * Retry-After) and the next lookup waits longer; after a few, an operator is told, once.
 */
async function lookupFailed(ch: SlackChannel, n: Notification, pending: SlackPendingPost, error: unknown): Promise<Recovery> {
  const failure = lostPostLookupFailureOf(error);
  if (failure.kind === 'not-permitted') {
    ch.warnOnce(
      failure.code,
      n,
      `cannot look for a Slack post whose answer was lost (conversations.history: ${failure.code}): ${failure.hint}; until then such a post may show twice`,
    );
    ch.lostPost('fallback');
    return { kind: 'post', settled: false };
  }
  const result = await deferLookup(ch, n, { ...pending, failedLookups: (pending.failedLookups ?? 0) + 1 }, failure, 'looking for a post whose answer was lost');
  return { kind: 'defer', result };
}

/** The group's lock expired or was taken while a lookup ran: stop, and let the holder go on. */
class LockLostError extends Error {
  override readonly name = 'LockLostError';
  constructor() {
    super('slack group lock lost during a lost-post lookup');
  }
}

/** The factor of the post timeout a lookup after `failedLookups` failed ones waits per page. */
export function lookupTimeoutFactor(failedLookups: number): number {
  const i = Math.min(Math.max(0, Math.floor(failedLookups)), LOOKUP_TIMEOUT_FACTORS.length - 1);
  return LOOKUP_TIMEOUT_FACTORS[i] ?? 1;
}

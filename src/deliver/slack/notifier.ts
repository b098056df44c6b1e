import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
} from '@slack/web-api';
import { createLogger, type Logger } from '../../log.ts';
import type { Notification } from '../../model/alert-group.ts';
import type { Notifier, SendResult } from '../notifier.ts';
import { withActionLog } from './actions.ts';
import {
  isSlackChannelId,
  lookForPost,
  lastPostAttemptAt,
  lookupTooEarlyByMs,
  lostPostLookupFailureOf,
  mergePendingPosts,
  postMayHaveLanded,
  postMayHaveLandedAfter,
  slackAlertMetadata,
  type LostPostLookupFailure,
  type SlackHistoryQuery,
} from './lost-post.ts';
import type { SlackLostPostOutcome } from '../../metrics.ts';
import type { SlackGroupLock, SlackMessageRef, SlackMessageStore, SlackPendingPost } from './message-store.ts';
import type { OwnerNote } from '../../model/owner-note.ts';
import { ownerKey } from '../../model/owner.ts';
import { planSlackDelivery, slackCallsOf, type SlackDeliveryPlan } from './plan.ts';
import { noSlackRateLimit, type SlackRateLimiter } from './rate-limit.ts';
import { renderSlackMessage, renderSlackThreadReply, toldFindingsOf } from './render.ts';

/** A Slack receiver also tells notes about an owner in the thread of its message about it. */
export interface SlackThreadNotifier extends Notifier {
  /** Posts the note in the thread of this receiver's message about the note's owner; ok with nothing to do when there is none. Never throws. */
  tellOwner(note: OwnerNote): Promise<SendResult>;
}

/** Whether a receiver can tell owner notes (the Slack receiver). */
export function isSlackThreadNotifier(n: Notifier): n is SlackThreadNotifier {
  return typeof (n as Partial<SlackThreadNotifier>).tellOwner === 'function';
}

/** Options for {@link createSlackNotifier}. */
export interface SlackNotifierOptions {
  /** Bot token (`xoxb-…`). Never appears in a SendResult reason. */
  token: string;
  /** Channel ID or `#name` for new messages; updates go to the channel ID Slack returned. */
  channel: string;
  /** Slack Web API base URL; defaults to https://slack.com/api/. Tests point it at a local fake. */
  apiUrl?: string;
  store: SlackMessageStore;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
  /**
   * Paces calls to the channel, across replicas when Redis-backed (`createRedisSlackRateLimiter`);
   * default: no pacing. Share one key prefix between receivers so that a channel has one budget.
   */
  rateLimiter?: SlackRateLimiter;
  /** Tell each later notification's change as a reply in the message's thread; default true. */
  threads?: boolean;
  /**
   * Where the notifier warns an operator (once per receiver) that a lost post cannot be looked for,
   * and what to grant; default: warn-level JSON lines on stderr, created on first use.
   */
  log?: Logger;
  /** Counts each lookup of a post whose answer was lost, by outcome (a metric). */
  onLostPost?: (outcome: SlackLostPostOutcome) => void;
  /** Clock of the pending-post records (epoch ms); default Date.now. */
  now?: () => number;
  /**
   * When Redis was last found to have lost meshdrift's state, while that is recent (issue #12);
   * undefined otherwise. Then a group's first post first looks for the message the group had before
   * the loss (its metadata names the group) and edits it instead of posting a second one.
   */
  stateLostAt?: () => number | undefined;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const LOCK_BUSY_RETRY_MS = 250;
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

// Platform errors (HTTP 200, ok:false) that say "try again later"; every other one will fail the
// same way on retry (auth, channel, payload).
const RETRYABLE_PLATFORM_ERRORS = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);
// The stored message is gone or no longer editable: post a new one instead.
const POST_INSTEAD_OF_UPDATE_ERRORS = new Set(['message_not_found', 'cant_update_message']);
// The thread's parent is gone: the reply cannot be told; the main message already shows the change.
const SKIP_REPLY_ERRORS = new Set(['thread_not_found', 'invalid_thread_ts', 'message_not_found']);

/**
 * Slack receiver: one message per alert group episode, posted on the group's first notification and
 * updated in place (chat.update) by later ones, each of which also adds a short line to the
 * message's thread saying what changed. The channel shows one line per incident, the thread its
 * history. A per-group lock and the stored seqs keep concurrent, retried or out-of-order jobs from
 * overwriting a newer message or telling a change twice. Never throws.
 *
 * Order of a later notification (each step recorded before the next, so a job that stops anywhere
 * resumes at the first step not recorded): lock → read ref → plan → take rate-limit slots for every
 * call the plan makes (or defer, having done nothing) → chat.update → store `seq` → thread reply →
 * store `repliedSeq` and `told` → unlock.
 *
 * A main message is posted once even when Slack's answer to the post is lost (Slack has no
 * idempotency key): a pending-post record goes to Redis just before chat.postMessage, and the
 * message carries metadata naming its group and seq. A retry that finds the record unanswered looks
 * for the message in the channel (conversations.history, which needs the bot scope
 * `channels:history`, or `groups:history` for a private channel) and edits it instead of posting
 * again. A lookup that fails for a passing reason (timeout, 5xx, rate limit) never posts: the job
 * is retried and the next lookup waits longer. Only a lookup that saw the whole channel since the
 * first attempt and found nothing posts again, or, where it cannot look (no history scope, bot
 * not in the channel, channel known only by name, more than 60 messages since), it posts
 * (at-least-once) and warns once what to fix.
 */
export function createSlackNotifier(opts: SlackNotifierOptions): SlackThreadNotifier {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const limiter = opts.rateLimiter ?? noSlackRateLimit;
  const threads = opts.threads ?? true;
  const client = new WebClient(opts.token, {
    ...(opts.apiUrl === undefined ? {} : { slackApiUrl: opts.apiUrl }),
    // BullMQ owns retries and backoff; the SDK must answer at once, including on 429.
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: timeoutMs,
    // Failures come back as SendResults for the worker to log (with the alert id); the SDK's own
    // console warnings would only duplicate them, unstructured.
    logLevel: LogLevel.ERROR,
  });
  // A lost post's lookup waits at least as long as the post did (see LOOKUP_TIMEOUT_FACTORS): one
  // client per factor, made when first needed.
  const historyClients = new Map<number, WebClient>();
  const historyClientFor = (failedLookups: number): WebClient => {
    const factor = lookupTimeoutFactor(failedLookups);
    let c = historyClients.get(factor);
    if (c === undefined) {
      c = new WebClient(opts.token, {
        ...(opts.apiUrl === undefined ? {} : { slackApiUrl: opts.apiUrl }),
        rejectRateLimitedCalls: true,
        retryConfig: { retries: 0 },
        timeout: timeoutMs * factor,
        logLevel: LogLevel.ERROR,
      });
      historyClients.set(factor, c);
    }
    return c;
  };
  // Up to three Slack calls (a history page, an update, then the reply or a post), plus Redis round
  // trips. A lost post's lookup extends the lock before each history page by that page's timeout
  // plus this, so a slow lookup never outlives the lock, and a dead replica's lock is not held long.
  const lockTtlMs = 3 * timeoutMs + 5_000;
  const now = opts.now ?? Date.now;
  let fallbackLog: Logger | undefined;
  const log = (): Logger => opts.log ?? (fallbackLog ??= createLogger('warn'));
  const lostPost = (outcome: SlackLostPostOutcome): void => opts.onLostPost?.(outcome);
  // A lookup needs the channel's ID. Configured by name, it is learnt from Slack's answers to posts
  // and kept in Redis, so replicas and restarts know it too.
  const configuredChannelId = isSlackChannelId(opts.channel) ? opts.channel : undefined;
  let learntChannelId: string | undefined;
  // Causes already warned about: one warning per receiver and cause, not one per alert.
  const warned = new Set<string>();

  const fail = (result: Extract<SendResult, { ok: false }>): SendResult => ({
    ...result,
    reason: redact(result.reason, opts.token),
  });

  // Maps a Slack error; a 429 also holds back every sender to this channel (other groups, replicas).
  async function slackFailure(method: string, error: unknown): Promise<SendResult> {
    const result = slackErrorToResult(method, error);
    const rateLimited =
      error instanceof WebAPIRateLimitedError || (error instanceof WebAPIPlatformError && error.data.error === 'ratelimited');
    if (rateLimited && result.retryAfterMs !== undefined) {
      // Best effort: this job is deferred by retryAfterMs anyway.
      await limiter.block(opts.channel, result.retryAfterMs).catch(() => undefined);
    }
    return fail(result);
  }

  /**
   * Posts the group's main message once: records the pending post, and when an earlier attempt's
   * answer was lost, first looks for the message it may have posted. `ref` is the stored message
   * (an older episode's, or one Slack lost), or null.
   */
  async function postOnce(n: Notification, ref: SlackMessageRef | null, lock: SlackGroupLock): Promise<SendResult> {
    const attempt: SlackPendingPost = { seq: n.seq, at: now() };
    const previous = await opts.store.swapPendingPost(n.groupKey, attempt, PENDING_POST_TTL_MS);
    const stateLostAt = ref === null ? opts.stateLostAt?.() : undefined;
    if (stateLostAt !== undefined) return postAfterStateLoss(n, attempt, previous, stateLostAt, lock);
    if (previous === null || !postMayHaveLanded(previous, ref)) return post(n, { forgetOnRefusal: true });
    // Keep the earliest attempt's time while the lost post is unaccounted for.
    const pending = mergePendingPosts(previous, attempt);
    await opts.store.setPendingPost(n.groupKey, pending, PENDING_POST_TTL_MS);
    const recovered = await recoverLostPost(n, pending, lock);
    if (recovered.kind === 'defer') return recovered.result;
    if (recovered.kind === 'post') {
      // This attempt may post too: a later lookup waits for it to settle.
      await opts.store.setPendingPost(n.groupKey, { ...pending, lastAt: now() }, PENDING_POST_TTL_MS);
      return post(n, { forgetOnRefusal: recovered.settled });
    }
    // Found: the message is in Slack; go on from it as from a stored one (update, reply or nothing).
    const next = planSlackDelivery(recovered.ref, n, { threads });
    const extra = slackCallsOf(next) - 1;
    if (extra > 0) {
      let waitMs: number;
      try {
        waitMs = await limiter.reserve(opts.channel, extra);
      } catch (error) {
        return fail({ ok: false, retryable: true, reason: `slack rate limiter unavailable: ${messageOf(error)}` });
      }
      // The found message is stored: the retry plans from it without looking again.
      if (waitMs > 0) return { ok: false, retryable: true, reason: 'slack channel rate limit', retryAfterMs: waitMs };
    }
    // A 'post' now is a new episode's first message (the one found was an older episode's): it gets
    // its own record, the found one being accounted for.
    return next.action === 'post' ? postOnce(n, recovered.ref, lock) : execute(next, n, lock);
  }

  /**
   * A group's first post after Redis lost meshdrift's state: the group may have had a message
   * before the loss (the store forgot it), so look for it by its metadata (any seq) from a week
   * before the loss, and edit it (with a thread reply) rather than post a second one. Nothing is
   * stored before the edit succeeds, so a retry looks again. Not found after a complete look: post.
   */
  async function postAfterStateLoss(n: Notification, attempt: SlackPendingPost, previous: SlackPendingPost | null, lostAt: number, lock: SlackGroupLock): Promise<SendResult> {
    const channel = await channelIdForLookup();
    if (channel === undefined) {
      warnOnce('channel-unknown', n, 'configure the Slack channel by its ID (C…): its ID is not known yet, so the message an alert had before Redis lost its state cannot be looked for');
      lostPost('fallback');
      return post(n, { forgetOnRefusal: false });
    }
    const failedLookups = previous?.failedLookups ?? 0;
    // What a deferral keeps: when an earlier attempt may have posted (0: none since the loss).
    const held: SlackPendingPost = { ...attempt, lastAt: previous === null ? 0 : lastPostAttemptAt(previous) };
    const startedAt = now();
    let lookup;
    try {
      lookup = await lookForPost(historyHolding(failedLookups, lock), {
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
        warnOnce(failure.code, n, `cannot look for the message an alert had before Redis lost its state (conversations.history ${failure.code}: ${failure.hint}); posting a new one, which may show it twice`);
        lostPost('fallback');
        return post(n, { forgetOnRefusal: false });
      }
      // A passing failure never posts: the old message may well be there. Retried, waiting longer.
      return deferLookup(n, { ...held, failedLookups: failedLookups + 1 }, failure, 'looking for the message an alert had before Redis lost its state');
    }
    if (lookup.found === null) {
      const tooEarlyMs = previous === null ? 0 : lookupTooEarlyByMs(held, startedAt, POST_SETTLE_FACTOR * timeoutMs);
      if (tooEarlyMs > 0) {
        await opts.store.setPendingPost(n.groupKey, { ...held, failedLookups }, PENDING_POST_TTL_MS);
        lostPost('deferred');
        return { ok: false, retryable: true, reason: 'slack message an alert had before Redis lost its state not found yet (an earlier attempt may still be posting): looking again', retryAfterMs: tooEarlyMs };
      }
      lostPost(lookup.complete ? 'not_found' : 'fallback');
      // The swapped-in record (this attempt) stands for this post.
      return post(n, { forgetOnRefusal: lookup.complete });
    }
    lostPost('found');
    // deliver() reserved the edit's and its reply's slots.
    const found: SlackMessageRef = { channel, ts: lookup.found.ts, seq: lookup.found.seq, repliedSeq: lookup.found.seq };
    await opts.store.setOwnerGroup(ownerKey(n.labels), n.groupKey);
    return execute({ action: 'update', ref: found, reply: threads }, n, lock);
  }

  /**
   * conversations.history for a lookup after `failedLookups` failed ones: its timeout grows with
   * them (LOOKUP_TIMEOUT_FACTORS), and before each page the group's lock is extended for that page
   * and what follows; a lock no longer held stops the lookup (LockLostError).
   */
  function historyHolding(failedLookups: number, lock: SlackGroupLock): (query: SlackHistoryQuery) => Promise<unknown> {
    const historyClient = historyClientFor(failedLookups);
    const pageTimeoutMs = timeoutMs * lookupTimeoutFactor(failedLookups);
    return async (query) => {
      if (!(await lock.extend(pageTimeoutMs + lockTtlMs))) throw new LockLostError();
      return historyClient.conversations.history(query);
    };
  }

  const lockBusy = (): SendResult => ({ ok: false, retryable: true, reason: 'slack message for this group is being written by another worker', retryAfterMs: LOCK_BUSY_RETRY_MS });

  /**
   * A lookup that failed for a passing reason (5xx, timeout, network, rate limit): keeps `record`
   * (with the failed count, so the next lookup waits longer), warns once after a few, and answers a
   * retry (Retry-After for a rate limit, the job's backoff otherwise). Never posts.
   */
  async function deferLookup(n: Notification, record: SlackPendingPost, failure: Exclude<LostPostLookupFailure, { kind: 'not-permitted' }>, what: string): Promise<SendResult> {
    if ((record.failedLookups ?? 0) >= WARN_AFTER_FAILED_LOOKUPS) {
      warnOnce('lookup-failing', n, `${what} keeps failing (conversations.history ${failure.kind === 'rate-limited' ? 'rate limited' : failure.reason}); the alert is held back and retried rather than posted twice`);
    }
    await opts.store.setPendingPost(n.groupKey, record, PENDING_POST_TTL_MS);
    lostPost('deferred');
    return failure.kind === 'rate-limited'
      ? { ok: false, retryable: true, reason: `slack conversations.history rate limited (${what})`, retryAfterMs: failure.retryAfterMs }
      : fail({ ok: false, retryable: true, reason: `slack conversations.history failed (${what}): ${failure.reason}` });
  }

  /** `post` with `settled` when the lookup saw that nothing was posted (the record may then go on a refusal). */
  type Recovery = { kind: 'found'; ref: SlackMessageRef } | { kind: 'post'; settled: boolean } | { kind: 'defer'; result: SendResult };

  /** Looks for the message a lost post of `pending` may have left in the channel; never throws for Slack errors. */
  async function recoverLostPost(n: Notification, pending: SlackPendingPost, lock: SlackGroupLock): Promise<Recovery> {
    const channel = await channelIdForLookup();
    if (channel === undefined) {
      warnOnce('channel-unknown', n, 'configure the Slack channel by its ID (C…): its ID is not known yet, so a post whose answer was lost cannot be looked for');
      lostPost('fallback');
      return { kind: 'post', settled: false };
    }
    let lookup;
    const startedAt = now();
    try {
      lookup = await lookForPost(historyHolding(pending.failedLookups ?? 0, lock), {
        channel,
        groupKey: n.groupKey,
        fromSeq: pending.seq,
        sinceMs: pending.at - LOOKUP_MARGIN_MS,
        pageSize: LOOKUP_PAGE_SIZE,
        maxPages: LOOKUP_MAX_PAGES,
      });
    } catch (error) {
      if (error instanceof LockLostError) return { kind: 'defer', result: lockBusy() };
      return lookupFailed(n, pending, error);
    }
    if (lookup.found === null) {
      // Slack may still be working on the last attempt (a slow Slack loses the post's answer):
      // nothing found is no proof yet. Come back when it is.
      const tooEarlyMs = lookupTooEarlyByMs(pending, startedAt, POST_SETTLE_FACTOR * timeoutMs);
      if (tooEarlyMs > 0) {
        lostPost('deferred');
        return {
          kind: 'defer',
          result: { ok: false, retryable: true, reason: 'slack post whose answer was lost not found yet (Slack may still be posting it): looking again', retryAfterMs: tooEarlyMs },
        };
      }
      if (lookup.complete) {
        // Every message since the first attempt was seen: the post never reached Slack.
        lostPost('not_found');
        return { kind: 'post', settled: true };
      }
      warnOnce('channel-busy', n, `more than ${LOOKUP_PAGE_SIZE * LOOKUP_MAX_PAGES} messages were posted to the channel since a post whose answer was lost; posting it again, which may show it twice`);
      lostPost('fallback');
      return { kind: 'post', settled: false };
    }
    const { ts, seq } = lookup.found;
    // The message shows notification `seq`: its thread has told it, and for this notification the
    // findings told are known.
    const ref: SlackMessageRef = { channel, ts, seq, repliedSeq: seq, ...(seq === n.seq ? { told: toldFindingsOf(n) } : {}) };
    await opts.store.set(n.groupKey, ref);
    await opts.store.setOwnerGroup(ownerKey(n.labels), n.groupKey);
    lostPost('found');
    return { kind: 'found', ref };
  }

  /**
   * A lookup that failed. Permissions and configuration post at once (and say what to grant): the
   * lookup will fail the same way until an operator acts. A rate limit or a passing failure (5xx,
   * timeout, network) never posts: the post it looks for may well be in Slack (a slow Slack both
   * loses the post's answer and times out the lookup), so the job is retried (its backoff, or
   * Retry-After) and the next lookup waits longer; after a few, an operator is told, once.
   */
  async function lookupFailed(n: Notification, pending: SlackPendingPost, error: unknown): Promise<Recovery> {
    const failure = lostPostLookupFailureOf(error);
    if (failure.kind === 'not-permitted') {
      warnOnce(failure.code, n, `cannot look for a Slack post whose answer was lost (conversations.history: ${failure.code}): ${failure.hint}; until then such a post may show twice`);
      lostPost('fallback');
      return { kind: 'post', settled: false };
    }
    const result = await deferLookup(n, { ...pending, failedLookups: (pending.failedLookups ?? 0) + 1 }, failure, 'looking for a post whose answer was lost');
    return { kind: 'defer', result };
  }

  function warnOnce(cause: string, n: Notification, message: string): void {
    if (warned.has(cause)) return;
    warned.add(cause);
    log().warn({ channel: opts.channel, group: n.groupKey, cause }, redact(message, opts.token));
  }

  async function channelIdForLookup(): Promise<string | undefined> {
    if (configuredChannelId !== undefined) return configuredChannelId;
    if (learntChannelId !== undefined) return learntChannelId;
    const stored = await opts.store.channelId(opts.channel);
    if (stored !== null && isSlackChannelId(stored)) learntChannelId = stored;
    return learntChannelId;
  }

  // Remembers the ID Slack answered for a channel configured by name: one Redis write per process.
  async function learnChannelId(id: string): Promise<void> {
    if (configuredChannelId !== undefined || id === learntChannelId || !isSlackChannelId(id)) return;
    try {
      await opts.store.setChannelId(opts.channel, id);
      learntChannelId = id;
    } catch {
      // Only a later lookup needs it; the next post's answer tries again.
    }
  }

  /**
   * chat.postMessage of the main message, with the metadata a lookup finds it by. With
   * `forgetOnRefusal`, an answer that says Slack did not post (429, a platform error) drops this
   * attempt's pending-post record, so the retry does not look for a post that cannot exist.
   */
  async function post(n: Notification, how: { forgetOnRefusal: boolean }): Promise<SendResult> {
    const { text, blocks } = renderSlackMessage(n);
    let posted: { channel: string; ts: string };
    try {
      const res = await client.chat.postMessage({
        channel: opts.channel,
        text,
        blocks,
        metadata: slackAlertMetadata(n),
        unfurl_links: false,
        unfurl_media: false,
      });
      if (res.ts === undefined) {
        return fail({ ok: false, retryable: true, reason: 'slack chat.postMessage answered ok without a message ts' });
      }
      posted = { channel: res.channel ?? opts.channel, ts: res.ts };
    } catch (error) {
      if (how.forgetOnRefusal && !postMayHaveLandedAfter(error)) {
        // Best effort: a record left behind costs the retry one history lookup that finds nothing.
        await opts.store.clearPendingPost(n.groupKey).catch(() => undefined);
      }
      return slackFailure('chat.postMessage', error);
    }
    await learnChannelId(posted.channel);
    try {
      // A new message starts its thread: nothing is owed for it. Storing it also settles the
      // pending-post record (its seq is now shown).
      await opts.store.set(n.groupKey, { ...posted, seq: n.seq, repliedSeq: n.seq, told: toldFindingsOf(n) });
      await opts.store.setOwnerGroup(ownerKey(n.labels), n.groupKey);
    } catch {
      // The alert is in Slack. Retrying now would find it through the pending-post record, but so
      // will the next notification's post; report delivery rather than spend an attempt on it.
    }
    return { ok: true };
  }

  async function reply(n: Notification, ref: SlackMessageRef): Promise<SendResult> {
    const { text, blocks } = renderSlackThreadReply(n, ref.told);
    try {
      await client.chat.postMessage({
        channel: ref.channel,
        thread_ts: ref.ts,
        text,
        blocks,
        unfurl_links: false,
        unfurl_media: false,
      });
    } catch (error) {
      if (!(error instanceof WebAPIPlatformError && SKIP_REPLY_ERRORS.has(error.data.error))) {
        return slackFailure('chat.postMessage (thread reply)', error);
      }
    }
    try {
      await opts.store.set(n.groupKey, { ...ref, repliedSeq: n.seq, told: toldFindingsOf(n) });
    } catch {
      // The reply is in Slack and the message shows this notification. A retry would reply twice;
      // without one, the next notification's reply also tells this change. Report delivery.
    }
    return { ok: true };
  }

  async function deliver(n: Notification, lock: SlackGroupLock): Promise<SendResult> {
    const ref = await opts.store.get(n.groupKey);
    const plan = planSlackDelivery(ref, n, { threads });
    if (plan.action === 'none') return { ok: true };
    // After Redis lost its state, a first post may turn into an edit and its reply (postAfterStateLoss).
    const mayEditLost = plan.action === 'post' && ref === null && opts.stateLostAt?.() !== undefined;

    // All slots before the first call: a deferred job has done nothing, and a job that got its
    // slots does not stop half-way for the rate limit.
    let waitMs: number;
    try {
      waitMs = await limiter.reserve(opts.channel, slackCallsOf(plan) + (mayEditLost ? 1 : 0));
    } catch (error) {
      return fail({ ok: false, retryable: true, reason: `slack rate limiter unavailable: ${messageOf(error)}` });
    }
    if (waitMs > 0) return { ok: false, retryable: true, reason: 'slack channel rate limit', retryAfterMs: waitMs };

    return plan.action === 'post' ? postOnce(n, ref, lock) : execute(plan, n, lock);
  }

  /** Runs a plan whose rate-limit slots are taken; a 'post' goes through postOnce. */
  async function execute(plan: Exclude<SlackDeliveryPlan, { action: 'post' }>, n: Notification, lock: SlackGroupLock): Promise<SendResult> {
    switch (plan.action) {
      case 'none':
        return { ok: true };
      case 'reply':
        return reply(n, plan.ref);
      case 'update': {
        const { text, blocks } = renderSlackMessage(n);
        // The re-render keeps who did what (Slack buttons): read last, just before the edit.
        const lines = await opts.store.actionLines(n.groupKey, plan.ref.ts);
        const shown = lines.reduce<unknown[]>((acc, line) => withActionLog(acc, line, { removeActions: n.status !== 'firing' }), blocks);
        try {
          await client.chat.update({ channel: plan.ref.channel, ts: plan.ref.ts, text, blocks: shown as typeof blocks, metadata: slackAlertMetadata(n) });
        } catch (error) {
          if (error instanceof WebAPIPlatformError && POST_INSTEAD_OF_UPDATE_ERRORS.has(error.data.error)) return postOnce(n, plan.ref, lock);
          return slackFailure('chat.update', error);
        }
        // Recorded before the reply: a job that stops now resumes with the reply alone. The
        // update is idempotent, so a job that stopped before this line just edits again.
        const updated: SlackMessageRef = plan.reply
          ? { ...plan.ref, seq: n.seq, repliedSeq: plan.ref.repliedSeq ?? plan.ref.seq }
          : { ...plan.ref, seq: n.seq, repliedSeq: n.seq, told: toldFindingsOf(n) };
        await opts.store.set(n.groupKey, updated);
        return plan.reply ? reply(n, updated) : { ok: true };
      }
    }
  }

  async function tell(note: OwnerNote): Promise<SendResult> {
    const groupKey = await opts.store.groupOfOwner(ownerKey(note));
    const ref = groupKey === null ? null : await opts.store.get(groupKey);
    // This receiver never wrote about the owner (or forgot it): someone else's channel, nothing to tell.
    if (ref === null) return { ok: true };
    let waitMs: number;
    try {
      waitMs = await limiter.reserve(opts.channel, 1);
    } catch (error) {
      return fail({ ok: false, retryable: true, reason: `slack rate limiter unavailable: ${messageOf(error)}` });
    }
    if (waitMs > 0) return { ok: false, retryable: true, reason: 'slack channel rate limit', retryAfterMs: waitMs };
    try {
      await client.chat.postMessage({
        channel: ref.channel,
        thread_ts: ref.ts,
        reply_broadcast: note.broadcast,
        text: note.text,
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: note.text } }],
        unfurl_links: false,
        unfurl_media: false,
      });
    } catch (error) {
      if (error instanceof WebAPIPlatformError && SKIP_REPLY_ERRORS.has(error.data.error)) return { ok: true };
      return slackFailure('chat.postMessage (note)', error);
    }
    return { ok: true };
  }

  return {
    type: 'slack',
    async tellOwner(note) {
      try {
        return await tell(note);
      } catch (error) {
        return fail({ ok: false, retryable: true, reason: `slack message store failed: ${messageOf(error)}` });
      }
    },
    async send(n) {
      let release: SlackGroupLock | null;
      try {
        release = await opts.store.tryLock(n.groupKey, lockTtlMs);
      } catch (error) {
        return fail({ ok: false, retryable: true, reason: `slack message store unavailable: ${messageOf(error)}` });
      }
      if (release === null) {
        return {
          ok: false,
          retryable: true,
          reason: 'slack message for this group is being written by another worker',
          retryAfterMs: LOCK_BUSY_RETRY_MS,
        };
      }
      try {
        return await deliver(n, release);
      } catch (error) {
        // Only the store can get here (Slack errors are mapped where they happen).
        return fail({ ok: false, retryable: true, reason: `slack message store failed: ${messageOf(error)}` });
      } finally {
        // The lock expires by itself; a failed release must not turn a delivery into a failure.
        await release().catch(() => undefined);
      }
    },
  };
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

/**
 * Maps an error thrown by @slack/web-api (v8 error classes) to a SendResult. Exported so the
 * retryability table can be read and tested on its own.
 */
export function slackErrorToResult(method: string, error: unknown): Extract<SendResult, { ok: false }> {
  if (error instanceof WebAPIRateLimitedError) {
    return {
      ok: false,
      retryable: true,
      reason: `slack ${method} rate limited (HTTP 429), retry after ${error.retryAfter}s`,
      retryAfterMs: error.retryAfter * 1000,
    };
  }
  if (error instanceof WebAPIPlatformError) {
    const code = error.data.error;
    const retryAfter = error.data.response_metadata?.retryAfter;
    const retryable = RETRYABLE_PLATFORM_ERRORS.has(code);
    return {
      ok: false,
      retryable,
      reason: `slack ${method} failed: ${code}${platformHint(code)}`,
      ...(retryable && retryAfter !== undefined ? { retryAfterMs: retryAfter * 1000 } : {}),
    };
  }
  if (error instanceof WebAPIHTTPError) {
    // Slack's Web API only means something by 200 and 429; 5xx and 408 are transient, and a 4xx
    // (e.g. 400 for an oversized section) will fail again unchanged.
    const retryable = error.statusCode >= 500 || error.statusCode === 408;
    return { ok: false, retryable, reason: `slack ${method} failed: HTTP ${error.statusCode}` };
  }
  if (error instanceof WebAPIRequestError) {
    const timedOut = error.original.name === 'TimeoutError' || error.original.name === 'AbortError';
    return {
      ok: false,
      retryable: true,
      reason: timedOut ? `slack ${method} timed out` : `slack ${method} request failed: ${networkCause(error.original)}`,
    };
  }
  // E.g. a 429 without a usable Retry-After, which the SDK throws as a plain Error.
  return { ok: false, retryable: true, reason: `slack ${method} failed: ${messageOf(error)}` };
}

function platformHint(code: string): string {
  switch (code) {
    case 'invalid_auth':
    case 'not_authed':
    case 'token_revoked':
    case 'account_inactive':
      return ' (check the Slack bot token)';
    case 'channel_not_found':
    case 'not_in_channel':
      return ' (check the channel and invite the bot to it)';
    case 'is_archived':
      return ' (the channel is archived)';
    case 'msg_too_long':
    case 'invalid_blocks':
    case 'msg_blocks_too_long':
      return ' (the rendered message exceeds Slack limits)';
    default:
      return '';
  }
}

// fetch reports "fetch failed" and puts the useful part (ECONNREFUSED …) in `cause`.
function networkCause(original: Error): string {
  const cause: unknown = original.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code === undefined ? cause.message : code;
  }
  return original.message;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// Defense in depth: no reason built above contains the token, but error messages come from
// libraries and could change.
function redact(reason: string, token: string): string {
  return token === '' ? reason : reason.replaceAll(token, '[redacted]');
}

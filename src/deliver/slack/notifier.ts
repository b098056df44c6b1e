import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
} from '@slack/web-api';
import type { Notification } from '../../model/alert-group.ts';
import type { Notifier, SendResult } from '../notifier.ts';
import { withActionLog } from './actions.ts';
import type { SlackMessageRef, SlackMessageStore } from './message-store.ts';
import { noteOwnerKey, type OwnerNote } from './owner-note.ts';
import { planSlackDelivery, slackCallsOf } from './plan.ts';
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
}

const DEFAULT_TIMEOUT_MS = 10_000;
const LOCK_BUSY_RETRY_MS = 250;

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
  // Up to two Slack calls (update, then the reply or a fallback post) plus Redis round trips.
  const lockTtlMs = 2 * timeoutMs + 5_000;

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

  async function post(n: Notification): Promise<SendResult> {
    const { text, blocks } = renderSlackMessage(n);
    let posted: { channel: string; ts: string };
    try {
      const res = await client.chat.postMessage({
        channel: opts.channel,
        text,
        blocks,
        unfurl_links: false,
        unfurl_media: false,
      });
      if (res.ts === undefined) {
        return fail({ ok: false, retryable: true, reason: 'slack chat.postMessage answered ok without a message ts' });
      }
      posted = { channel: res.channel ?? opts.channel, ts: res.ts };
    } catch (error) {
      return slackFailure('chat.postMessage', error);
    }
    try {
      // A new message starts its thread: nothing is owed for it.
      await opts.store.set(n.groupKey, { ...posted, seq: n.seq, repliedSeq: n.seq, told: toldFindingsOf(n) });
      await opts.store.setOwnerGroup(noteOwnerKey(n.labels), n.groupKey);
    } catch {
      // The alert is in Slack. Retrying would post a duplicate now; not retrying means the next
      // notification posts a new message instead of editing this one. Same cost, so report delivery.
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

  async function deliver(n: Notification): Promise<SendResult> {
    const ref = await opts.store.get(n.groupKey);
    const plan = planSlackDelivery(ref, n, { threads });
    if (plan.action === 'none') return { ok: true };

    // All slots before the first call: a deferred job has done nothing, and a job that got its
    // slots does not stop half-way for the rate limit.
    let waitMs: number;
    try {
      waitMs = await limiter.reserve(opts.channel, slackCallsOf(plan));
    } catch (error) {
      return fail({ ok: false, retryable: true, reason: `slack rate limiter unavailable: ${messageOf(error)}` });
    }
    if (waitMs > 0) return { ok: false, retryable: true, reason: 'slack channel rate limit', retryAfterMs: waitMs };

    switch (plan.action) {
      case 'post':
        return post(n);
      case 'reply':
        return reply(n, plan.ref);
      case 'update': {
        const { text, blocks } = renderSlackMessage(n);
        // The re-render keeps who did what (Slack buttons): read last, just before the edit.
        const lines = await opts.store.actionLines(n.groupKey, plan.ref.ts);
        const shown = lines.reduce<unknown[]>((acc, line) => withActionLog(acc, line, { removeActions: n.status !== 'firing' }), blocks);
        try {
          await client.chat.update({ channel: plan.ref.channel, ts: plan.ref.ts, text, blocks: shown as typeof blocks });
        } catch (error) {
          if (error instanceof WebAPIPlatformError && POST_INSTEAD_OF_UPDATE_ERRORS.has(error.data.error)) return post(n);
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
    const groupKey = await opts.store.groupOfOwner(noteOwnerKey(note));
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
    name: 'slack',
    async tellOwner(note) {
      try {
        return await tell(note);
      } catch (error) {
        return fail({ ok: false, retryable: true, reason: `slack message store failed: ${messageOf(error)}` });
      }
    },
    async send(n) {
      let release: (() => Promise<void>) | null;
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
        return await deliver(n);
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

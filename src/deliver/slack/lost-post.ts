import { WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebAPIRequestError } from '@slack/web-api';
import { z } from 'zod';
import type { Notification } from '../../model/alert-group.ts';
import type { SlackMessageRef, SlackPendingPost } from './message-store.ts';

// Slack has no idempotency key: a chat.postMessage whose answer is lost (timeout, cut connection,
// replica killed mid-call) may or may not have posted. Each main message therefore carries message
// metadata naming its group and seq, and a retry that finds an unanswered post looks for that
// message in the channel's history (conversations.history, `include_all_metadata`) before posting
// again. The pure parts of that are here; the notifier does the I/O.

/** The `event_type` of the metadata on every main message (Slack: a short alphanumeric name). */
export const SLACK_ALERT_EVENT_TYPE = 'meshdrift_alert';

/**
 * The metadata of a main message: the group key (an opaque hash, already in the buttons' values)
 * and the seq of the notification the message shows. Slack shows metadata to any app in the
 * workspace, so nothing else goes in.
 */
export function slackAlertMetadata(n: Pick<Notification, 'groupKey' | 'seq'>): { event_type: string; event_payload: { group: string; seq: number } } {
  return { event_type: SLACK_ALERT_EVENT_TYPE, event_payload: { group: n.groupKey, seq: n.seq } };
}

/**
 * Whether an earlier post of the group's main message may be in Slack without meshdrift knowing
 * its ts: a pending post was recorded, and no message showing its seq (or a later one) was stored
 * since. A post that was answered stores its ref, so its record needs no deleting.
 */
export function postMayHaveLanded(pending: SlackPendingPost | null, ref: SlackMessageRef | null): boolean {
  return pending !== null && (ref === null || ref.seq < pending.seq);
}

/**
 * The record to keep while a lost post is unaccounted for: its earliest time and lowest seq, so
 * that a lookup searches back to the first attempt that may have posted, and the time of the
 * latest attempt that may have posted (`earlier`'s: `next` is the attempt now looking, which has
 * not posted).
 */
export function mergePendingPosts(earlier: SlackPendingPost, next: SlackPendingPost): SlackPendingPost {
  return {
    seq: Math.min(earlier.seq, next.seq),
    at: Math.min(earlier.at, next.at),
    lastAt: lastPostAttemptAt(earlier),
    ...(earlier.failedLookups === undefined ? {} : { failedLookups: earlier.failedLookups }),
  };
}

/** When the latest attempt that may have posted started (records written before `lastAt`: `at`). */
export function lastPostAttemptAt(pending: SlackPendingPost): number {
  return pending.lastAt ?? pending.at;
}

/**
 * How long after the latest attempt that may have posted a lookup must start for "not in the
 * channel" to mean "never posted", and 0 once it may. A slow Slack answers a post after the
 * client's timeout; its history may not show the post before it is done. So a lookup that finds
 * nothing earlier than `settleMs` after that attempt is retried, not followed by a post.
 */
export function lookupTooEarlyByMs(pending: SlackPendingPost, lookupStartedAt: number, settleMs: number): number {
  return Math.max(0, lastPostAttemptAt(pending) + settleMs - lookupStartedAt);
}

// Slack's own words for internal_error and fatal_error: "It's possible some aspect of the
// operation succeeded before the error was raised."
const MAYBE_DONE_PLATFORM_ERRORS = new Set(['internal_error', 'fatal_error', 'request_timeout', 'service_unavailable']);
// The request never left: nothing can have been posted.
const NOT_SENT_NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether a chat.postMessage that failed with `error` may still have posted. A 429 or a platform
 * error (other than Slack's internal ones) says it did not; a 5xx, a timeout or a cut connection
 * does not say.
 */
export function postMayHaveLandedAfter(error: unknown): boolean {
  if (error instanceof WebAPIRateLimitedError) return false;
  if (error instanceof WebAPIPlatformError) return MAYBE_DONE_PLATFORM_ERRORS.has(error.data.error);
  if (error instanceof WebAPIHTTPError) return error.statusCode >= 500 || error.statusCode === 408;
  if (error instanceof WebAPIRequestError) {
    const code = (error.original.cause as NodeJS.ErrnoException | undefined)?.code;
    return code === undefined || !NOT_SENT_NETWORK_CODES.has(code);
  }
  return true;
}

/** Slack message IDs of channels: `C…` (public), `G…` (private, older), `D…` (DM). Names are lower case. */
export function isSlackChannelId(channel: string): boolean {
  return /^[CGD][A-Z0-9]{6,}$/.test(channel);
}

/** A Slack timestamp (`seconds.micros`) for an epoch-ms time, as conversations.history `oldest` takes it. */
export function slackTsOf(ms: number): string {
  const t = Math.max(0, Math.floor(ms));
  return `${Math.floor(t / 1000)}.${String((t % 1000) * 1000).padStart(6, '0')}`;
}

const alertMetadataSchema = z.object({
  event_type: z.literal(SLACK_ALERT_EVENT_TYPE),
  event_payload: z.looseObject({ group: z.string().min(1), seq: z.number().int().positive() }),
});
const historyMessageSchema = z.looseObject({ ts: z.string().min(1), metadata: z.unknown().optional() });

/** meshdrift's main message for a group, as found in the channel. */
export interface FoundSlackPost {
  ts: string;
  /** The seq its metadata names: the notification it shows. */
  seq: number;
}

/**
 * The newest message among `messages` (one conversations.history page, newest first) whose
 * metadata says it is the group's main message for `fromSeq` or later. Other messages, other
 * apps' metadata and malformed entries are skipped: the channel is shared, its history is input.
 */
export function findPostedMessage(messages: readonly unknown[], groupKey: string, fromSeq: number): FoundSlackPost | null {
  for (const m of messages) {
    const message = historyMessageSchema.safeParse(m);
    if (!message.success) continue;
    const metadata = alertMetadataSchema.safeParse(message.data.metadata);
    if (!metadata.success) continue;
    const { group, seq } = metadata.data.event_payload;
    if (group === groupKey && seq >= fromSeq) return { ts: message.data.ts, seq };
  }
  return null;
}

const historyPageSchema = z.looseObject({
  messages: z.array(z.unknown()).optional(),
  has_more: z.boolean().optional(),
  response_metadata: z.looseObject({ next_cursor: z.string().optional() }).optional(),
});

/** The conversations.history arguments a lookup sends. */
export interface SlackHistoryQuery {
  channel: string;
  oldest: string;
  limit: number;
  include_all_metadata: true;
  cursor?: string;
}

export interface LostPostSearch {
  channel: string;
  groupKey: string;
  fromSeq: number;
  /** Epoch ms: messages older than this are not looked at. */
  sinceMs: number;
  /** Messages per page (Slack: at most 15 for apps outside the Marketplace since 2025). */
  pageSize: number;
  maxPages: number;
}

/** `found`, or not found with `complete` saying whether every message since `sinceMs` was seen. */
export type LostPostLookup = { found: FoundSlackPost } | { found: null; complete: boolean };

/**
 * Pages through the channel's history from now back to `sinceMs`, newest first, until it finds the
 * group's message or has read `maxPages` pages. Throws what `history` throws, and on an answer that
 * is not a history page.
 */
export async function lookForPost(history: (query: SlackHistoryQuery) => Promise<unknown>, search: LostPostSearch): Promise<LostPostLookup> {
  let cursor: string | undefined;
  for (let page = 0; page < search.maxPages; page++) {
    const answer = historyPageSchema.safeParse(
      await history({
        channel: search.channel,
        oldest: slackTsOf(search.sinceMs),
        limit: search.pageSize,
        include_all_metadata: true,
        ...(cursor === undefined ? {} : { cursor }),
      }),
    );
    if (!answer.success) throw new Error(`conversations.history answered an unexpected shape: ${answer.error.issues[0]?.message ?? 'invalid'}`);
    const found = findPostedMessage(answer.data.messages ?? [], search.groupKey, search.fromSeq);
    if (found !== null) return { found };
    cursor = answer.data.response_metadata?.next_cursor;
    if (answer.data.has_more !== true || cursor === undefined || cursor === '') return { found: null, complete: true };
  }
  return { found: null, complete: false };
}

/** Why a lookup could not run, and what to do about it. */
export type LostPostLookupFailure =
  /** Permissions or configuration: it will fail the same way until an operator acts. */
  | { kind: 'not-permitted'; code: string; hint: string }
  | { kind: 'rate-limited'; retryAfterMs: number }
  /** 5xx, timeout, network: worth another try. */
  | { kind: 'transient'; reason: string };

/** Classifies an error thrown by a conversations.history call (@slack/web-api v8 error classes). */
export function lostPostLookupFailureOf(error: unknown): LostPostLookupFailure {
  if (error instanceof WebAPIRateLimitedError) return { kind: 'rate-limited', retryAfterMs: error.retryAfter * 1000 };
  if (error instanceof WebAPIPlatformError) {
    const code = error.data.error;
    if (code === 'ratelimited') {
      const retryAfter = error.data.response_metadata?.retryAfter;
      return { kind: 'rate-limited', retryAfterMs: (retryAfter ?? 1) * 1000 };
    }
    if (MAYBE_DONE_PLATFORM_ERRORS.has(code)) return { kind: 'transient', reason: code };
    return { kind: 'not-permitted', code, hint: lookupHint(code, (error.data as { needed?: unknown }).needed) };
  }
  if (error instanceof WebAPIHTTPError) {
    return error.statusCode >= 500 || error.statusCode === 408
      ? { kind: 'transient', reason: `HTTP ${error.statusCode}` }
      : { kind: 'not-permitted', code: `HTTP ${error.statusCode}`, hint: 'Slack refused the request' };
  }
  if (error instanceof WebAPIRequestError) {
    const timedOut = error.original.name === 'TimeoutError' || error.original.name === 'AbortError';
    return { kind: 'transient', reason: timedOut ? 'timed out' : 'request failed' };
  }
  return { kind: 'transient', reason: error instanceof Error ? error.message : String(error) };
}

function lookupHint(code: string, needed: unknown): string {
  switch (code) {
    case 'missing_scope':
      return `add the bot scope ${typeof needed === 'string' && /^[a-z:.,_]+$/.test(needed) ? needed : 'channels:history'} (groups:history for a private channel)`;
    case 'not_in_channel':
    case 'channel_not_found':
      return 'invite the bot to the channel, and configure the channel by ID';
    case 'invalid_auth':
    case 'not_authed':
    case 'token_revoked':
    case 'account_inactive':
      return 'check the Slack bot token';
    default:
      return 'Slack refused the lookup';
  }
}

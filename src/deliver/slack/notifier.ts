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
import type { SlackMessageStore } from './message-store.ts';
import { renderSlackMessage } from './render.ts';

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
}

const DEFAULT_TIMEOUT_MS = 10_000;
const LOCK_BUSY_RETRY_MS = 250;

// Platform errors (HTTP 200, ok:false) that say "try again later"; every other one will fail the
// same way on retry (auth, channel, payload).
const RETRYABLE_PLATFORM_ERRORS = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);
// The stored message is gone or no longer editable: post a new one instead.
const POST_INSTEAD_OF_UPDATE_ERRORS = new Set(['message_not_found', 'cant_update_message']);

/**
 * Slack receiver: one message per alert group, posted on the group's first notification and updated
 * in place (chat.update) by later ones. Per-group lock and seq check keep concurrent or
 * out-of-order jobs from overwriting a newer message with an older one. Never throws.
 */
export function createSlackNotifier(opts: SlackNotifierOptions): Notifier {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
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
  // Up to two Slack calls (update, then a fallback post) plus Redis round trips.
  const lockTtlMs = 2 * timeoutMs + 5_000;

  const fail = (result: Extract<SendResult, { ok: false }>): SendResult => ({
    ...result,
    reason: redact(result.reason, opts.token),
  });

  async function deliver(n: Notification): Promise<SendResult> {
    const ref = await opts.store.get(n.groupKey);
    // An older notification (a retried or late job) must not overwrite a newer message.
    if (ref !== null && ref.seq >= n.seq) return { ok: true };
    const { text, blocks } = renderSlackMessage(n);

    // A new episode (reason 'first') gets a new message; later notifications edit it in place.
    if (ref !== null && n.reason !== 'first') {
      try {
        await client.chat.update({ channel: ref.channel, ts: ref.ts, text, blocks });
        await opts.store.set(n.groupKey, { ...ref, seq: n.seq });
        return { ok: true };
      } catch (error) {
        if (!(error instanceof WebAPIPlatformError && POST_INSTEAD_OF_UPDATE_ERRORS.has(error.data.error))) {
          return fail(slackErrorToResult('chat.update', error));
        }
      }
    }

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
      return fail(slackErrorToResult('chat.postMessage', error));
    }
    try {
      await opts.store.set(n.groupKey, { ...posted, seq: n.seq });
    } catch {
      // The alert is in Slack. Retrying would post a duplicate now; not retrying means the next
      // notification posts a new message instead of editing this one. Same cost, so report delivery.
    }
    return { ok: true };
  }

  return {
    name: 'slack',
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

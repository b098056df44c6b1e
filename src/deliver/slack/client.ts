import { LogLevel, WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebAPIRequestError, WebClient } from '@slack/web-api';
import type { SendResult } from '../notifier.ts';
import { messageOf } from '../../model/error-message.ts';

/**
 * The Slack Web API as the Slack receiver uses it: one way to make a client, and one mapping of
 * its errors to SendResults (retryability, Retry-After, hints, never the token).
 */

export interface SlackClientOptions {
  /** Bot token (`xoxb-…`). */
  token: string;
  /** Slack Web API base URL; defaults to https://slack.com/api/. */
  apiUrl?: string | undefined;
}

/**
 * A receiver's Web API clients, one per request timeout, made when first needed and all alike
 * otherwise: BullMQ owns retries and backoff, so the SDK answers at once, including on 429.
 */
export function slackClients(opts: SlackClientOptions): (timeoutMs: number) => WebClient {
  const clients = new Map<number, WebClient>();
  return (timeoutMs) => {
    let client = clients.get(timeoutMs);
    if (client === undefined) {
      client = new WebClient(opts.token, {
        ...(opts.apiUrl === undefined ? {} : { slackApiUrl: opts.apiUrl }),
        rejectRateLimitedCalls: true,
        retryConfig: { retries: 0 },
        timeout: timeoutMs,
        // Failures come back as SendResults for the worker to log (with the alert id); the SDK's
        // own console warnings would only duplicate them, unstructured.
        logLevel: LogLevel.ERROR,
      });
      clients.set(timeoutMs, client);
    }
    return client;
  };
}

// Platform errors (HTTP 200, ok:false) that say "try again later"; every other one will fail the
// same way on retry (auth, channel, payload).
const RETRYABLE_PLATFORM_ERRORS = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);
/** The stored message is gone or no longer editable: post a new one instead. */
export const POST_INSTEAD_OF_UPDATE_ERRORS: ReadonlySet<string> = new Set(['message_not_found', 'cant_update_message']);
/** The thread's parent is gone: the reply cannot be told; the main message already shows the change. */
export const SKIP_REPLY_ERRORS: ReadonlySet<string> = new Set(['thread_not_found', 'invalid_thread_ts', 'message_not_found']);

/** Whether Slack answered with one of these platform error codes (HTTP 200, ok:false). */
export function isPlatformError(error: unknown, codes: ReadonlySet<string>): boolean {
  return error instanceof WebAPIPlatformError && codes.has(error.data.error);
}

/** Whether Slack said "rate limited" (HTTP 429, or the `ratelimited` platform error). */
export function isRateLimited(error: unknown): boolean {
  return error instanceof WebAPIRateLimitedError || (error instanceof WebAPIPlatformError && error.data.error === 'ratelimited');
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

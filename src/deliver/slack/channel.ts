import type { LinkContext } from '../links.ts';
import type { SlackButtonsOf } from './buttons.ts';
import type { WebClient } from '@slack/web-api';
import { createBestEffort, fallbackBestEffort, reportingWith, type BestEffort } from '../../best-effort.ts';
import { createLogger, type Logger } from '../../log.ts';
import type { SlackLostPostOutcome } from '../../metrics.ts';
import type { Notification } from '../../model/alert-group.ts';
import type { SendResult } from '../notifier.ts';
import { isRateLimited, slackClients, slackErrorToResult } from './client.ts';
import { messageOf } from '../../model/error-message.ts';
import { redactSecrets } from '../../net/http.ts';
import { isSlackChannelId } from './lost-post.ts';
import type { SlackMessageStore } from './message-store.ts';
import { noSlackRateLimit, type SlackRateLimiter } from './rate-limit.ts';

/** Options for {@link createSlackNotifier} (notifier.ts). */
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
  /** ARGOCD_URL and MESHDRIFT_GIT_HOSTS, for the Argo CD and commit links of a message. */
  links?: LinkContext;
  /** Which buttons a message carries (deliver/slack/buttons.ts); none without it. */
  buttons?: SlackButtonsOf;
  /**
   * Where a failed best-effort step (a lock release, the channel's hold after a 429…) is counted
   * and logged (best-effort.ts); default: logged to `log`, or on stderr.
   */
  bestEffort?: BestEffort;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const LOCK_BUSY_RETRY_MS = 250;

/** A failed SendResult. */
export type SlackFailure = Extract<SendResult, { ok: false }>;

/**
 * What every step of a Slack delivery shares: the receiver's channel, its Slack clients, its pacing,
 * the channel's ID once known, the warnings already given, and the mapping of failures (without the
 * token). One per receiver.
 */
export interface SlackChannel {
  /** The configured channel (ID or `#name`). */
  readonly name: string;
  readonly store: SlackMessageStore;
  readonly threads: boolean;
  /** What links in a message are built from (src/deliver/links.ts). */
  readonly links: LinkContext | undefined;
  /** Which buttons a message carries; none when undefined. */
  readonly buttons: SlackButtonsOf | undefined;
  /** A post's request timeout. */
  readonly timeoutMs: number;
  /**
   * The group lock's TTL: up to three Slack calls (a history page, an update, then the reply or a
   * post), plus Redis round trips. A lost post's lookup extends the lock before each history page
   * by that page's timeout plus this, so a slow lookup never outlives the lock, and a dead
   * replica's lock is not held long.
   */
  readonly lockTtlMs: number;
  now(): number;
  stateLostAt(): number | undefined;
  /** The Web API client whose requests wait `factor` times the post timeout (default 1). */
  client(factor?: number): WebClient;
  /**
   * Takes `calls` rate-limit slots of the channel: null when they are taken (go on), otherwise what
   * the job answers, having done nothing: the deferral until the slots free up, or the limiter's
   * failure.
   */
  reserve(calls: number): Promise<SendResult | null>;
  /** Maps a Slack error; a 429 also holds back every sender to this channel (other groups, replicas). */
  failure(method: string, error: unknown): Promise<SendResult>;
  /** The failure with the token redacted from its reason. */
  fail(result: SlackFailure): SendResult;
  /** Warns an operator once per receiver and cause, not once per alert. */
  warnOnce(cause: string, n: Notification, message: string): void;
  /** Counts a lost post's lookup by outcome. */
  lostPost(outcome: SlackLostPostOutcome): void;
  /** Reports a failed best-effort step (counted, logged at most once a minute), the token redacted from its message. */
  readonly bestEffort: BestEffort;
  /** The channel's ID for a lookup: configured, or learnt from Slack's answers (kept in Redis). */
  channelIdForLookup(): Promise<string | undefined>;
  /** Remembers the ID Slack answered for a channel configured by name: one Redis write per process. */
  learnChannelId(id: string): Promise<void>;
}

/** Another worker holds the group's lock: come back shortly. */
export function lockBusy(): SendResult {
  return { ok: false, retryable: true, reason: 'slack message for this group is being written by another worker', retryAfterMs: LOCK_BUSY_RETRY_MS };
}

export function createSlackChannel(opts: SlackNotifierOptions): SlackChannel {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const limiter = opts.rateLimiter ?? noSlackRateLimit;
  const clientFor = slackClients({ token: opts.token, apiUrl: opts.apiUrl });
  let fallbackLog: Logger | undefined;
  const log = (): Logger => opts.log ?? (fallbackLog ??= createLogger('warn'));
  // A lookup needs the channel's ID. Configured by name, it is learnt from Slack's answers to posts
  // and kept in Redis, so replicas and restarts know it too.
  const configuredChannelId = isSlackChannelId(opts.channel) ? opts.channel : undefined;
  let learntChannelId: string | undefined;
  const warned = new Set<string>();
  // Defense in depth: no reason built here contains the token, but library error messages could.
  const fail = (result: SlackFailure): SendResult => ({ ...result, reason: redactSecrets(result.reason, [opts.token]) });
  const bestEffort = redactingBestEffort(opts.bestEffort ?? (opts.log ? createBestEffort({ log: opts.log }) : fallbackBestEffort()), opts.token);

  return {
    name: opts.channel,
    store: opts.store,
    threads: opts.threads ?? true,
    links: opts.links,
    buttons: opts.buttons,
    timeoutMs,
    lockTtlMs: 3 * timeoutMs + 5_000,
    now: opts.now ?? Date.now,
    stateLostAt: () => opts.stateLostAt?.(),
    client: (factor = 1) => clientFor(timeoutMs * factor),
    fail,
    bestEffort,
    async reserve(calls) {
      // All slots before the first call: a deferred job has done nothing, and a job that got its
      // slots does not stop half-way for the rate limit.
      let waitMs: number;
      try {
        waitMs = await limiter.reserve(opts.channel, calls);
      } catch (error) {
        return fail({ ok: false, retryable: true, reason: `slack rate limiter unavailable: ${messageOf(error)}` });
      }
      return waitMs > 0 ? { ok: false, retryable: true, reason: 'slack channel rate limit', retryAfterMs: waitMs } : null;
    },
    async failure(method, error) {
      const result = slackErrorToResult(method, error);
      if (isRateLimited(error) && result.retryAfterMs !== undefined) {
        // Best effort: this job is deferred by retryAfterMs anyway.
        const { retryAfterMs } = result;
        await bestEffort.attempt('slack_rate_limit_hold', () => limiter.block(opts.channel, retryAfterMs));
      }
      return fail(result);
    },
    warnOnce(cause, n, message) {
      if (warned.has(cause)) return;
      warned.add(cause);
      log().warn({ channel: opts.channel, group: n.groupKey, cause }, redactSecrets(message, [opts.token]));
    },
    lostPost: (outcome) => opts.onLostPost?.(outcome),
    async channelIdForLookup() {
      if (configuredChannelId !== undefined) return configuredChannelId;
      if (learntChannelId !== undefined) return learntChannelId;
      const stored = await opts.store.channelId(opts.channel);
      if (stored !== null && isSlackChannelId(stored)) learntChannelId = stored;
      return learntChannelId;
    },
    async learnChannelId(id) {
      if (configuredChannelId !== undefined || id === learntChannelId || !isSlackChannelId(id)) return;
      try {
        await opts.store.setChannelId(opts.channel, id);
        learntChannelId = id;
      } catch (err) {
        // Only a later lookup needs it; the next post's answer tries again.
        bestEffort.failed('slack_channel_id_write', err);
      }
    },
  };
}

/** `inner`, with `token` redacted from each failure's message (defense in depth: library messages could hold it). */
function redactingBestEffort(inner: BestEffort, token: string): BestEffort {
  return reportingWith((operation, err) => inner.failed(operation, new Error(redactSecrets(messageOf(err), [token]))));
}

import { z } from 'zod';
import type { LinkContext } from '../links.ts';
import { withCapabilities, type Notifier, type SendResult } from '../notifier.ts';
import { ACKNOWLEDGE, type Acknowledger } from './acknowledge-job.ts';
import { createTextHttpClient, isRedirectStatus, MAX_REASON, postText, redactSecrets, statusResult } from '../../net/http.ts';
import { renderPagerDutyAcknowledge, renderPagerDutyEvent } from './render.ts';
import { messageOf } from '../../model/error-message.ts';

/** A PagerDuty receiver can also acknowledge the alert it triggered for a group (declared: ACKNOWLEDGE). */
export interface PagerDutyAcknowledger extends Notifier, Acknowledger {}

/** Options for {@link createPagerDutyNotifier}. */
export interface PagerDutyNotifierOptions {
  /** The 32-character integration (routing) key. Never appears in a SendResult reason. */
  routingKey: string;
  /** Events API v2 endpoint; defaults to https://events.pagerduty.com/v2/enqueue. Tests use a local fake. */
  eventsUrl?: string;
  /** ARGOCD_URL and MESHDRIFT_GIT_HOSTS: links to the Argo CD app and the commit on each alert. */
  links?: LinkContext;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
}

const DEFAULT_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';
const DEFAULT_TIMEOUT_MS = 10_000;
// A Retry-After is honoured without spending an attempt, so a hostile or broken value must not
// park a delivery for hours; PagerDuty's own advice is to back off "a few minutes".
const MAX_RETRY_AFTER_MS = 15 * 60_000;

// PagerDuty's answer (go-pagerduty V2EventResponse); every field is optional because proxies and
// load balancers answer too.
const pagerDutyResponseSchema = z.object({
  status: z.string().optional(),
  message: z.string().optional(),
  dedup_key: z.string().optional(),
  errors: z.array(z.unknown()).optional(),
});

/**
 * PagerDuty Events API v2 receiver: one `trigger` per firing notification and one `resolve` when the
 * group resolves, both with the group's dedup key, so PagerDuty keeps one alert per group episode.
 * Never throws.
 */
export function createPagerDutyNotifier(opts: PagerDutyNotifierOptions): PagerDutyAcknowledger {
  const eventsUrl = opts.eventsUrl ?? DEFAULT_EVENTS_URL;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const http = createTextHttpClient(timeoutMs, { headers: { 'Content-Type': 'application/json', 'User-Agent': 'meshdrift' } });

  const fail = (retryable: boolean, reason: string, retryAfterMs?: number): SendResult => ({
    ok: false,
    retryable,
    // Defense in depth: PagerDuty's error text could quote the event, and so the routing key.
    reason: redactSecrets(reason, [opts.routingKey]).slice(0, MAX_REASON),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });

  // One event: POST, then map the answer (202 ok; 429 with Retry-After; 400 permanent; …).
  async function post(body: string): Promise<SendResult> {
    const answer = await postText(http, eventsUrl, body, timeoutMs);
    if ('failure' in answer) return fail(true, `pagerduty ${answer.failure}`);

    const { status } = answer;
    const said = describeAnswer(answer.text);
    if (status === 429) {
      const header: unknown = answer.headers['retry-after'];
      const retryAfterMs = parseRetryAfter(typeof header === 'string' ? header : undefined, Date.now());
      return fail(true, `pagerduty rate limited (HTTP 429)${said}`, retryAfterMs);
    }
    if (status === 400) return fail(false, `pagerduty rejected the event (HTTP 400)${said}`);
    // 3xx (redirects are not followed: the URL is wrong), 401/403/404, 413: the same event will
    // fail the same way.
    const hint = status === 404 || isRedirectStatus(status) ? ' (check the events URL)' : '';
    return statusResult(status, (retryable, reason) => fail(retryable, `pagerduty failed: ${reason}`), said, hint);
  }

  const notifier: PagerDutyAcknowledger = {
    type: 'pagerduty',
    async send(n) {
      let body: string;
      try {
        body = JSON.stringify(renderPagerDutyEvent(n, opts.routingKey, opts.links));
      } catch (error) {
        return fail(false, `pagerduty event could not be rendered: ${messageOf(error)}`);
      }
      return post(body);
    },
    async acknowledge(groupKey) {
      return post(JSON.stringify(renderPagerDutyAcknowledge(groupKey, opts.routingKey)));
    },
  };
  return withCapabilities(notifier, ACKNOWLEDGE.grant(notifier));
}

// ": <message>: <errors>" from a PagerDuty JSON answer, or "" when the body says nothing usable.
function describeAnswer(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return '';
  }
  const answer = pagerDutyResponseSchema.safeParse(parsed);
  if (!answer.success) return '';
  const parts = [answer.data.message, ...(answer.data.errors ?? []).map((e) => (typeof e === 'string' ? e : JSON.stringify(e)))];
  const said = parts.filter((p): p is string => p !== undefined && p !== '');
  return said.length === 0 ? '' : `: ${said.join('; ')}`;
}

/**
 * Retry-After as milliseconds: delay-seconds or an HTTP date, capped at 15 minutes; undefined when
 * absent or unparsable.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) {
    ms = Number(trimmed) * 1000;
  } else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

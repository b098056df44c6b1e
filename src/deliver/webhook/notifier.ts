import { createHash, createHmac } from 'node:crypto';
import {
  findingEndedAt,
  type Notification,
  type NotifyReason,
  type RemediationEscalationSummary,
  type StormSummary,
  type TrackedFinding,
} from '../../model/alert-group.ts';
import { escalationAlertAnnotations, escalationAlertLabels, safeEscalation } from '../escalation-render.ts';
import type { Notifier } from '../notifier.ts';
import { alertAnnotations, alertLabels } from '../alertmanager/notifier.ts';
import { type AttributionView, attributionView, type ChangeListView, changeListView } from '../evidence.ts';
import { type FindingLinks, findingLinks, type LinkContext, silenceUrl } from '../links.ts';
import { safeStormSummary, stormAlertAnnotations, stormAlertLabels } from '../alertmanager/storm.ts';
import { plainLine } from '../text.ts';
import { createTextHttpClient, isRedirectStatus, postText, REDIRECT_HINT, statusResult, urlFail } from '../../net/http.ts';

/** Options for {@link createWebhookNotifier}. */
export interface WebhookNotifierOptions {
  /** Where to POST. May carry secrets in its path or query; reasons show only scheme and host. */
  url: string;
  /** Key for the `X-Meshdrift-Signature` HMAC-SHA256 of the body; unsigned when unset. */
  hmacKey?: string;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
  /** `receiver` field of the body; default `webhook`. */
  receiver?: string;
  /** ARGOCD_URL and MESHDRIFT_GIT_HOSTS: the Argo CD and commit links of each alert. */
  links?: LinkContext;
}

/** One alert of a {@link WebhookPayload}: one finding, as Alertmanager's webhook would show it. */
export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  /** `0001-01-01T00:00:00Z` while firing, as Alertmanager sends it. */
  endsAt: string;
  fingerprint: string;
  /** What changed, field by field (redacted at the source); the `changes` annotation in words. */
  changes?: ChangeListView;
  /** Who changed it and when (`kind`: a person, or a tool named by a field manager). */
  changed_by?: AttributionView[];
  /** The Argo CD app and the commit of the revision, when they can be built. */
  links?: FindingLinks;
}

/**
 * The webhook body, modelled on Alertmanager's webhook payload (version "4"), so receivers written
 * for Alertmanager need little change. `seq` orders notifications of one group: a receiver can drop
 * one older than the last it saw.
 */
export interface WebhookPayload {
  version: 'meshdrift/1';
  groupKey: string;
  seq: number;
  status: 'firing' | 'resolved';
  receiver: string;
  notification_reason: NotifyReason;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  alerts: WebhookAlert[];
  /** A drift storm's summary only: its id, cause and counts (then `alerts` holds one alert, the storm's). */
  storm?: StormSummary;
  /** A remediation escalation only (then `alerts` holds one alert, the escalation's). */
  escalation?: RemediationEscalationSummary;
}

/** Header carrying `sha256=<hex HMAC-SHA256 of the exact body bytes>`. */
export const WEBHOOK_SIGNATURE_HEADER = 'X-Meshdrift-Signature';

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_LABEL_VALUE = 1024;
// Go's zero time, which Alertmanager's webhook puts in endsAt for firing alerts: it hides an end
// not reached yet (Alertmanager types/types.go Alerts: "If the end timestamp is not reached yet, do
// not expose it"; test/integration/alertmanager-notifier.test.ts reads it from a real one).
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Renders the webhook body for one notification: one alert per firing or resolved finding. Pure. */
export function renderWebhookPayload(n: Notification, receiver = 'webhook', links?: LinkContext): WebhookPayload {
  const silence = n.status === 'firing' ? silenceUrl(links?.publicUrl, n.labels) : undefined;
  const alert = (f: TrackedFinding, status: WebhookAlert['status']): WebhookAlert => ({
    status,
    labels: alertLabels(f),
    annotations: alertAnnotations(f, links, status === 'firing' ? silence : undefined),
    startsAt: new Date(f.firstSeen).toISOString(),
    // A resolved one ends when its drift ended by meshdrift's clock (a Corrected one: when it was
    // reported), as the Alertmanager receiver sends it (findingEndedAt).
    endsAt: status === 'firing' ? ZERO_TIME : new Date(findingEndedAt(f, n.at)).toISOString(),
    fingerprint: f.fingerprint,
    ...evidenceOf(f, links),
  });
  const alerts =
    n.escalation !== undefined
      ? [escalationAlert(n, n.escalation)]
      : n.storm === undefined
        ? [...n.firing.map((f) => alert(f, 'firing')), ...n.resolved.map((f) => alert(f, 'resolved'))]
        : [stormAlert(n, n.storm)];
  const { cluster, tool, owner, project } = n.labels;
  // Alerts' labels and annotations are the Alertmanager receiver's (sanitised there); the group's
  // labels go through the same sanitiser (src/deliver/text.ts).
  const groupLabels = nonEmpty({
    cluster: plainLine(cluster, MAX_LABEL_VALUE),
    tool,
    owner_kind: plainLine(owner.kind, MAX_LABEL_VALUE),
    owner_namespace: plainLine(owner.namespace, MAX_LABEL_VALUE),
    owner: plainLine(owner.name, MAX_LABEL_VALUE),
    project: plainLine(project, MAX_LABEL_VALUE),
  });
  return {
    version: 'meshdrift/1',
    groupKey: n.groupKey,
    seq: n.seq,
    status: n.status,
    receiver,
    notification_reason: n.reason,
    groupLabels,
    commonLabels: alerts.length === 0 ? groupLabels : common(alerts.map((a) => a.labels)),
    commonAnnotations: common(alerts.map((a) => a.annotations)),
    alerts,
    ...(n.storm === undefined ? {} : { storm: safeStormSummary(n.storm) }),
    ...(n.escalation === undefined ? {} : { escalation: safeEscalation(n.escalation) }),
  };
}

/** A remediation escalation as one alert about the owner (never one per finding); the payload also carries `escalation`. */
function escalationAlert(n: Notification, e: RemediationEscalationSummary): WebhookAlert {
  return {
    status: n.status,
    labels: escalationAlertLabels(n, e),
    annotations: escalationAlertAnnotations(n, e),
    startsAt: new Date(n.firstSeen).toISOString(),
    endsAt: n.status === 'firing' ? ZERO_TIME : new Date(n.at).toISOString(),
    fingerprint: createHash('sha256').update(`escalation\u0000${e.receiver}\u0000${n.groupKey}`).digest('hex').slice(0, 16),
  };
}

/** A drift storm's summary as one alert (its counts in the annotations); the payload also carries `storm`. */
function stormAlert(n: Notification, s: StormSummary): WebhookAlert {
  return {
    status: n.status,
    labels: stormAlertLabels(n, s),
    annotations: stormAlertAnnotations(s),
    startsAt: new Date(n.firstSeen).toISOString(),
    endsAt: n.status === 'firing' ? ZERO_TIME : new Date(n.at).toISOString(),
    fingerprint: createHash('sha256').update(n.groupKey).digest('hex').slice(0, 16),
  };
}

// The structured evidence of an alert: every string through the one sanitiser (one line, bounded).
function evidenceOf(f: TrackedFinding, ctx: LinkContext | undefined): Pick<WebhookAlert, 'changes' | 'changed_by' | 'links'> {
  const text = (s: string): string => plainLine(s, MAX_LABEL_VALUE);
  const links = findingLinks(f, ctx);
  return {
    ...(f.changes === undefined ? {} : { changes: changeListView(f.changes, text) }),
    ...(f.attribution === undefined || f.attribution.length === 0 ? {} : { changed_by: f.attribution.map((a) => attributionView(a, text)) }),
    ...(links.argocd === undefined && links.commit === undefined ? {} : { links }),
  };
}

/** `sha256=<hex>`: the HMAC-SHA256 of the exact body bytes under `key`. */
export function signWebhookBody(body: string | Buffer, key: string): string {
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
}

/**
 * Generic webhook receiver: POSTs {@link WebhookPayload} as JSON, signed when an HMAC key is set.
 * 2xx is delivered; 408, 429 and 5xx are retried; other answers are permanent. Never throws.
 */
export function createWebhookNotifier(opts: WebhookNotifierOptions): Notifier {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  checkUrl(opts.url);
  const http = createTextHttpClient(timeoutMs, { maxBodyLength: 16 * 1024 * 1024 });

  // The response body is never quoted: a receiver may echo the request URL (and its token) back.
  const fail = urlFail('webhook', opts.url, webhookSecrets);

  return {
    type: 'webhook',
    async send(n) {
      const body = JSON.stringify(renderWebhookPayload(n, opts.receiver, opts.links));
      const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'meshdrift' };
      if (opts.hmacKey !== undefined && opts.hmacKey !== '') headers[WEBHOOK_SIGNATURE_HEADER] = signWebhookBody(body, opts.hmacKey);
      // A string body goes out byte for byte, so the signature matches what the receiver reads.
      const answer = await postText(http, opts.url, body, timeoutMs, { headers });
      if ('failure' in answer) return fail(true, answer.failure);
      // A redirect is not followed: it could take the body (and its signature) to another host.
      return statusResult(answer.status, fail, '', isRedirectStatus(answer.status) ? REDIRECT_HINT : '');
    },
  };
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not echoed: the URL may hold a token.
    throw new TypeError('webhook url is not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`webhook url must be http or https (got ${parsed.protocol})`);
}

// Defense in depth: reasons are built from codes and statuses, but error codes come from libraries.
function webhookSecrets(parsed: URL): string[] {
  return [parsed.pathname, parsed.search, parsed.username, parsed.password];
}

function nonEmpty(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
}

// The pairs every map has with the same value (Alertmanager's commonLabels/commonAnnotations).
function common(maps: Array<Record<string, string>>): Record<string, string> {
  const [first, ...rest] = maps;
  if (first === undefined) return {};
  return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((m) => m[k] === v)));
}

import { z } from 'zod';
import { findingEndedAt, type Notification, type TrackedFinding } from '../../model/alert-group.ts';
import { ALERTNAME, findingLabels } from '../../model/finding.ts';
import type { Notifier } from '../notifier.ts';
import { attributionText, changeSourceText, changesLeftOut, changeText, kindWithGroup, moreChanges } from '../evidence.ts';
import { findingLinks, type LinkContext, silenceUrl } from '../links.ts';
import { plainLine, plainLines } from '../text.ts';
import { stormAlertAnnotations, stormAlertLabels } from './storm.ts';
import { escalationAlertAnnotations, escalationAlertLabels } from '../escalation-render.ts';
import { createTextHttpClient, isRedirectStatus, postText, REDIRECT_HINT, statusResult, urlFail } from '../../net/http.ts';

/** Options for {@link createAlertmanagerNotifier}. */
export interface AlertmanagerNotifierOptions {
  /** Alertmanager base URL (`http://alertmanager:9093`); may carry basic-auth credentials, never shown. */
  url: string;
  /**
   * How long a firing alert stays active without being re-sent (its `endsAt`); default 1 h. The
   * alert lifecycle re-sends firing groups well before that.
   */
  firingTtlMs?: number;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
  /** `generatorURL` of every alert (a link back to meshdrift or Argo CD). */
  generatorUrl?: string;
  /** ARGOCD_URL and MESHDRIFT_GIT_HOSTS: the `argocd_url` and `commit_url` annotations. */
  links?: LinkContext;
}

/** One alert as Alertmanager API v2 `POST /api/v2/alerts` takes it (`postableAlert`). */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/** Options of {@link renderAlertmanagerAlerts}. */
export interface AlertmanagerRenderOptions {
  firingTtlMs: number;
  generatorUrl?: string;
  links?: LinkContext;
}

export { ALERTNAME };

const DEFAULT_FIRING_TTL_MS = 3_600_000;
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_DETAIL = 1024;
// Kubernetes names are ≤253 characters; a label or annotation line from the cluster is cut here.
const MAX_LABEL_VALUE = 1024;
const MAX_DESCRIPTION = 4096;
/** Changes listed in the `changes` annotation (then "and N more changes"); each annotation ≤ 4 KiB. */
export const ALERTMANAGER_CHANGES = 10;
const MAX_CHANGE_LINE = 700;
const MAX_ANNOTATION = 4096;

/**
 * A finding's Alertmanager labels: `alertname="MeshDrift"` plus {@link findingLabels}. Empty values
 * are left out, as Alertmanager treats an empty label as an absent one. Values go through the one
 * sanitiser (src/deliver/text.ts): one line, no control, bidi or invisible character, bounded.
 */
export function alertLabels(f: TrackedFinding): Record<string, string> {
  const labels: Record<string, string> = { alertname: ALERTNAME };
  for (const [name, value] of Object.entries(findingLabels(f))) {
    if (value !== '') labels[name] = plainLine(value, MAX_LABEL_VALUE);
  }
  return labels;
}

/** meshdrift's own annotations, which a policy rule's annotation of the same name does not replace. */
const OWN_ANNOTATIONS = new Set(['changes', 'changed_by', 'revision', 'argocd_url', 'commit_url', 'silence_url']);

/**
 * A finding's annotations: a one-line `summary` and a longer `description` (each line sanitised),
 * and when known: `changes` (one `path: before → after` per line), `changed_by` (who or which tool,
 * and when), `revision`, `argocd_url`, `commit_url` and `silence_url` (the group's, when given).
 * The policy rules' annotations of the finding (classify/annotations.ts) are added: their `summary`
 * replaces meshdrift's, their `description` comes first in `description`, `runbook_url`, `team` and
 * their own keys as they are (meshdrift's evidence and link keys keep meshdrift's values). Each at
 * most 4 KiB.
 */
export function alertAnnotations(f: TrackedFinding, links?: LinkContext, silence?: string): Record<string, string> {
  const path = f.resource.namespace === '' ? f.resource.name : `${f.resource.namespace}/${f.resource.name}`;
  const owner = f.owner.namespace === '' ? f.owner.name : `${f.owner.namespace}/${f.owner.name}`;
  const kind = kindWithGroup(f.resource);
  const summary = `${kind} ${path} drifted (${f.state}) in ${f.owner.kind} ${owner} on ${f.cluster}`;
  const lines = [
    `${f.severity} ${f.category} drift: ${kind} ${path} is ${f.state}.`,
    `Owner: ${f.owner.kind} ${owner} (${f.tool}${f.project === '' ? '' : `, project ${f.project}`}), cluster ${f.cluster}, mesh ${f.mesh}.`,
  ];
  if (f.revision !== undefined && f.revision !== '') lines.push(`Revision: ${f.revision}.`);
  if (f.detail !== undefined && f.detail !== '') lines.push(`Detail: ${plainLine(f.detail, MAX_DETAIL)}`);
  const changes = changesAnnotation(f);
  const changedBy = (f.attribution ?? []).map(attributionText);
  // Who first: a long change list is what the 4 KiB cut takes.
  lines.push(...changedBy.map((c) => `Who: ${c}`));
  if (changes.length > 0) lines.push(`Changes (${changeSourceText(f.changes?.source ?? 'snapshot')}):`, ...changes.map((c) => `  ${c}`));
  const { argocd, commit } = findingLinks(f, links);
  const team = f.annotations ?? {};
  const theirs = Object.fromEntries(
    Object.entries(team)
      .filter(([k]) => !OWN_ANNOTATIONS.has(k) && k !== 'summary' && k !== 'description')
      .map(([k, v]) => [k, plainLine(v, MAX_ANNOTATION)]),
  );
  const description = team.description === undefined || team.description === '' ? lines : [team.description, '', ...lines];
  return {
    ...theirs,
    summary: plainLine(team.summary === undefined || team.summary === '' ? summary : team.summary, MAX_LABEL_VALUE),
    description: plainLines(description, MAX_LABEL_VALUE + MAX_DETAIL, MAX_DESCRIPTION),
    ...(changes.length === 0 ? {} : { changes: plainLines(changes, MAX_CHANGE_LINE, MAX_ANNOTATION) }),
    ...(changedBy.length === 0 ? {} : { changed_by: plainLines(changedBy, MAX_CHANGE_LINE, MAX_ANNOTATION) }),
    ...(f.revision === undefined || f.revision === '' ? {} : { revision: plainLine(f.revision, MAX_LABEL_VALUE) }),
    ...(argocd === undefined ? {} : { argocd_url: argocd }),
    ...(commit === undefined ? {} : { commit_url: commit }),
    ...(silence === undefined ? {} : { silence_url: silence }),
  };
}

// `path: before → after` per change, at most ALERTMANAGER_CHANGES, then `and N more changes`.
function changesAnnotation(f: TrackedFinding): string[] {
  if (f.changes === undefined) return [];
  const shown = f.changes.changes.slice(0, ALERTMANAGER_CHANGES).map(changeText);
  const more = changesLeftOut(f.changes, shown.length);
  return more > 0 ? [...shown, moreChanges(more)] : shown;
}

/**
 * Renders one notification as Alertmanager alerts: one per finding. Pure. What the end times rely on:
 * - Firing ones end at `n.at + firingTtlMs`: a client sets `endsAt` only when the end is known,
 *   else Alertmanager puts a timeout there and resolves an alert nobody re-sends
 *   (prometheus.io/docs/alerting/clients); meshdrift sets its own timeout (firing_ttl) and re-sends
 *   firing alerts at every repeat before it passes.
 * - Resolved ones end when their drift ended by meshdrift's clock (findingEndedAt: resolvedAt, or
 *   when a Corrected one was reported), which is in the past, so Alertmanager takes them as over.
 *   A resolved alert's `endsAt` replaces the future one the firing alert was sent with (Alertmanager
 *   types/types.go Alert.Merge: when the newer alert is resolved, its end wins unless both are
 *   resolved and the older one ends later), and is what its receivers show.
 * - Never before `startsAt`: Alertmanager rejects that ("start time must be before end time").
 */
export function renderAlertmanagerAlerts(n: Notification, opts: AlertmanagerRenderOptions): AlertmanagerAlert[] {
  // A remediation escalation is one alert about the owner, apart from the drift alerts.
  if (n.escalation !== undefined) {
    return [
      {
        labels: escalationAlertLabels(n, n.escalation),
        annotations: escalationAlertAnnotations(n, n.escalation),
        startsAt: new Date(n.firstSeen).toISOString(),
        endsAt: new Date(Math.max(n.status === 'firing' ? n.at + opts.firingTtlMs : n.at, n.firstSeen)).toISOString(),
        ...(opts.generatorUrl === undefined ? {} : { generatorURL: opts.generatorUrl }),
      },
    ];
  }
  // A drift storm's summary is one alert with its counts, not one per sampled finding.
  if (n.storm !== undefined) {
    const endsAt = n.status === 'firing' ? n.at + opts.firingTtlMs : n.at;
    return [
      {
        labels: stormAlertLabels(n, n.storm),
        annotations: stormAlertAnnotations(n.storm),
        startsAt: new Date(n.firstSeen).toISOString(),
        endsAt: new Date(Math.max(endsAt, n.firstSeen)).toISOString(),
        ...(opts.generatorUrl === undefined ? {} : { generatorURL: opts.generatorUrl }),
      },
    ];
  }
  const silence = n.status === 'firing' ? silenceUrl(opts.links?.publicUrl, n.labels) : undefined;
  const alert = (f: TrackedFinding, endsAt: number): AlertmanagerAlert => ({
    labels: alertLabels(f),
    annotations: alertAnnotations(f, opts.links, f.status === 'firing' ? silence : undefined),
    startsAt: new Date(f.firstSeen).toISOString(),
    // Alertmanager rejects an alert that ends before it starts.
    endsAt: new Date(Math.max(endsAt, f.firstSeen)).toISOString(),
    ...(opts.generatorUrl === undefined ? {} : { generatorURL: opts.generatorUrl }),
  });
  return [...n.firing.map((f) => alert(f, n.at + opts.firingTtlMs)), ...n.resolved.map((f) => alert(f, findingEndedAt(f, n.at)))];
}

/**
 * Alertmanager API v2 receiver: posts every finding of a notification as an alert, so Alertmanager's
 * own routes, silences and inhibitions take over. Never throws.
 */
export function createAlertmanagerNotifier(opts: AlertmanagerNotifierOptions): Notifier {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const firingTtlMs = opts.firingTtlMs ?? DEFAULT_FIRING_TTL_MS;
  const endpoint = alertsEndpoint(opts.url);
  const http = createTextHttpClient(timeoutMs, {
    // Alertmanager's own limit is the HTTP server's; groups are bounded by the tracker anyway.
    maxBodyLength: 16 * 1024 * 1024,
    headers: { 'Content-Type': 'application/json', 'User-Agent': 'meshdrift' },
  });

  const fail = urlFail('alertmanager', opts.url, alertmanagerSecrets);

  return {
    type: 'alertmanager',
    async send(n) {
      const alerts = renderAlertmanagerAlerts(n, {
        firingTtlMs,
        ...(opts.generatorUrl === undefined ? {} : { generatorUrl: opts.generatorUrl }),
        ...(opts.links === undefined ? {} : { links: opts.links }),
      });
      // Nothing to tell Alertmanager (and it rejects an empty list as a bad request).
      if (alerts.length === 0) return { ok: true };
      const answer = await postText(http, endpoint.href, JSON.stringify(alerts), timeoutMs, endpoint.auth === undefined ? {} : { auth: endpoint.auth });
      if ('failure' in answer) return fail(true, answer.failure);
      const said = oneLine(answer.text);
      const hint = answer.status === 404 ? ' (check the Alertmanager URL; API v2 is required)' : isRedirectStatus(answer.status) ? REDIRECT_HINT : '';
      return statusResult(answer.status, fail, said === '' ? '' : `: ${said}`, hint);
    },
  };
}

// `${url}/api/v2/alerts`, with userinfo moved to axios' basic auth so that the URL a request (and
// any error object) carries has no credentials in it.
function alertsEndpoint(url: string): { href: string; auth?: { username: string; password: string } } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('alertmanager url is not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`alertmanager url must be http or https (got ${parsed.protocol})`);
  }
  const auth =
    parsed.username === '' && parsed.password === ''
      ? undefined
      : { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) };
  parsed.username = '';
  parsed.password = '';
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}/api/v2/alerts`;
  return { href: parsed.href, ...(auth === undefined ? {} : { auth }) };
}

// The basic-auth credentials of the URL, as given and decoded.
function alertmanagerSecrets(parsed: URL): string[] {
  return [parsed.password, decodeURIComponent(parsed.password), parsed.username, decodeURIComponent(parsed.username)];
}

// Alertmanager answers errors as a JSON string or `{code, message}`.
const alertmanagerErrorSchema = z.union([z.string(), z.object({ message: z.string() }).transform((e) => e.message)]);

// What the server said, on one short line.
function oneLine(text: string): string {
  let said = text;
  try {
    const parsed = alertmanagerErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success) said = parsed.data;
  } catch {
    // Not JSON: use the text as it is.
  }
  return said.replace(/\s+/g, ' ').trim().slice(0, 300);
}

import express, { type Request } from 'express';
import { stringify } from 'yaml';
import { z } from 'zod';
import type { RouteConfig } from '../route/route-config.ts';
import { alertAnnotations, alertLabels } from '../deliver/alertmanager/notifier.ts';
import type { LinkContext } from '../deliver/links.ts';
import type { TrackedFinding } from '../model/alert-group.ts';
import { findingLabels } from '../model/finding.ts';
import { findInhibition } from '../route/inhibit.ts';
import {
  linearRegExp,
  MatcherError,
  type Matcher,
  type MatcherSpec,
  matchesAll,
  compileMatcher,
  parseMatcher,
  parseMatchers,
  printMatcher,
} from '../route/matcher.ts';
import { parseSilenceInput, silenceState, silencesOf, type CompiledSilence, type Silence } from '../route/silence.ts';
import type { GroupState } from '../track/group-state.ts';
import { SilenceLimitError } from '../track/silence-store.ts';
import { type ApiDeps, apiErrorHandler, useApiGuards } from './api.ts';
import { badRequest, describeIssues, HttpError } from './errors.ts';

/**
 * The subset of Alertmanager's API v2 (api/v2/openapi.yaml) that amtool, karma and Grafana's
 * Alertmanager data source use (issue #18): alerts and alert groups (each firing finding is an
 * alert), silences (the same store as /api/v1), receivers and status. Same bearer token as
 * /api/v1; errors are a JSON string, as Alertmanager's.
 */
export interface AlertmanagerApiDeps
  extends Pick<ApiDeps, 'token' | 'silences' | 'silenceLimits' | 'onLimit' | 'groups' | 'inhibition' | 'links' | 'now' | 'log' | 'isUnavailable'> {
  /** The policy in force: its receivers' names and its routing tree (GET /receivers, GET /status). */
  policy: () => { receivers: readonly { name: string }[]; route: RouteConfig };
  /** meshdrift's version (GET /status versionInfo). */
  version: string;
  /** The commit it was built from, when known (GET /status versionInfo.revision; '' otherwise). */
  revision?: string;
  /** When this process started, epoch ms (GET /status uptime). */
  startedAt: number;
}

/** Most alert groups read for one request (like /api/v1/alerts); `limit` lowers it. */
const MAX_GROUPS = 1000;
const MAX_FILTERS = 32;
const MAX_FILTER_TEXT = 1024;

const bool = z.enum(['true', 'false'], { error: 'expected true or false' }).transform((v) => v === 'true');
const filterList = z
  .union([z.string(), z.array(z.string())], { error: 'filter is a matcher such as filter=cluster="prod", repeated for more' })
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .pipe(z.array(z.string().max(MAX_FILTER_TEXT, `a filter is at most ${MAX_FILTER_TEXT} characters`)).max(MAX_FILTERS, `at most ${MAX_FILTERS} filters`));
const limit = z
  .string()
  .regex(/^\d+$/, 'limit must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1).max(MAX_GROUPS, `limit must be at most ${MAX_GROUPS}`));

const alertsQuery = z.strictObject({
  active: bool.default(true),
  silenced: bool.default(true),
  inhibited: bool.default(true),
  unprocessed: bool.default(true),
  muted: bool.default(true),
  filter: filterList.default([]),
  receiver: z.string().max(MAX_FILTER_TEXT).optional(),
  /** meshdrift's own: at most this many alert groups are read. */
  limit: limit.default(MAX_GROUPS),
});
type AlertsQuery = z.output<typeof alertsQuery>;
const silencesQuery = z.strictObject({ filter: filterList.default([]), active: bool.default(true), pending: bool.default(true), expired: bool.default(true) });
const noQuery = z.strictObject({});

const MAX_TEXT = 4096;
const isoDateTime = z.iso.datetime({ offset: true, error: 'expected an RFC 3339 date-time such as 2026-05-01T12:00:00Z' });
/** `postableSilence` (openapi.yaml), strict: anything else in the body is refused. */
const postableSilence = z.strictObject({
  id: z.string().max(200).optional(),
  matchers: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(MAX_TEXT),
        value: z.string().max(MAX_TEXT),
        isRegex: z.boolean(),
        isEqual: z.boolean().default(true),
      }),
    )
    .min(1, 'give at least one matcher')
    .max(64),
  startsAt: isoDateTime,
  endsAt: isoDateTime,
  createdBy: z.string().max(MAX_TEXT),
  comment: z.string().max(MAX_TEXT),
  annotations: z.record(z.string().max(200), z.string().max(MAX_TEXT)).optional(),
});

function parseQuery<T>(schema: z.ZodType<T>, req: Request): T {
  const parsed = schema.safeParse({ ...req.query });
  if (!parsed.success) throw badRequest(`invalid query: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

/** Each `filter` parsed as Alertmanager's API does (compat.Matcher: one matcher each). */
function filters(texts: readonly string[]): Matcher[] {
  return texts.map((text, i) => {
    try {
      return compileMatcher(parseMatcher(text));
    } catch (err) {
      if (err instanceof MatcherError) throw badRequest(`filter ${i + 1}: ${err.message}`);
      throw err;
    }
  });
}

function receiverRegex(text: string | undefined): RegExp | undefined {
  if (text === undefined) return undefined;
  try {
    return linearRegExp(text);
  } catch (err) {
    throw badRequest(`receiver: not a regular expression: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();
const notFound = (message: string): HttpError => new HttpError(404, message, 'invalid');

const toApiMatcher = (m: MatcherSpec) => ({ name: m.name, value: m.value, isRegex: m.op === '=~' || m.op === '!~', isEqual: m.op === '=' || m.op === '=~' });
const fromApiMatcher = (m: { name: string; value: string; isRegex: boolean; isEqual: boolean }): MatcherSpec => ({
  name: m.name,
  value: m.value,
  op: m.isRegex ? (m.isEqual ? '=~' : '!~') : m.isEqual ? '=' : '!=',
});

/** `gettableSilence`. */
function gettableSilence(s: Silence, now: number) {
  return {
    id: s.id,
    status: { state: silenceState(s, now) },
    updatedAt: s.createdAt,
    matchers: s.matchers.map(toApiMatcher),
    startsAt: s.startsAt,
    endsAt: s.endsAt,
    createdBy: s.createdBy,
    comment: s.comment,
    annotations: {},
  };
}

interface AlertContext {
  silences: readonly CompiledSilence[];
  inhibition: Pick<ApiDeps, 'inhibition'>['inhibition'];
  sources: Awaited<ReturnType<NonNullable<ApiDeps['inhibition']>['sources']>>;
  links: LinkContext | undefined;
  now: number;
}

/** One firing finding as a `gettableAlert`. */
function gettableAlert(f: TrackedFinding, ctx: AlertContext) {
  const labels = findingLabels(f);
  const silencedBy = silencesOf(labels, ctx.silences, ctx.now);
  const inhibition = ctx.sources.length > 0 ? findInhibition(labels, ctx.sources, ctx.inhibition?.rules() ?? [], f.fingerprint) : null;
  const inhibitedBy = inhibition === null ? [] : [inhibition.sourceId];
  // Non-mesh drift the policy does not notify (classify/classify.ts nonMeshDrift): held back for good.
  const mutedBy = f.unnotified === undefined ? [] : [`meshdrift:${f.unnotified}`];
  return {
    labels: alertLabels(f),
    annotations: alertAnnotations(f, ctx.links),
    receivers: f.receivers.map((name) => ({ name })),
    fingerprint: f.fingerprint,
    startsAt: iso(f.firstSeen),
    updatedAt: iso(f.lastSeen),
    // Firing: Alertmanager's endsAt is when it would resolve unless re-sent; meshdrift resolves a
    // finding when its source says so, so it is open-ended: shown as its last sighting + 1 h,
    // as the Alertmanager receiver sends it.
    endsAt: iso(Math.max(f.lastSeen, ctx.now) + 3_600_000),
    status: { state: silencedBy.length > 0 || inhibitedBy.length > 0 || mutedBy.length > 0 ? 'suppressed' : 'active', silencedBy, inhibitedBy, mutedBy },
  };
}
type GettableAlert = ReturnType<typeof gettableAlert>;

/** Whether an alert passes the query's filters (as Alertmanager's getAlerts). */
function wanted(a: GettableAlert, q: AlertsQuery, matchers: readonly Matcher[], receiver: RegExp | undefined): boolean {
  if (!q.active && a.status.state === 'active') return false;
  const silenced = a.status.silencedBy.length > 0;
  const inhibited = a.status.inhibitedBy.length > 0;
  if (!q.silenced && silenced) return false;
  if (!q.inhibited && inhibited) return false;
  if (!q.muted && a.status.mutedBy.length > 0) return false;
  if (receiver !== undefined && !a.receivers.some((r) => receiver.test(r.name))) return false;
  return matchesAll(matchers, a.labels);
}

async function alertGroups(deps: AlertmanagerApiDeps, q: AlertsQuery): Promise<Array<{ group: GroupState; alerts: GettableAlert[] }>> {
  const matchers = filters(q.filter);
  const receiver = receiverRegex(q.receiver);
  const now = deps.now();
  const [groups, silences, sources] = await Promise.all([deps.groups.active(q.limit), deps.silences.compiled(now), deps.inhibition?.sources() ?? []]);
  const ctx: AlertContext = { silences, inhibition: deps.inhibition, sources, links: deps.links, now };
  return groups.map((group) => ({
    group,
    alerts: Object.values(group.findings)
      .filter((f) => f.status === 'firing')
      .map((f) => gettableAlert(f, ctx))
      .filter((a) => wanted(a, q, matchers, receiver)),
  }));
}

/** A silence is listed for `filter` when its matchers, read as labels, match every filter (Alertmanager's CheckFilterLabels). */
function silenceWanted(s: Silence, matchers: readonly Matcher[]): boolean {
  if (matchers.length === 0) return true;
  const labels = Object.fromEntries(s.matchers.map((m) => [m.name, m.value]));
  return matchers.every((m) => Object.hasOwn(labels, m.name) && m.matches(labels));
}

const STATE_ORDER = { active: 0, pending: 1, expired: 2 } as const;

/**
 * The routing tree as an Alertmanager configuration (GET /status `config.original`): receivers by
 * name and routes with their matchers, `group_by` and `continue`, so `amtool config routes` can
 * show and test meshdrift's routing. Timers, time intervals and receiver settings are meshdrift's
 * own and left out.
 */
export function alertmanagerConfigText(policy: { receivers: readonly { name: string }[]; route: RouteConfig }): string {
  const route = (r: RouteConfig): Record<string, unknown> => ({
    ...(r.receiver === undefined ? {} : { receiver: r.receiver }),
    ...(r.group_by === undefined ? {} : { group_by: r.group_by }),
    ...(r.matchers === undefined || r.matchers.length === 0 ? {} : { matchers: r.matchers.flatMap((m) => parseMatchers(m).map(printMatcher)) }),
    ...(r.continue === undefined ? {} : { continue: r.continue }),
    ...(r.routes === undefined || r.routes.length === 0 ? {} : { routes: r.routes.map(route) }),
  });
  return stringify({ route: route(policy.route), receivers: policy.receivers.map((r) => ({ name: r.name })) });
}

/** The /api/v2 router; mount it with `app.use('/api/v2', createAlertmanagerApiRouter(deps))`. */
export function createAlertmanagerApiRouter(deps: AlertmanagerApiDeps): express.Router {
  const router = express.Router();
  // Alertmanager answers errors with a JSON string.
  const asString = (error: string): string => error;
  useApiGuards(router, deps.token, asString);

  router.get('/status', (req, res) => {
    parseQuery(noQuery, req);
    res.json({
      cluster: { status: 'disabled', peers: [] },
      versionInfo: {
        version: deps.version,
        revision: deps.revision ?? '',
        branch: '',
        buildUser: '',
        buildDate: '',
        goVersion: `meshdrift (Node ${process.versions.node})`,
      },
      config: { original: alertmanagerConfigText(deps.policy()) },
      uptime: iso(deps.startedAt),
    });
  });

  router.get('/receivers', (req, res) => {
    parseQuery(noQuery, req);
    res.json(deps.policy().receivers.map((r) => ({ name: r.name })));
  });

  router.get('/alerts', async (req, res) => {
    const q = parseQuery(alertsQuery, req);
    res.json((await alertGroups(deps, q)).flatMap((g) => g.alerts));
  });

  router.get('/alerts/groups', async (req, res) => {
    const q = parseQuery(alertsQuery, req);
    const groups = (await alertGroups(deps, q)).filter((g) => g.alerts.length > 0);
    res.json(
      groups.map(({ group, alerts }) => ({
        labels: group.labels.groupBy ?? {},
        routeLabels: {},
        receiver: { name: group.labels.receiver ?? '' },
        alerts,
      })),
    );
  });

  router.get('/silences', async (req, res) => {
    const q = parseQuery(silencesQuery, req);
    const matchers = filters(q.filter);
    const now = deps.now();
    const shown = (await deps.silences.list(now))
      .map((s) => gettableSilence(s, now))
      .filter((s) => q[s.status.state] && silenceWanted({ ...s, createdAt: s.updatedAt, matchers: s.matchers.map(fromApiMatcher) }, matchers));
    shown.sort((a, b) => STATE_ORDER[a.status.state] - STATE_ORDER[b.status.state] || a.endsAt.localeCompare(b.endsAt));
    res.json(shown);
  });

  router.post('/silences', async (req, res) => {
    parseQuery(noQuery, req);
    const parsed = postableSilence.safeParse(req.body);
    if (!parsed.success) throw badRequest(describeIssues(parsed.error.issues));
    const body = parsed.data;
    const now = deps.now();
    // As Alertmanager: a start in the past is now.
    const startsAt = Math.max(Date.parse(body.startsAt), now);
    const input = parseSilenceInput(
      { matchers: body.matchers.map(fromApiMatcher), startsAt: iso(startsAt), endsAt: body.endsAt, createdBy: body.createdBy, comment: body.comment },
      now,
      deps.silenceLimits,
    );
    if (!input.ok) {
      if (input.limit !== undefined) deps.onLimit?.(input.limit);
      throw badRequest(input.error);
    }
    // An update (amtool silence update): Alertmanager replaces the silence; so does meshdrift.
    if (body.id !== undefined && body.id !== '') {
      const old = await deps.silences.get(body.id);
      if (old === null) throw notFound(`silence ${JSON.stringify(body.id.slice(0, 80))} not found`);
    }
    let created: Silence;
    try {
      created = await deps.silences.create(input.silence, now);
    } catch (err) {
      if (err instanceof SilenceLimitError) throw badRequest(err.message);
      throw err;
    }
    if (body.id !== undefined && body.id !== '') await deps.silences.expire(body.id, now);
    res.json({ silenceID: created.id });
  });

  router.get('/silence/:id', async (req, res) => {
    const id = silenceId(req);
    const silence = await deps.silences.get(id);
    if (silence === null) throw notFound(`silence ${JSON.stringify(id.slice(0, 80))} not found`);
    res.json(gettableSilence(silence, deps.now()));
  });

  router.delete('/silence/:id', async (req, res) => {
    const id = silenceId(req);
    const expired = await deps.silences.expire(id, deps.now());
    if (expired === null) throw notFound(`silence ${JSON.stringify(id.slice(0, 80))} not found`);
    res.status(200).end();
  });

  router.use((_req, res) => {
    res.status(404).json('not found (meshdrift serves /api/v2/status, receivers, alerts, alerts/groups, silences and silence/{id})');
  });
  router.use(apiErrorHandler(deps, asString));
  return router;
}

function silenceId(req: Request): string {
  const parsed = z.string().min(1).max(200).safeParse(req.params['id']);
  if (!parsed.success) throw badRequest('silenceID: 1 to 200 characters');
  return parsed.data;
}

import { readFileSync } from 'node:fs';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { StormStore } from '../../deliver/storm.ts';
import { stormHeadline } from '../../deliver/storm-summary.ts';
import { groupMatchers, type LinkContext } from '../../deliver/links.ts';
import type { Logger } from '../../log.ts';
import type { AuditTrail } from '../../remediate/audit.ts';
import type { DeadLetters } from '../../queue/dead-letters.ts';
import type { CompiledInhibitRule, InhibitionSource } from '../../route/inhibit.ts';
import { MatcherError, parseMatcher, type MatcherSpec } from '../../route/matcher.ts';
import { parseSilenceInput, type SilenceLimitName, type SilenceLimits } from '../../route/silence.ts';
import type { GroupReader } from '../../track/group-reader.ts';
import type { GroupState } from '../../track/group-state.ts';
import type { NotificationHistory } from '../../track/history.ts';
import { SilenceLimitError, type SilenceStore } from '../../track/silence-store.ts';
import { retryAfterSeconds, unavailableMessage, type UnavailableReason } from '../../net/unavailable.ts';
import { createUiAccess, csrfProblem, csrfToken, requireViewer, securityHeaders, viewerOf, type UiAccessConfig } from './access.ts';
import { buildBoard, type BoardInput, MAX_PAGE } from './board.ts';
import { boardBody } from './board-view.ts';
import { buildHistory } from './history.ts';
import type { Html } from './html.ts';
import { buildIncident } from './incident.ts';
import { incidentBody, type IncidentLinks } from './incident-view.ts';
import { page, problemPage, type ViewName } from './layout.ts';
import { ACK_PREFIX, isAck, silenceForm, silencesBody } from './silences-view.ts';
import { historyBody, sourcesBody, type SourcesView } from './views-extra.ts';

/**
 * The web page (issue #21) under /ui: Board, Incident, Silences, History, Sources; each view's data
 * also as JSON under /ui/api (same query parameters, same access). Server-rendered HTML, no inline
 * script or style, one own stylesheet and one small script.
 */
export interface UiDeps {
  access: UiAccessConfig;
  groups: GroupReader;
  /** One group by key (active or not yet cleaned up), null when gone. */
  group: (groupKey: string) => Promise<GroupState | null>;
  silences: SilenceStore;
  silenceLimits?: SilenceLimits;
  onLimit?: (limit: SilenceLimitName | 'ui_board_groups') => void;
  history: NotificationHistory;
  audit: AuditTrail;
  storms?: StormStore;
  inhibition: { rules: () => readonly CompiledInhibitRule[]; sources: () => Promise<readonly InhibitionSource[]> };
  links?: LinkContext;
  /** Where the group's Slack message and PagerDuty incident are, when known. */
  incidentLinks: (group: GroupState | null, groupKey: string) => Promise<IncidentLinks>;
  sources: () => Promise<Omit<SourcesView, 'now'>>;
  /** "Sync now" (remediate/sync-now.ts, as the Slack button): the group's remediate receiver syncs its owners; audited there. */
  sync?: (groupKey: string, actor: string) => Promise<{ dryRun: boolean; summary: string }>;
  /** Whether the policy has a remediate receiver at all (else no "Sync now" button). */
  syncAvailable?: () => boolean;
  /** Dead letters (GET /api/v1/deadletters) and their retry. */
  deadLetters?: DeadLetters;
  /** How long "Acknowledge" silences an incident (MESHDRIFT_UI_ACK_DURATION). */
  ackMs: number;
  /** Most active groups the board reads (MESHDRIFT_UI_MAX_GROUPS). */
  maxGroups: number;
  now: () => number;
  log: Logger;
  isUnavailable?: (err: unknown) => UnavailableReason | undefined;
}

const STATIC: Record<string, { type: string; body: Buffer }> = {
  'ui.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('./static/ui.css', import.meta.url)) },
  'ui.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('./static/ui.js', import.meta.url)) },
};

/** Most audit records and history entries one view reads (both stores keep their newest). */
const AUDIT_READ = 1000;
const HISTORY_READ = 1000;

class UiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const many = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]));
const boardQuery = z.strictObject({
  filter: many.pipe(z.array(z.string().max(1024, 'a filter is at most 1024 characters')).max(20, 'at most 20 filters')),
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
  storm: z.string().min(1).max(200).optional(),
  expand: z.enum(['storms']).optional(),
});
const historyQuery = z.strictObject({
  days: z.coerce.number().int().min(1).max(30).default(7),
  q: z.string().max(200).default(''),
});
const newSilenceQuery = z.strictObject({
  matcher: many.pipe(z.array(z.string().max(1024)).max(32, 'at most 32 matchers')),
  comment: z.string().max(1024).optional(),
  duration: z.string().max(32).optional(),
});
const silenceForm_ = z.strictObject({
  _csrf: z.string().max(100).optional(),
  matchers: z.string().max(40_000),
  duration: z.string().min(1).max(32),
  comment: z.string().max(4096),
});
const csrfOnly = z.strictObject({ _csrf: z.string().max(100).optional() });
const keyParam = z.string().min(1).max(1024);

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new UiError(400, `invalid ${what}: ${r.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

function filtersOf(texts: readonly string[]): MatcherSpec[] {
  return texts
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((t) => {
      try {
        return parseMatcher(t);
      } catch (err) {
        throw new UiError(400, `filter ${JSON.stringify(t.slice(0, 80))}: ${err instanceof MatcherError ? err.message : String(err)}`);
      }
    });
}

type Handler = (req: Request, res: Response) => Promise<void>;
const wrap =
  (h: Handler): RequestHandler =>
  (req, res, next) => {
    h(req, res).catch(next);
  };

function sendPage(res: Response, title: string, view: ViewName, body: Html): void {
  res.type('html').send(page(title, view, viewerOf(res), body).value);
}

/** The /ui router; mount it with `app.use('/ui', createUiRouter(deps))`. */
export function createUiRouter(deps: UiDeps): express.Router {
  const access = createUiAccess(deps.access);
  const router = express.Router();
  router.use(securityHeaders);
  router.get('/static/:file', (req, res, next) => {
    const f = STATIC[String(req.params['file'])];
    if (f === undefined) return next();
    res.set('Cache-Control', 'no-cache').type(f.type).send(f.body);
  });
  router.use(
    requireViewer(access, (res) => {
      res.status(401);
      res.type('html').send(problemPage('Not signed in', 'Open this page through the authenticating proxy, or send the API token.', undefined).value);
    }),
  );
  router.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 50 }));
  // Every write: the writer role first (403), then proof that this page sent it (CSRF, 403). A
  // script with the API token sends no cookie, so there is nothing to forge.
  router.use((req, res, next) => {
    if (req.method !== 'POST') return next();
    const viewer = viewerOf(res);
    if (!viewer.canWrite) return next(new UiError(403, `${viewer.user} may read but not write: writing needs the writer role (MESHDRIFT_UI_WRITERS)`));
    if (viewer.via === 'token') return next();
    const body: unknown = req.body;
    const problem = csrfProblem(access, req, typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['_csrf'] : undefined);
    next(problem === undefined ? undefined : new UiError(403, problem));
  });
  mountViews(router, deps, access);
  router.use((_req: Request, _res: Response, next: express.NextFunction) => next(new UiError(404, 'No such page.')));
  router.use(uiErrorHandler(deps));
  return router;
}

/** The writes besides silences: sync an incident now, retry a dead letter (the role and CSRF checks ran before). */
function mountActions(router: express.Router, deps: UiDeps): void {
  router.post(
    '/incidents/:key/sync',
    wrap(async (req, res) => {
      parse(csrfOnly, req.body, 'form');
      const key = parse(keyParam, req.params['key'], 'incident key');
      if (deps.sync === undefined) throw new UiError(404, 'Sync is not available here.');
      const sync = deps.sync;
      const result = await sync(key, `web:${viewerOf(res).user}`).catch((err: unknown) => {
        // Why the sync was refused (nothing drifted, no remediate receiver, a guardrail): said as such.
        if (deps.isUnavailable?.(err) !== undefined) throw err;
        throw new UiError(409, err instanceof Error ? err.message : String(err));
      });
      res.redirect(303, `/ui/incidents/${encodeURIComponent(key)}?done=${result.dryRun ? 'sync-dry-run' : 'sync'}`);
    }),
  );
  router.post(
    '/deadletters/:id/retry',
    wrap(async (req, res) => {
      parse(csrfOnly, req.body, 'form');
      const id = parse(keyParam, req.params['id'], 'dead letter id');
      if (deps.deadLetters === undefined || (await deps.deadLetters.retry(id)) === 'not-found') throw new UiError(404, 'No such dead letter.');
      await recordWrite(deps, res, 'retry', { reason: `dead letter ${id} put back in its queue` });
      res.redirect(303, '/ui/sources?done=retried');
    }),
  );
}

/** Silences: the list, the form (prefilled from the query), create and expire. */
function mountSilenceViews(router: express.Router, deps: UiDeps, access: ReturnType<typeof createUiAccess>): void {
  router.get(
    '/silences',
    wrap(async (req, res) => {
      const created = typeof req.query['created'] === 'string' ? req.query['created'].slice(0, 100) : undefined;
      const now = deps.now();
      const list = await deps.silences.list(now);
      sendPage(res, 'Silences', 'silences', silencesBody(list, now, viewerOf(res).canWrite, csrfToken(access, req, res), created));
    }),
  );
  router.get(
    '/api/silences',
    wrap(async (_req, res) => void res.json({ silences: await deps.silences.list(deps.now()) })),
  );
  router.get(
    '/silences/new',
    wrap(async (req, res) => {
      const q = parse(newSilenceQuery, { ...req.query }, 'query');
      const v = { matchers: q.matcher, duration: q.duration ?? '2h', comment: q.comment ?? '' };
      sendPage(res, 'New silence', 'silences', silenceForm(v, viewerOf(res).canWrite, csrfToken(access, req, res), viewerOf(res).user));
    }),
  );
  router.post(
    '/silences',
    wrap(async (req, res) => createSilence(deps, access, req, res)),
  );
  router.post(
    '/silences/:id/expire',
    wrap(async (req, res) => {
      parse(csrfOnly, req.body, 'form');
      const id = parse(keyParam, req.params['id'], 'silence id');
      if ((await deps.silences.expire(id, deps.now())) === null) throw new UiError(404, 'No such silence.');
      await recordWrite(deps, res, 'expire', { silenceId: id, reason: 'silence expired on the web page' });
      res.redirect(303, '/ui/silences');
    }),
  );
}

function mountViews(router: express.Router, deps: UiDeps, access: ReturnType<typeof createUiAccess>): void {
  mountActions(router, deps);
  router.get(
    ['/', '/board'],
    wrap(async (req, res) => {
      const view = await board(deps, req, res);
      const t = performance.now();
      const body = boardBody(view, deps.now(), viewerOf(res).canWrite);
      res.locals['timing'] = `${String(res.locals['timing'])}, render;dur=${(performance.now() - t).toFixed(1)}`;
      res.set('Server-Timing', String(res.locals['timing']));
      sendPage(res, 'Board', 'board', body);
    }),
  );
  router.get(
    '/api/board',
    wrap(async (req, res) => {
      const view = await board(deps, req, res);
      res.set('Server-Timing', String(res.locals['timing'])).json(view);
    }),
  );
  router.get(
    '/incidents/:key',
    wrap(async (req, res) => {
      const { incident, links } = await incident_(deps, req);
      const page = {
        canWrite: viewerOf(res).canWrite,
        canSync: deps.sync !== undefined && (deps.syncAvailable?.() ?? true),
        csrf: csrfToken(access, req, res),
      };
      const done = doneOf(req, ['sync', 'sync-dry-run', 'ack']);
      sendPage(res, 'Incident', 'incident', incidentBody(incident, links, { ...page, ...(done === undefined ? {} : { done }) }));
    }),
  );
  router.get(
    '/api/incidents/:key',
    wrap(async (req, res) => void res.json(await incident_(deps, req))),
  );
  router.post(
    '/incidents/:key/ack',
    wrap(async (req, res) => acknowledge(deps, req, res)),
  );
  mountSilenceViews(router, deps, access);
  router.get(
    '/history',
    wrap(async (req, res) => sendPage(res, 'History', 'history', historyBody(await history(deps, req)))),
  );
  router.get(
    '/api/history',
    wrap(async (req, res) => void res.json(await history(deps, req))),
  );
  router.get(
    '/sources',
    wrap(async (req, res) => {
      const view = await sources(deps);
      const done = doneOf(req, ['retried']);
      sendPage(
        res,
        'Sources',
        'sources',
        sourcesBody(view, { canWrite: viewerOf(res).canWrite, csrf: csrfToken(access, req, res), ...(done === undefined ? {} : { done }) }),
      );
    }),
  );
  router.get(
    '/api/sources',
    wrap(async (_req, res) => void res.json(await sources(deps))),
  );
}

/** The `done` query parameter when it is one of `allowed` (a fixed word: nothing the URL says is shown as is). */
function doneOf<T extends string>(req: Request, allowed: readonly T[]): T | undefined {
  const d = req.query['done'];
  return typeof d === 'string' && (allowed as readonly string[]).includes(d) ? (d as T) : undefined;
}

const DEAD_LETTERS_SHOWN = 50;

async function sources(deps: UiDeps): Promise<SourcesView> {
  const [base, deadLetters] = await Promise.all([deps.sources(), deps.deadLetters?.list(DEAD_LETTERS_SHOWN)]);
  return { ...base, ...(deadLetters === undefined ? {} : { deadLetters }), now: deps.now() };
}

async function boardInput(deps: UiDeps): Promise<BoardInput> {
  const now = deps.now();
  const [groups, silences, active, sources, audit, storms] = await Promise.all([
    deps.groups.active(deps.maxGroups),
    deps.silences.compiled(now),
    deps.silences.active(now),
    deps.inhibition.sources(),
    deps.audit.list({ limit: AUDIT_READ }),
    deps.storms?.list() ?? Promise.resolve([]),
  ]);
  const remediation = new Map<string, { outcome: string; at: number }>();
  // Newest first: the first record of a fingerprint is its latest remediation.
  for (const r of audit) {
    if (r.kind !== 'remediation') continue;
    for (const f of r.fingerprints) if (!remediation.has(f)) remediation.set(f, { outcome: r.outcome, at: r.at });
  }
  // At the bound: said on the page and counted, never silent (the rest of the groups are not shown).
  if (groups.length >= deps.maxGroups) {
    deps.onLimit?.('ui_board_groups');
    deps.log.warn({ maxGroups: deps.maxGroups }, 'web page board: MESHDRIFT_UI_MAX_GROUPS active groups read, the rest left out');
  }
  return {
    ...(groups.length >= deps.maxGroups ? { truncatedAt: deps.maxGroups } : {}),
    groups,
    silences,
    acks: new Map(active.filter(isAck).map((s) => [s.id, { until: Date.parse(s.endsAt), by: s.createdBy }])),
    rules: deps.inhibition.rules(),
    sources,
    remediation,
    storms: storms
      .filter((s) => !s.ended)
      .map((s) => ({ id: s.id, receiver: s.receiver, headline: stormHeadline(s, false), members: new Set(s.members.keys()) })),
    now,
  };
}

/** The board for a request; how long reading and building took goes to `Server-Timing` (res.locals.timing). */
async function board(deps: UiDeps, req: Request, res: Response) {
  const q = parse(boardQuery, { ...req.query }, 'query');
  const filters = filtersOf(q.filter);
  const t0 = performance.now();
  const input = await boardInput(deps);
  const t1 = performance.now();
  const view = buildBoard(input, {
    filters,
    page: q.page,
    limit: q.limit,
    expandStorms: q.expand === 'storms',
    ...(q.storm === undefined ? {} : { storm: q.storm }),
  });
  res.locals['timing'] = `read;dur=${(t1 - t0).toFixed(1)}, build;dur=${(performance.now() - t1).toFixed(1)}`;
  return view;
}

async function incident_(deps: UiDeps, req: Request) {
  const key = parse(keyParam, req.params['key'], 'incident key');
  const now = deps.now();
  const [group, entries, audit, silences] = await Promise.all([
    deps.group(key),
    deps.history.recent(HISTORY_READ),
    deps.audit.list({ limit: AUDIT_READ }),
    deps.silences.list(now),
  ]);
  const incident = buildIncident(key, { group, history: entries, audit, silences, now, ...(deps.links === undefined ? {} : { links: deps.links }) });
  if (incident === null) throw new UiError(404, 'No such incident: it resolved and left the history, or never was.');
  return { incident, links: await deps.incidentLinks(group, key) };
}

async function history(deps: UiDeps, req: Request) {
  const q = parse(historyQuery, { ...req.query }, 'query');
  return buildHistory(await deps.history.recent(HISTORY_READ), q.days, q.q, deps.now());
}

async function saveSilence(deps: UiDeps, body: Record<string, unknown>): Promise<string> {
  const now = deps.now();
  const input = parseSilenceInput(body, now, deps.silenceLimits);
  if (!input.ok) {
    if (input.limit !== undefined) deps.onLimit?.(input.limit);
    throw new UiError(400, input.error);
  }
  try {
    return (await deps.silences.create(input.silence, now)).id;
  } catch (err) {
    if (err instanceof SilenceLimitError) throw new UiError(409, err.message);
    throw err;
  }
}

async function createSilence(deps: UiDeps, access: ReturnType<typeof createUiAccess>, req: Request, res: Response): Promise<void> {
  const form = parse(silenceForm_, req.body, 'form');
  const matchers = form.matchers
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const viewer = viewerOf(res);
  try {
    const id = await saveSilence(deps, { matchers: filtersOf(matchers), duration: form.duration.trim(), comment: form.comment.trim(), createdBy: viewer.user });
    await recordWrite(deps, res, 'silence', { silenceId: id, reason: `${matchers.join(', ')} for ${form.duration.trim()}: ${form.comment.trim()}` });
    res.redirect(303, `/ui/silences?created=${encodeURIComponent(id)}`);
  } catch (err) {
    if (!(err instanceof UiError) || err.status !== 400) throw err;
    // The form again, as filled in, with what to fix.
    res.status(400);
    sendPage(
      res,
      'New silence',
      'silences',
      silenceForm({ matchers, duration: form.duration, comment: form.comment, error: err.message }, true, csrfToken(access, req, res), viewer.user),
    );
  }
}

async function acknowledge(deps: UiDeps, req: Request, res: Response): Promise<void> {
  parse(csrfOnly, req.body, 'form');
  const key = parse(keyParam, req.params['key'], 'incident key');
  const group = await deps.group(key);
  if (group === null) throw new UiError(404, 'No such incident (resolved already?).');
  const l = group.labels;
  // The incident's own findings, as its silence link and the Slack buttons name them (its group_by labels, else cluster and owner).
  const matchers = groupMatchers(l);
  const viewer = viewerOf(res);
  const silenceId = await saveSilence(deps, {
    matchers,
    duration: `${Math.max(1, Math.round(deps.ackMs / 60_000))}m`,
    comment: `${ACK_PREFIX}${viewer.user} on the web page`,
    createdBy: viewer.user,
  });
  await recordWrite(deps, res, 'acknowledge', {
    cluster: l.cluster,
    owner: l.owner,
    groupKey: key,
    silenceId,
    reason: `acknowledged for ${Math.round(deps.ackMs / 60_000)}m`,
  });
  res.redirect(303, `/ui/incidents/${encodeURIComponent(key)}?done=ack`);
}

/**
 * A write of the web page in the one audit trail (GET /api/v1/audit, the incident timeline), kind
 * `web`, actor `web:<user>`, after it is done (Slack clicks are recorded the same way).
 */
async function recordWrite(
  deps: UiDeps,
  res: Response,
  action: 'silence' | 'expire' | 'acknowledge' | 'retry',
  f: { cluster?: string; owner?: GroupState['labels']['owner']; groupKey?: string; silenceId?: string; reason: string },
): Promise<void> {
  await deps.audit.append({
    kind: 'web',
    at: deps.now(),
    actor: `web:${viewerOf(res).user}`,
    action,
    cluster: f.cluster ?? '',
    ...(f.owner === undefined ? {} : { owner: f.owner }),
    ...(f.groupKey === undefined ? {} : { groupKey: f.groupKey }),
    ...(f.silenceId === undefined ? {} : { silenceId: f.silenceId }),
    outcome: 'performed',
    reason: f.reason,
  });
}

function uiErrorHandler(deps: UiDeps): express.ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) return;
    const viewer = res.locals['viewer'] === undefined ? undefined : viewerOf(res);
    const json = req.path.startsWith('/api/');
    const answer = (status: number, title: string, message: string) => {
      res.status(status);
      if (json) res.json({ error: message });
      else res.type('html').send(problemPage(title, message, viewer).value);
    };
    if (err instanceof UiError) return answer(err.status, err.status === 403 ? 'Not allowed' : err.status === 404 ? 'Not found' : 'Bad request', err.message);
    const type = typeof err === 'object' && err !== null && 'type' in err ? String(err.type) : '';
    if (type.startsWith('entity.') || type.startsWith('parameters.')) return answer(413, 'Too large', 'The form is too large.');
    const unavailable = deps.isUnavailable?.(err);
    if (unavailable !== undefined) {
      res.set('Retry-After', String(retryAfterSeconds(unavailable)));
      return answer(503, 'Unavailable', unavailableMessage(unavailable));
    }
    deps.log.error({ err }, 'ui request failed');
    answer(500, 'Error', 'internal error');
  };
}

import type { StormRecord, StormStore } from '../deliver/storm.ts';
import { stormCounts, stormHeadline, stormHref } from '../deliver/storm-summary.ts';
import express, { type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { type AttributionView, attributionView, type ChangeListView, changeListView, kindWithGroup } from '../deliver/evidence.ts';
import { type FindingLinks, findingLinks, type LinkContext } from '../deliver/links.ts';
import type { Notification, TrackedFinding } from '../model/alert-group.ts';
import { findingLabels } from '../model/finding.ts';
import { severityRank } from '../model/severity.ts';
import { findInhibition, type CompiledInhibitRule, type InhibitionSource } from '../route/inhibit.ts';
import {
  parseSilenceInput,
  silenceState,
  silencedBy,
  type CompiledSilence,
  type Silence,
  type SilenceLimitName,
  type SilenceLimits,
} from '../route/silence.ts';
import type { GroupState } from '../track/group-state.ts';
import type { AuditTrail } from '../remediate/audit.ts';
import type { DeadLetter } from '../queue/dead-letters.ts';
import type { HistoryEntry } from '../track/history.ts';
import { SilenceLimitError, type SilenceStore } from '../track/silence-store.ts';
import { badRequest, describeIssues, HttpError } from './errors.ts';
import { contentTypeProblem } from './content-type.ts';
import { verifyBearerToken } from './verify-signature.ts';
import { retryAfterSeconds, unavailableMessage, type UnavailableReason } from '../net/unavailable.ts';

/**
 * The operator API under /api/v1 (issue #4): active alerts with what silences them, notification
 * history, silences, and dead letters with a retry. JSON in and out, `{error}` on every failure,
 * never a 500 for bad input.
 */
export interface ApiDeps {
  /** Bearer token every request must carry; unset = no authentication. */
  token: string | undefined;
  silences: SilenceStore;
  /** Size and duration limits of a silence (default DEFAULT_SILENCE_LIMITS). */
  silenceLimits?: SilenceLimits;
  /** A create refused for a size or duration limit (the count limit is the store's). */
  onLimit?: (limit: SilenceLimitName) => void;
  groups: { active(limit: number): Promise<GroupState[]> };
  history: { recent(limit: number): Promise<HistoryEntry[]> };
  deadLetters: { list(limit: number): Promise<DeadLetter[]>; retry(id: string): Promise<'retried' | 'not-found'> };
  /** Drift storms and their member groups (GET /storms, GET /storms/{id}); absent: 404. */
  storms?: Pick<StormStore, 'list' | 'byId' | 'members'>;
  /** MESHDRIFT_PUBLIC_URL: links in answers are absolute with it. */
  publicUrl?: string;
  /** The remediation audit trail (GET /audit); absent: 404. */
  audit?: Pick<AuditTrail, 'list'>;
  /** Inhibit rules in force and the firing sources, so GET /alerts can say what holds a finding back. */
  inhibition?: { rules: () => readonly CompiledInhibitRule[]; sources: () => Promise<InhibitionSource[]> };
  /** ARGOCD_URL and MESHDRIFT_GIT_HOSTS: each finding's Argo CD and commit links. */
  links?: LinkContext;
  now: () => number;
  /** Where unexpected errors are logged. */
  log?: Logger;
  /** Whether an error came from an unavailable dependency (then 503 instead of 500). */
  isUnavailable?: (err: unknown) => UnavailableReason | undefined;
}

export const MAX_API_BODY_BYTES = 64 * 1024;
const MAX_LIMIT = 1000;

const notFound = (message: string): HttpError => new HttpError(404, message, 'invalid');

const limitQuery = (defaultLimit: number) =>
  z.strictObject({
    limit: z
      .string({ error: 'limit must be given once, as a whole number' })
      .regex(/^\d+$/, 'limit must be a whole number')
      .transform(Number)
      .pipe(z.number().int().min(1, 'limit must be at least 1').max(MAX_LIMIT, `limit must be at most ${MAX_LIMIT}`))
      .default(defaultLimit),
  });
const alertsQuery = limitQuery(MAX_LIMIT);
const historyQuery = limitQuery(50);
const deadLettersQuery = limitQuery(50);
const noQuery = z.strictObject({});
const auditQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** Epoch ms: only records at or after it. */
  since: z.coerce.number().int().nonnegative().optional(),
});

const idParam = z.string().min(1, 'id must not be empty').max(200, 'id is longer than 200 characters');

function parseQuery<T>(schema: z.ZodType<T>, req: Request): T {
  const parsed = schema.safeParse({ ...req.query });
  if (!parsed.success) throw badRequest(`invalid query: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

function idOf(req: Request): string {
  const parsed = idParam.safeParse(req.params['id']);
  if (!parsed.success) throw badRequest(`id: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const quoted = (id: string): string => JSON.stringify(id.slice(0, 80));

/** A silence as the API shows it: with its state at the time of the request. */
export type SilenceView = Silence & { state: ReturnType<typeof silenceState> };

function silenceView(s: Silence, now: number): SilenceView {
  return { ...s, state: silenceState(s, now) };
}

interface FindingView {
  fingerprint: string;
  resource: TrackedFinding['resource'];
  /** The kind with its API group (`AuthorizationPolicy.security.istio.io`). */
  api: string;
  state: TrackedFinding['state'];
  severity: TrackedFinding['severity'];
  category: TrackedFinding['category'];
  mesh: string;
  status: TrackedFinding['status'];
  firstSeen: string;
  lastSeen: string;
  receivers: string[];
  /** What the source said about it, one line: why it is not in effect (the controller's verdict), a Flux change count, … */
  detail?: string;
  silencedBy?: string;
  /** The inhibit rule holding it back, and the fingerprint of the finding that inhibits it. */
  inhibitedBy?: { rule: string; source: string };
  /** Why it is never notified (tracked and listed only): `non-mesh` (the policy's notify_non_mesh). */
  unnotified?: TrackedFinding['unnotified'];
  revision?: string;
  repoURL?: string;
  /** The policy rules' annotations (summary, description, runbook_url, team, own keys), as rendered for it. */
  annotations?: Record<string, string>;
  /** What changed (redacted at the source), as stored: at most 20 changes, `omitted` counts the rest. */
  changes?: ChangeListView;
  /** Who changed it and when; `text` says whether a person or a tool. */
  changed_by?: AttributionView[];
  links?: FindingLinks;
}

/** One alert group as GET /alerts shows it. */
export interface AlertGroupView {
  groupKey: string;
  labels: GroupState['labels'];
  status: 'firing' | 'resolved';
  firstSeen: string;
  findings: FindingView[];
  lastNotification?: { seq: number; reason: Notification['reason']; at: string };
}

const findingOrder = (a: TrackedFinding, b: TrackedFinding): number =>
  (a.status === b.status ? 0 : a.status === 'firing' ? -1 : 1) ||
  severityRank(a.severity) - severityRank(b.severity) ||
  a.resource.kind.localeCompare(b.resource.kind) ||
  a.resource.namespace.localeCompare(b.resource.namespace) ||
  a.resource.name.localeCompare(b.resource.name);

interface Mutes {
  silences: readonly CompiledSilence[];
  rules: readonly CompiledInhibitRule[];
  sources: readonly InhibitionSource[];
}

// The evidence of a finding (issue #16) as JSON: values as stored (already redacted and bounded by
// the source); JSON escapes what it must, and the API is read by programs, not rendered as markup.
function evidenceView(
  f: TrackedFinding,
  links: LinkContext | undefined,
): Pick<FindingView, 'revision' | 'repoURL' | 'annotations' | 'changes' | 'changed_by' | 'links'> {
  const same = (s: string): string => s;
  const l = findingLinks(f, links);
  return {
    ...(f.revision === undefined ? {} : { revision: f.revision }),
    ...(f.repoURL === undefined ? {} : { repoURL: f.repoURL }),
    ...(f.annotations === undefined ? {} : { annotations: f.annotations }),
    ...(f.changes === undefined ? {} : { changes: changeListView(f.changes, same) }),
    ...(f.attribution === undefined || f.attribution.length === 0 ? {} : { changed_by: f.attribution.map((a) => attributionView(a, same)) }),
    ...(l.argocd === undefined && l.commit === undefined ? {} : { links: l }),
  };
}

function alertGroupView(g: GroupState, mutes: Mutes, now: number, links?: LinkContext): AlertGroupView {
  const findings = Object.values(g.findings).sort(findingOrder);
  const view: AlertGroupView = {
    groupKey: g.groupKey,
    labels: g.labels,
    status: findings.some((f) => f.status === 'firing') ? 'firing' : 'resolved',
    firstSeen: iso(g.firstSeen),
    findings: findings.map((f) => {
      const labels = findingLabels(f);
      const silence = silencedBy(labels, mutes.silences, now);
      const inhibition = f.status === 'firing' && mutes.sources.length > 0 ? findInhibition(labels, mutes.sources, mutes.rules, f.fingerprint) : null;
      return {
        fingerprint: f.fingerprint,
        resource: f.resource,
        api: kindWithGroup(f.resource),
        state: f.state,
        severity: f.severity,
        category: f.category,
        mesh: f.mesh,
        status: f.status,
        firstSeen: iso(f.firstSeen),
        lastSeen: iso(f.lastSeen),
        receivers: f.receivers,
        ...(f.detail === undefined ? {} : { detail: f.detail }),
        ...(silence === null ? {} : { silencedBy: silence }),
        ...(inhibition === null ? {} : { inhibitedBy: { rule: inhibition.rule, source: inhibition.sourceId } }),
        ...(f.unnotified === undefined ? {} : { unnotified: f.unnotified }),
        ...evidenceView(f, links),
      };
    }),
  };
  if (g.lastNotification) view.lastNotification = { seq: g.lastNotification.seq, reason: g.lastNotification.reason, at: iso(g.lastNotification.at) };
  return view;
}

const stormMembersQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(500),
  /** The `next` of the page before (Redis HSCAN cursor); absent: the first page. */
  cursor: z
    .string()
    .regex(/^\d{1,20}$/, 'cursor must be the `next` of the page before')
    .default('0'),
});

/** A storm as the API shows it: its cause, headline and counts (members: GET /storms/{id}). */
function stormView(r: StormRecord, publicUrl: string | undefined): Record<string, unknown> {
  const c = stormCounts(r.members.values());
  return {
    receiver: r.receiver,
    id: r.id,
    cause: r.cause,
    status: r.ended ? 'resolved' : 'firing',
    summary: stormHeadline(r, r.ended),
    startedAt: iso(r.startedAt),
    lastJoinAt: iso(r.lastJoinAt),
    joined: r.joined,
    firingMembers: r.memberCount,
    apps: c.apps,
    resources: c.resources,
    critical: c.critical,
    clusters: c.clusters.size,
    href: stormHref(r.id, publicUrl),
  };
}

// Each receiver's drift storms (deliver/storm.ts): their cause, summary and counts, newest first
// (at most STORM_API_STORMS); every group is also in GET /alerts as before.
function stormsRoute(deps: Pick<ApiDeps, 'storms' | 'publicUrl'>): RequestHandler {
  return async (req, res) => {
    if (!deps.storms) throw notFound('drift storms are not recorded here');
    parseQuery(noQuery, req);
    res.json({ storms: (await deps.storms.list()).map((r) => stormView(r, deps.publicUrl)) });
  };
}

// One storm with a page of its member groups (about `limit`; `next` names the page after).
function stormRoute(deps: Pick<ApiDeps, 'storms' | 'publicUrl'>): RequestHandler {
  return async (req, res) => {
    if (!deps.storms) throw notFound('drift storms are not recorded here');
    const id = idOf(req);
    const { limit, cursor } = parseQuery(stormMembersQuery, req);
    const found = await deps.storms.byId(id);
    if (found === null) throw notFound(`no storm with id ${quoted(id)}`);
    const page = await deps.storms.members(found.stateKey, cursor, limit);
    res.json({
      ...stormView(found.record, deps.publicUrl),
      members: page.members.map(([groupKey, m]) => ({
        groupKey,
        cluster: m.cluster,
        owner: m.owner,
        tool: m.tool,
        firing: m.firing,
        critical: m.critical,
        severity: m.severity,
        ...(m.revision === undefined ? {} : { revision: m.revision }),
      })),
      ...(page.next === undefined ? {} : { next: page.next }),
    });
  };
}

/**
 * What every API request passes first (/api/v1 and /api/v2): the bearer token, before any body is
 * read; a JSON Content-Type on POST; a bounded JSON body. `body` shapes the 401's answer.
 */
export function useApiGuards(router: express.Router, token: string | undefined, body: (error: string) => unknown): void {
  router.use((req, res, next) => {
    if (token === undefined) return next();
    const check = verifyBearerToken(req.get('authorization'), token);
    if (check.ok) return next();
    res.status(401).set('WWW-Authenticate', 'Bearer').json(body(check.reason));
  });
  // A web page can POST cross-site without a preflight only with a form or text Content-Type (or
  // none): every POST must say application/json (415 otherwise), so none of those can write.
  // DELETE needs a preflight, which meshdrift never grants (no CORS headers).
  router.use((req, _res, next) => {
    if (req.method !== 'POST') return next();
    const problem = contentTypeProblem(req.get('content-type'), false);
    if (problem === undefined) return next();
    next(new HttpError(415, problem, 'invalid'));
  });
  router.use(express.json({ limit: MAX_API_BODY_BYTES }));
}

/** The /api/v1 router; mount it with `app.use('/api/v1', createApiRouter(deps))`. */
export function createApiRouter(deps: ApiDeps): express.Router {
  const router = express.Router();

  useApiGuards(router, deps.token, (error) => ({ error }));

  router.get('/alerts', async (req, res) => {
    const { limit } = parseQuery(alertsQuery, req);
    const now = deps.now();
    const [groups, silences, sources] = await Promise.all([deps.groups.active(limit), deps.silences.compiled(now), deps.inhibition?.sources() ?? []]);
    const mutes: Mutes = { silences, rules: deps.inhibition?.rules() ?? [], sources };
    res.json({ groups: groups.map((g) => alertGroupView(g, mutes, now, deps.links)) });
  });

  router.get('/alerts/history', async (req, res) => {
    const { limit } = parseQuery(historyQuery, req);
    res.json({ notifications: await deps.history.recent(limit) });
  });

  router.post('/silences', async (req, res) => {
    parseQuery(noQuery, req);
    if (req.body === undefined) throw badRequest('(body): expected a JSON object, sent with Content-Type: application/json');
    const now = deps.now();
    const input = parseSilenceInput(req.body, now, deps.silenceLimits);
    if (!input.ok) {
      if (input.limit !== undefined) deps.onLimit?.(input.limit);
      throw badRequest(input.error);
    }
    let silence: Silence;
    try {
      silence = await deps.silences.create(input.silence, now);
    } catch (err) {
      if (err instanceof SilenceLimitError) throw new HttpError(409, err.message, 'invalid');
      throw err;
    }
    res
      .status(201)
      .location(`${req.baseUrl}/silences/${encodeURIComponent(silence.id)}`)
      .json(silenceView(silence, now));
  });

  router.get('/silences', async (req, res) => {
    parseQuery(noQuery, req);
    const now = deps.now();
    res.json({ silences: (await deps.silences.list(now)).map((s) => silenceView(s, now)) });
  });

  router.get('/silences/:id', async (req, res) => {
    const id = idOf(req);
    const silence = await deps.silences.get(id);
    if (silence === null) throw notFound(`no silence with id ${quoted(id)}`);
    res.json(silenceView(silence, deps.now()));
  });

  router.delete('/silences/:id', async (req, res) => {
    const id = idOf(req);
    const now = deps.now();
    const silence = await deps.silences.expire(id, now);
    if (silence === null) throw notFound(`no silence with id ${quoted(id)}`);
    res.json(silenceView(silence, now));
  });

  router.get('/deadletters', async (req, res) => {
    const { limit } = parseQuery(deadLettersQuery, req);
    res.json({ deadLetters: await deps.deadLetters.list(limit) });
  });

  router.get('/storms', stormsRoute(deps));
  router.get('/storms/:id', stormRoute(deps));

  router.post('/deadletters/:id/retry', async (req, res) => {
    const id = idOf(req);
    const result = await deps.deadLetters.retry(id);
    if (result === 'not-found') throw notFound(`no dead letter with id ${quoted(id)}`);
    res.status(202).json({ status: 'retried' });
  });

  router.get('/audit', async (req, res) => {
    if (!deps.audit) throw notFound('no audit trail');
    const { limit, since } = parseQuery(auditQuery, req);
    res.json({ records: await deps.audit.list({ limit, ...(since === undefined ? {} : { since }) }) });
  });

  router.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });

  router.use(apiErrorHandler(deps, (error) => ({ error })));
  return router;
}

/**
 * The API's answer to a failed request: an HttpError's status, 4xx for a bad body, 503 while Redis
 * is down, else 500 (logged). `body` shapes the answer (`{error}` in v1, a JSON string in v2).
 */
export function apiErrorHandler(deps: Pick<ApiDeps, 'isUnavailable' | 'log'>, body: (error: string) => unknown): ErrorRequestHandler {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) {
      res.status(err.status).json(body(err.message));
      return;
    }
    // body-parser: malformed JSON, too large, bad charset. Its messages name no secret.
    const type = typeof err === 'object' && err !== null && 'type' in err ? String(err.type) : '';
    if (type.startsWith('entity.') || type.startsWith('charset.') || type.startsWith('encoding.') || type === 'request.aborted') {
      const status = typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number' && err.status < 500 ? err.status : 400;
      const message =
        type === 'entity.too.large' ? `body larger than ${MAX_API_BODY_BYTES} bytes` : `malformed request body: ${err instanceof Error ? err.message : type}`;
      res.status(status).json(body(message));
      return;
    }
    const unavailable = deps.isUnavailable?.(err);
    if (unavailable !== undefined) {
      res
        .status(503)
        .set('Retry-After', String(retryAfterSeconds(unavailable)))
        .json(body(unavailableMessage(unavailable)));
      return;
    }
    deps.log?.error({ err }, 'api request failed');
    res.status(500).json(body('internal error'));
  };
}

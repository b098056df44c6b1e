import { isAxiosError } from 'axios';
import { ignoreRulesSchema, type IgnoreRule } from './app-index.ts';
import { z } from 'zod';
import { createTextHttpClient, redactSecrets, transportFailure } from '../../net/http.ts';
import { applicationSchema } from './application.ts';

/**
 * A small read-only client of the Argo CD API server, for polling from outside the cluster
 * (issue #5). Facts from argoproj/argo-cd @37ee009 (v3.6.0), reference/argocd.md §2:
 *
 * - `GET /api/v1/applications` (server/application/application.proto `ApplicationQuery`) takes
 *   `projects` (repeatable; `project` is the legacy name), `selector` (a label selector, parsed with
 *   `labels.Parse`), `appNamespace` (one namespace; unset = the control plane's and every enabled
 *   one), `repo`, `name`, and `resourceVersion` (only meaningful for watches). It does **not**
 *   paginate: `Server.List` (server/application/application.go L288-345) answers every app from the
 *   informer cache in one list, sorted by name, silently leaving out apps the account may not
 *   `get` (an account without RBAC gets an empty list, not a 403). Only `fields`
 *   (pkg/apiclient/application/forwarder_overwrite.go, `appFields`) shrinks the answer, and only
 *   to a fixed set of fields that lacks `status.reconciledAt`; see {@link ApplicationFilters.fields}.
 * - `GET /api/v1/applications/{name}/resource-tree?appNamespace=&project=` answers an
 *   `ApplicationTree` (pkg/apis/application/v1alpha1/types.go L2029): `nodes[]` of ResourceNode
 *   `{group, version, kind, namespace, name, uid, parentRefs, resourceVersion, health{status,
 *   message}, createdAt, …}`, managed resources and their children alike. Since Argo CD 3.0 it is
 *   where per-resource health lives (`status.resourceHealthSource: appTree`).
 * - Errors are grpc-gateway v1 bodies `{"error","code","message"}`: 401 (code 16) "no session
 *   information" or "invalid session: …" (server/server.go L147, L1641); 403 (code 7) "permission
 *   denied", also for an app that does not exist unless `project` is given, then 404
 *   (application.go `getAppEnforceRBAC` L176-230).
 *
 * Answers are validated with zod: unknown fields are dropped, a field of the wrong type is an
 * error naming it. The token is sent only in the Authorization header and is never in an error.
 */

/** Options for {@link createArgoCdApi}. */
export interface ArgoCdApiOptions {
  /** The Argo CD server's base URL, e.g. https://argocd.example.com (with its `--rootpath`, if any). */
  apiUrl: string;
  /** Bearer token of an account (or project role) with `applications, get`. */
  token: string;
  /** Bound of each request, connect to last byte; default 30 s. */
  timeoutMs?: number;
  /** Largest list answer accepted; default 128 MiB (the list is never paginated). */
  maxListBytes?: number;
}

/** What `GET /api/v1/applications` is asked to return. */
export interface ApplicationFilters {
  /** Only apps of these projects (sent as repeated `projects`). Empty: every project. */
  projects?: readonly string[];
  /** Label selector, equality or set-based (`team=payments`, `tier in (mesh,edge)`). */
  selector?: string;
  /** Only apps in this namespace ("apps in any namespace"). Unset: every enabled namespace. */
  appNamespace?: string;
  /**
   * Field selection (`items.metadata.name`, …; Argo CD knows a fixed list). The poller does not
   * use it: the selectable fields lack `status.reconciledAt`, which orders snapshots against those
   * of the watches and webhooks, and `metadata.uid`.
   */
  fields?: readonly string[];
}

/**
 * One `spec.ignoreDifferences` entry (types.go `ResourceIgnoreDifferences`; app-index.ts
 * ignoreRulesSchema, bounded): which resources, the JSON pointers Argo CD leaves out of its diff,
 * its managedFieldsManagers and how many jq expressions. meshdrift's diff of managed-resources
 * honours the pointers only (Argo CD already applied the rest in `normalizedLiveState`); the mesh
 * watch honours pointers and managers (app-index.ts).
 */
export type IgnoreDifference = IgnoreRule;

/** The Application of a list item: what application.ts reads, plus where resource health lives and what its diff ignores. */
export const listedApplicationSchema = applicationSchema.extend({
  spec: applicationSchema.shape.spec
    .unwrap()
    // A malformed or oversized list only loses meshdrift's extra filter, never the app: Argo CD
    // already applies it in normalizedLiveState.
    .extend({ ignoreDifferences: ignoreRulesSchema })
    .optional(),
  status: applicationSchema.shape.status.unwrap().extend({ resourceHealthSource: z.string().optional() }).optional(),
});
export type ListedApplication = z.infer<typeof listedApplicationSchema>;

// `items` is null for an empty list (streamApplicationListJSON writes `"items":null`).
const applicationListSchema = z.object({
  metadata: z.object({ resourceVersion: z.string().optional() }).nullish(),
  items: z.array(z.unknown()).nullish(),
});

const healthSchema = z.object({ status: z.string().optional(), message: z.string().optional() });

const resourceNodeSchema = z.object({
  group: z.string().optional(),
  version: z.string().optional(),
  kind: z.string().min(1),
  namespace: z.string().optional(),
  name: z.string().min(1),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  createdAt: z.string().optional(),
  health: healthSchema.optional(),
  parentRefs: z.array(z.object({ kind: z.string().optional(), name: z.string().optional() })).optional(),
});
export type ResourceNode = z.infer<typeof resourceNodeSchema>;

export const resourceTreeSchema = z.object({ nodes: z.array(resourceNodeSchema).nullish() });
export type ResourceTree = z.infer<typeof resourceTreeSchema>;

/**
 * One item of `GET /api/v1/applications/{name}/managed-resources` (types.go `ResourceDiff`,
 * L2268-2297): the four states are JSON text (`targetState`: Git's manifest; `liveState`: the live
 * object; `normalizedLiveState`: live with Argo CD's normalizations, ignoreDifferences included;
 * `predictedLiveState`: what live would be after a sync). `group` is omitted for the core group and
 * `modified` when false (omitempty). Hooks are filtered out by the server.
 */
const managedResourceSchema = z.object({
  group: z.string().optional(),
  kind: z.string().min(1),
  namespace: z.string().optional(),
  name: z.string().min(1),
  targetState: z.string().optional(),
  liveState: z.string().optional(),
  normalizedLiveState: z.string().optional(),
  predictedLiveState: z.string().optional(),
  resourceVersion: z.string().optional(),
  modified: z.boolean().optional(),
  hook: z.boolean().optional(),
});
export type ManagedResource = z.infer<typeof managedResourceSchema>;
const managedResourcesSchema = z.object({ items: z.array(managedResourceSchema).nullish() });

/** Which managed resources to return: the server's `isMatchingResource` (an empty field matches any). */
export interface ManagedResourceFilter {
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
}

/** An app the list returned that does not have the expected shape: left out, named if possible. */
export interface SkippedApplication {
  name?: string;
  namespace?: string;
  error: string;
}

export interface ApplicationList {
  items: ListedApplication[];
  skipped: SkippedApplication[];
  resourceVersion?: string;
}

/** The app whose resource tree is read. `project` turns "not found" into 404 instead of 403. */
export interface ApplicationRef {
  name: string;
  namespace?: string;
  project?: string;
}

/**
 * Why a call failed. `unauthorized` (401) and `forbidden` (403) need an operator; the others are
 * worth retrying later (`unavailable`, `timeout`) or say the URL or server is wrong (`rejected`,
 * `invalid-answer`).
 */
export type ArgoCdApiErrorKind = 'unauthorized' | 'forbidden' | 'not-found' | 'unavailable' | 'timeout' | 'rejected' | 'invalid-answer';

export class ArgoCdApiError extends Error {
  override readonly name: string = 'ArgoCdApiError';
  readonly kind: ArgoCdApiErrorKind;
  readonly status: number | undefined;
  constructor(kind: ArgoCdApiErrorKind, message: string, status?: number) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
  /** Whether the same call may succeed later without anyone changing anything. */
  get retryable(): boolean {
    return this.kind === 'unavailable' || this.kind === 'timeout';
  }
}

/** A 401 or 403: the token or its RBAC is wrong; polling cannot work until an operator acts. */
export class ArgoCdAuthError extends ArgoCdApiError {
  override readonly name: string = 'ArgoCdAuthError';
}

export interface ArgoCdApi {
  /** One call per filter set: Argo CD answers the whole list at once. Throws {@link ArgoCdApiError}. */
  listApplications(filters?: ApplicationFilters): Promise<ApplicationList>;
  /** The app's live resource tree (per-resource health). Throws {@link ArgoCdApiError}. */
  resourceTree(app: ApplicationRef): Promise<ResourceTree>;
  /**
   * The app's managed resources with their states (diff detail), narrowed by `filter`, answered
   * within `timeoutMs` (default the client's) and `maxBytes`. Throws {@link ArgoCdApiError}.
   */
  managedResources(app: ApplicationRef, filter?: ManagedResourceFilter, limits?: { timeoutMs?: number; maxBytes?: number }): Promise<ManagedResource[]>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
// 1000 apps of 30 resources in the 3.x shape answer about 23 MiB (bench/argocd-poll.ts).
const DEFAULT_MAX_LIST_BYTES = 128 * 1024 * 1024;
const MAX_TREE_BYTES = 16 * 1024 * 1024;
/** Largest managed-resources answer accepted by default: one resource's four states are rarely over 100 KiB. */
export const DEFAULT_MAX_MANAGED_BYTES = 4 * 1024 * 1024;
const MAX_SAID = 300;
const MAX_ISSUES = 3;

/** The query string of a list call; `projects` repeats as grpc-gateway expects (not `projects[]`). */
export function applicationListQuery(filters: ApplicationFilters = {}): URLSearchParams {
  const q = new URLSearchParams();
  for (const p of filters.projects ?? []) if (p !== '') q.append('projects', p);
  if (filters.selector !== undefined && filters.selector.trim() !== '') q.set('selector', filters.selector.trim());
  if (filters.appNamespace !== undefined && filters.appNamespace !== '') q.set('appNamespace', filters.appNamespace);
  if (filters.fields !== undefined && filters.fields.length > 0) q.set('fields', filters.fields.join(','));
  return q;
}

/** The query string of a resource-tree call. */
export function resourceTreeQuery(app: ApplicationRef): URLSearchParams {
  const q = new URLSearchParams();
  if (app.namespace !== undefined && app.namespace !== '') q.set('appNamespace', app.namespace);
  if (app.project !== undefined && app.project !== '') q.set('project', app.project);
  return q;
}

/**
 * The query string of a managed-resources call (server/application/application.proto
 * `ResourcesQuery`: `applicationName` in the path; `namespace`, `name`, `version`, `group`, `kind`,
 * `appNamespace`, `project`). The server keeps an item when each given field equals it
 * (application.go `isMatchingResource`); an empty group matches every group, so core-group
 * resources are narrowed by kind, namespace and name, and the caller matches the group itself.
 */
export function managedResourcesQuery(app: ApplicationRef, filter: ManagedResourceFilter = {}): URLSearchParams {
  const q = resourceTreeQuery(app);
  for (const field of ['group', 'kind', 'namespace', 'name'] as const) {
    const v = filter[field];
    if (v !== undefined && v !== '') q.set(field, v);
  }
  return q;
}

/** Reads a managed-resources answer; any item of the wrong shape fails it, naming the field. */
export function parseManagedResources(text: string, appName: string): ManagedResource[] {
  const what = `managed resources of ${appName}`;
  const answer = managedResourcesSchema.safeParse(parseJsonText(text, what));
  if (!answer.success) throw new ArgoCdApiError('invalid-answer', `argocd ${what}: unexpected answer: ${describeIssues(answer.error)}`);
  return answer.data.items ?? [];
}

/** Zod issues as `path: message`, the path written as in the JSON (`items[2].status.resources[0].kind`). */
export function describeIssues(error: z.ZodError, prefix = ''): string {
  const shown = error.issues.slice(0, MAX_ISSUES).map((i) => {
    const path = i.path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc === '' ? String(p) : `${acc}.${String(p)}`), prefix);
    return `${path || '(answer)'}: ${i.message}`;
  });
  const more = error.issues.length > MAX_ISSUES ? ` (and ${error.issues.length - MAX_ISSUES} more)` : '';
  return `${shown.join('; ')}${more}`;
}

function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ArgoCdApiError('invalid-answer', `argocd ${what}: the answer is not JSON (is ARGOCD_URL the Argo CD server, not a login page or proxy?)`);
  }
}

/** Reads a list answer; an app of the wrong shape is skipped and named, the others are kept. */
export function parseApplicationList(text: string): ApplicationList {
  const what = 'list of applications';
  const envelope = applicationListSchema.safeParse(parseJsonText(text, what));
  if (!envelope.success) throw new ArgoCdApiError('invalid-answer', `argocd ${what}: unexpected answer: ${describeIssues(envelope.error)}`);
  const items: ListedApplication[] = [];
  const skipped: SkippedApplication[] = [];
  (envelope.data.items ?? []).forEach((raw, index) => {
    const app = listedApplicationSchema.safeParse(raw);
    if (app.success) return void items.push(app.data);
    const meta = (raw as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
    const name = typeof meta?.name === 'string' ? meta.name : undefined;
    const namespace = typeof meta?.namespace === 'string' ? meta.namespace : undefined;
    skipped.push({
      ...(name !== undefined ? { name } : {}),
      ...(namespace !== undefined ? { namespace } : {}),
      error: describeIssues(app.error, `items[${index}]`),
    });
  });
  const resourceVersion = envelope.data.metadata?.resourceVersion;
  return { items, skipped, ...(resourceVersion !== undefined ? { resourceVersion } : {}) };
}

/** Reads a resource-tree answer; any node of the wrong shape fails it, naming the field. */
export function parseResourceTree(text: string, appName: string): ResourceTree {
  const what = `resource tree of ${appName}`;
  const tree = resourceTreeSchema.safeParse(parseJsonText(text, what));
  if (!tree.success) throw new ArgoCdApiError('invalid-answer', `argocd ${what}: unexpected answer: ${describeIssues(tree.error)}`);
  return tree.data;
}

const grpcErrorSchema = z.object({ error: z.string().optional(), code: z.number().optional(), message: z.string().optional() });

/** What the server said in a grpc-gateway error body, '' when it is not one. */
export function grpcMessage(text: string): string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return '';
  }
  const body = grpcErrorSchema.safeParse(raw);
  return body.success ? (body.data.message ?? body.data.error ?? '').slice(0, MAX_SAID) : '';
}

/**
 * The error for a non-2xx answer to `what`, saying what to do. The token is redacted from anything
 * the server said (defense in depth: Argo CD does not echo it).
 */
export function apiErrorOf(status: number, text: string, what: string, token: string): ArgoCdApiError {
  const said = redactSecrets(grpcMessage(text), [token]);
  const detail = said === '' ? '' : `: ${said}`;
  const head = `argocd ${what}: HTTP ${status}${detail}`;
  if (status === 401) {
    return new ArgoCdAuthError(
      'unauthorized',
      `${head}. The token was rejected: expired, revoked or not an API token; create one with \`argocd account generate-token --account <account>\` and set ARGOCD_TOKEN`,
      status,
    );
  }
  if (status === 403) {
    return new ArgoCdAuthError(
      'forbidden',
      `${head}. The account lacks RBAC \`applications, get\` on these apps (e.g. \`p, role:meshdrift, applications, get, */*, allow\` in argocd-rbac-cm)`,
      status,
    );
  }
  if (status === 404) return new ArgoCdApiError('not-found', `${head} (check ARGOCD_URL: it must be the Argo CD server, with its root path if any)`, status);
  if (status === 408 || status === 429 || status >= 500) return new ArgoCdApiError('unavailable', head, status);
  const hint = status >= 300 && status < 400 ? ' (redirect not followed: check ARGOCD_URL, e.g. https:// and the root path)' : '';
  return new ArgoCdApiError('rejected', `${head}${hint}`, status);
}

/** The Argo CD API client. */
export function createArgoCdApi(opts: ArgoCdApiOptions): ArgoCdApi {
  const base = opts.apiUrl.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const http = createTextHttpClient(timeoutMs, {
    maxContentLength: opts.maxListBytes ?? DEFAULT_MAX_LIST_BYTES,
    headers: { Authorization: `Bearer ${opts.token}`, 'User-Agent': 'meshdrift', Accept: 'application/json' },
  });

  async function get(path: string, query: URLSearchParams, what: string, maxBytes?: number, callTimeoutMs = timeoutMs): Promise<string> {
    const qs = query.toString();
    let res: { status: number; data: unknown };
    try {
      res = await http.get<string>(`${base}${path}${qs === '' ? '' : `?${qs}`}`, {
        signal: AbortSignal.timeout(callTimeoutMs),
        ...(maxBytes !== undefined ? { maxContentLength: maxBytes } : {}),
      });
    } catch (error) {
      if (isAxiosError(error) && /maxContentLength/.test(error.message)) {
        const limit = maxBytes ?? opts.maxListBytes ?? DEFAULT_MAX_LIST_BYTES;
        const shown = limit >= 1024 * 1024 ? `${Math.round(limit / 1024 / 1024)} MiB` : `${Math.round(limit / 1024)} KiB`;
        const hint = what.startsWith('list') ? '; poll fewer apps at once (ARGOCD_PROJECTS, ARGOCD_SELECTOR, ARGOCD_APP_NAMESPACES)' : '';
        throw new ArgoCdApiError('rejected', `argocd ${what}: the answer is larger than ${shown}${hint}`);
      }
      const failure = transportFailure(error);
      const kind = failure === 'request timed out' ? 'timeout' : 'unavailable';
      throw new ArgoCdApiError(kind, `argocd ${what}: ${failure}${kind === 'timeout' ? ` (after ${callTimeoutMs}ms)` : ''}`);
    }
    const text = typeof res.data === 'string' ? res.data : '';
    if (res.status < 200 || res.status >= 300) throw apiErrorOf(res.status, text, what, opts.token);
    return text;
  }

  return {
    async listApplications(filters = {}) {
      const scope = filters.appNamespace ? ` in ${filters.appNamespace}` : '';
      return parseApplicationList(await get('/api/v1/applications', applicationListQuery(filters), `list of applications${scope}`));
    },
    async resourceTree(app) {
      const what = `resource tree of ${app.namespace ? `${app.namespace}/` : ''}${app.name}`;
      const text = await get(`/api/v1/applications/${encodeURIComponent(app.name)}/resource-tree`, resourceTreeQuery(app), what, MAX_TREE_BYTES);
      return parseResourceTree(text, app.name);
    },
    async managedResources(app, filter = {}, limits = {}) {
      const what = `managed resources of ${app.namespace ? `${app.namespace}/` : ''}${app.name}`;
      const path = `/api/v1/applications/${encodeURIComponent(app.name)}/managed-resources`;
      const text = await get(path, managedResourcesQuery(app, filter), what, limits.maxBytes ?? DEFAULT_MAX_MANAGED_BYTES, limits.timeoutMs ?? timeoutMs);
      return parseManagedResources(text, app.name);
    },
  };
}

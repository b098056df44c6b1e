import { z } from 'zod';
import type { OwnerRef, ResourceRef } from '../model/signal.ts';
import { redact, type ActionFailure, type RemediationClient, type RemediationRequest, type TargetState } from './action.ts';
import { parseJsonAs } from '../model/json.ts';
import { createTextHttpClient, transportFailure } from '../net/http.ts';
import type { VerifyObservation } from './verify.ts';
import type { TargetScope } from './scope.ts';

/** Options for {@link createArgoCdSyncClient}. */
export interface ArgoCdSyncClientOptions {
  /** Argo CD API server base URL, e.g. https://argocd.example.com (tests: the local fake). */
  apiUrl: string;
  /** Bearer token of an account with `applications, get` and `applications, sync`. Never in a reason. */
  token: string;
  /**
   * Argo CD's own namespace. An Application elsewhere ("apps in any namespace") is addressed with
   * `appNamespace`; default `argocd`.
   */
  controlPlaneNamespace?: string;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
  /** Wait suggested after "another operation is already in progress"; default 30 s. */
  inProgressRetryMs?: number;
  /** Wait suggested while a sync window denies syncs; default 5 min. */
  syncWindowRetryMs?: number;
}

/** The body of `POST /api/v1/applications/{name}/sync` (ApplicationSyncRequest) that meshdrift sends. */
export interface ArgoCdSyncBody {
  resources: { group: string; kind: string; namespace: string; name: string }[];
  prune: boolean;
  dryRun: boolean;
  appNamespace?: string;
  infos: { name: string; value: string }[];
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_IN_PROGRESS_RETRY_MS = 30_000;
const DEFAULT_SYNC_WINDOW_RETRY_MS = 5 * 60_000;
// Argo CD shows operation infos in the UI; keep them short.
const MAX_INFO = 250;

// grpc-gateway v1 error body: {"error","code","message"} (reference/argocd.md §2).
const grpcErrorSchema = z.object({ error: z.string().optional(), code: z.number().optional(), message: z.string().optional() });

const resourceStatusSchema = z.object({
  group: z.string().optional(),
  kind: z.string(),
  namespace: z.string().optional(),
  name: z.string(),
  status: z.string().optional(),
});

const operationSchema = z.object({
  initiatedBy: z.object({ username: z.string().optional(), automated: z.boolean().optional() }).nullish(),
  info: z.array(z.object({ name: z.string().optional(), value: z.string().optional() })).nullish(),
});

/** Where an Application deploys: its project and destination (the scope checks, scope.ts). */
export const applicationSpecSchema = z.object({
  project: z.string().nullish(),
  destination: z.object({ server: z.string().nullish(), name: z.string().nullish(), namespace: z.string().nullish() }).nullish(),
});

// Only what meshdrift reads of an Application; everything else passes through.
export const applicationSchema = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string().optional() }),
  spec: applicationSpecSchema.nullish(),
  operation: z.unknown().optional(),
  status: z
    .object({
      operationState: z
        .object({
          phase: z.string().optional(),
          message: z.string().optional(),
          startedAt: z.string().nullish(),
          operation: operationSchema.nullish().catch(undefined),
        })
        .nullish(),
      resources: z.array(resourceStatusSchema).nullish(),
    })
    .nullish(),
});
export type ArgoCdApplication = z.infer<typeof applicationSchema>;

/** The Argo CD Application's own account for what meshdrift starts (argocd-operation's `initiatedBy.username`). */
export const MESHDRIFT_USERNAME = 'meshdrift';

/**
 * What meshdrift reads of an Application for its guardrails: where it deploys (`spec.destination`,
 * `spec.project`) and who started its last operation, and when. An operation is meshdrift's when
 * it carries meshdrift's info entry (argocd-sync `infos`) or its username (argocd-operation).
 */
export function applicationTarget(app: ArgoCdApplication): Pick<TargetState, 'scope' | 'lastOperation'> {
  const d = app.spec?.destination;
  const scope: TargetScope = {
    destination: { server: d?.server ?? undefined, name: d?.name ?? undefined, namespace: d?.namespace ?? undefined },
    project: app.spec?.project || 'default',
  };
  const state = app.status?.operationState;
  const startedAt = state?.startedAt ? Date.parse(state.startedAt) : Number.NaN;
  if (!Number.isFinite(startedAt)) return { scope };
  const by = state?.operation?.initiatedBy?.username ?? '';
  const byMeshdrift = by === MESHDRIFT_USERNAME || (state?.operation?.info ?? []).some((i) => i.name === 'meshdrift');
  return { scope, lastOperation: { by: by === '' ? 'an unnamed user' : by.slice(0, 100), startedAt, byMeshdrift } };
}

/**
 * `GET /api/v1/applications/{name}/syncwindows` (server/application/application.proto
 * ApplicationSyncWindowsResponse): the project's windows that match the app, those active now,
 * and whether a manual sync may run now (`canSync`, application.go GetApplicationSyncWindows:
 * `CanSync(true, nil)`, the check the Sync handler makes). Empty lists are left out (omitempty).
 */
const syncWindowSchema = z.object({
  kind: z.string().optional(),
  schedule: z.string().optional(),
  duration: z.string().optional(),
  manualSync: z.boolean().optional(),
});
export const syncWindowsSchema = z.object({
  activeWindows: z.array(syncWindowSchema).nullish(),
  assignedWindows: z.array(syncWindowSchema).nullish(),
  canSync: z.boolean().optional(),
});

/** Whether an Application has an operation pending (`.operation` set) or running. */
export function operationInProgress(app: ArgoCdApplication): boolean {
  const phase = app.status?.operationState?.phase;
  return (app.operation !== undefined && app.operation !== null) || phase === 'Running' || phase === 'Terminating';
}

/** The sync request body for {@link RemediationRequest}; exported for tests. */
export function syncBody(req: RemediationRequest, controlPlaneNamespace: string, dryRun = false): ArgoCdSyncBody {
  return {
    resources: req.resources.map((r) => ({ group: r.group, kind: r.kind, namespace: r.namespace, name: r.name })),
    prune: req.prune,
    dryRun,
    ...(req.owner.namespace !== '' && req.owner.namespace !== controlPlaneNamespace ? { appNamespace: req.owner.namespace } : {}),
    infos: [{ name: 'meshdrift', value: req.reason.slice(0, MAX_INFO) }],
  };
}

type Fail = (kind: ActionFailure['kind'], retryable: boolean, reason: string, retryAfterMs?: number) => ActionFailure;

// Maps a non-2xx answer. `what` says which call ("sync of Application argocd/x").
function mapArgoError(fail: Fail, a: { status: number; text: string; what: string; inProgressRetryMs: number; syncWindowRetryMs: number }): ActionFailure {
  const { status, text, what, inProgressRetryMs, syncWindowRetryMs } = a;
  const said = grpcMessage(text);
  const detail = said === '' ? '' : `: ${said}`;
  if (status === 400 && /another operation is already in progress/i.test(said)) {
    return fail('in-progress', true, `argocd ${what}: another operation is already in progress; retrying later`, inProgressRetryMs);
  }
  if (status === 403 && /blocked by sync window/i.test(said)) {
    return fail('sync-window', true, `argocd ${what}: blocked by a sync window; retrying in ${Math.round(syncWindowRetryMs / 60_000)}m`, syncWindowRetryMs);
  }
  if (status === 401) return fail('rejected', false, `argocd ${what}: HTTP 401, the token was rejected (expired or revoked?)${detail}`);
  if (status === 403)
    return fail(
      'rejected',
      false,
      `argocd ${what}: HTTP 403, permission denied (RBAC needs applications get and sync; Argo CD says the same for an app it cannot find)${detail}`,
    );
  if (status === 404) return fail('rejected', false, `argocd ${what}: HTTP 404, application not found${detail}`);
  if (status === 408 || status === 429 || status >= 500) return fail('unavailable', true, `argocd ${what}: HTTP ${status}${detail}`);
  const hint = status >= 300 && status < 400 ? ' (redirect not followed: check the API URL)' : '';
  return fail('rejected', false, `argocd ${what}: HTTP ${status}${detail}${hint}`);
}

/** What the syncwindows answer says for a sync now: nothing in the way, a deferral naming the active windows, or an unreadable answer. */
function syncWindowVerdict(
  text: string,
  c: { app: string; what: string; retryMs: number; fail: Fail },
): { ok: true; blocked?: TargetState['syncWindow'] } | ActionFailure {
  const windows = parseJsonAs(syncWindowsSchema, text);
  if (windows === undefined || windows.canSync === undefined)
    return c.fail('rejected', false, `argocd ${c.what}: the answer has no canSync (check the API URL)`);
  if (windows.canSync) return { ok: true };
  const active = (windows.activeWindows ?? [])
    .slice(0, 3)
    .map((w) => `${w.kind ?? '?'} ${w.schedule ?? '?'} for ${w.duration ?? '?'}`)
    .join('; ');
  const reason = `argocd: a sync window denies syncing Application ${c.app} now${active === '' ? '' : ` (active: ${active})`}; retrying in ${Math.round(c.retryMs / 60_000)}m`;
  return { ok: true, blocked: { reason: c.fail('sync-window', true, reason).reason, retryAfterMs: c.retryMs } };
}

/**
 * Argo CD REST client for remediation: `inspect` reads the Application (operation in progress,
 * which resources are Synced); `remediate` syncs only the named resources. Errors map to
 * retryability: 400 "another operation is already in progress" and 403 "blocked by sync window"
 * are retryable later, other 4xx are not, 5xx and timeouts are. Never throws.
 */
export function createArgoCdSyncClient(
  opts: ArgoCdSyncClientOptions,
): RemediationClient & { getApplication(owner: OwnerRef): Promise<{ ok: true; app: ArgoCdApplication } | ActionFailure> } {
  const base = opts.apiUrl.replace(/\/+$/, '');
  const cpNamespace = opts.controlPlaneNamespace ?? 'argocd';
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const inProgressRetryMs = opts.inProgressRetryMs ?? DEFAULT_IN_PROGRESS_RETRY_MS;
  const syncWindowRetryMs = opts.syncWindowRetryMs ?? DEFAULT_SYNC_WINDOW_RETRY_MS;
  const http = createTextHttpClient(timeoutMs, {
    maxContentLength: 8 * 1024 * 1024,
    headers: { Authorization: `Bearer ${opts.token}`, 'User-Agent': 'meshdrift', Accept: 'application/json' },
  });

  const fail = (kind: ActionFailure['kind'], retryable: boolean, reason: string, retryAfterMs?: number): ActionFailure => ({
    ok: false,
    kind,
    retryable,
    reason: redact(reason, opts.token),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });

  const appPath = (owner: OwnerRef): string => `${base}/api/v1/applications/${encodeURIComponent(owner.name)}`;
  const appQuery = (owner: OwnerRef): Record<string, string> =>
    owner.namespace !== '' && owner.namespace !== cpNamespace ? { appNamespace: owner.namespace } : {};

  async function call(
    method: 'GET' | 'POST',
    url: string,
    params: Record<string, string>,
    body?: string,
  ): Promise<{ status: number; text: string } | ActionFailure> {
    try {
      const res = await http.request<string>({
        method,
        url,
        params,
        ...(body === undefined ? {} : { data: body, headers: { 'Content-Type': 'application/json' } }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: res.status, text: typeof res.data === 'string' ? res.data : '' };
    } catch (error) {
      return fail('unavailable', true, `argocd ${transportFailure(error)}`);
    }
  }

  const mapError = (status: number, text: string, what: string): ActionFailure =>
    mapArgoError(fail, { status, text, what, inProgressRetryMs, syncWindowRetryMs });

  async function getApplication(owner: OwnerRef): Promise<{ ok: true; app: ArgoCdApplication } | ActionFailure> {
    const what = `read of Application ${owner.name}`;
    const res = await call('GET', appPath(owner), appQuery(owner));
    if (!('status' in res)) return res;
    if (res.status < 200 || res.status >= 300) return mapError(res.status, res.text, what);
    const app = parseJsonAs(applicationSchema, res.text);
    if (app === undefined) return fail('rejected', false, `argocd ${what}: the answer is not an Application (check the API URL)`);
    return { ok: true, app };
  }

  // The windows' verdict before a write: a deny window is a deferral without a refused sync POST.
  async function syncWindowOf(owner: OwnerRef): Promise<{ ok: true; blocked?: TargetState['syncWindow'] } | ActionFailure> {
    const what = `read of the sync windows of Application ${owner.name}`;
    const res = await call('GET', `${appPath(owner)}/syncwindows`, appQuery(owner));
    if (!('status' in res)) return res;
    if (res.status < 200 || res.status >= 300) return mapError(res.status, res.text, what);
    return syncWindowVerdict(res.text, { app: owner.name, what, retryMs: syncWindowRetryMs, fail });
  }

  return {
    getApplication,
    async inspect(owner) {
      const got = await getApplication(owner);
      if (!got.ok) return got;
      const windows = await syncWindowOf(owner);
      if (!windows.ok) return windows;
      const state: TargetState = {
        inProgress: operationInProgress(got.app),
        suspended: false,
        synced: syncedResources(got.app),
        ...applicationTarget(got.app),
        ...(windows.blocked ? { syncWindow: windows.blocked } : {}),
      };
      return { ok: true, state };
    },
    async observe(owner) {
      const got = await getApplication(owner);
      if (!got.ok) return got;
      return { ok: true, observation: applicationObservation(got.app, opts.token) };
    },
    async remediate(req) {
      const what = `sync of Application ${req.owner.name}`;
      if (req.resources.length === 0) return fail('rejected', false, `argocd ${what}: no resources named; refusing to sync the whole application`);
      const res = await call('POST', `${appPath(req.owner)}/sync`, {}, JSON.stringify(syncBody(req, cpNamespace)));
      if (!('status' in res)) return res;
      if (res.status < 200 || res.status >= 300) return mapError(res.status, res.text, what);
      const app = parseJsonAs(applicationSchema, res.text);
      if (app === undefined) return fail('rejected', false, `argocd ${what}: HTTP ${res.status} but the answer is not an Application (check the API URL)`);
      return { ok: true, detail: `argocd sync of ${req.resources.length} resource(s) started on ${app.metadata.name}` };
    },
  };
}

/**
 * What an Application says about the last operation, for the verify step: pending while an
 * operation is set or running, failed when it ended Failed or Error, and which resources are
 * Synced. Shared by the REST (argocd-sync) and Kubernetes API (argocd-operation) clients.
 */
export function applicationObservation(app: ArgoCdApplication, secret = ''): VerifyObservation {
  const pending = operationInProgress(app);
  const state = app.status?.operationState;
  const phase = state?.phase;
  const failed = phase === 'Failed' || phase === 'Error' ? `operation ${phase}${state?.message ? `: ${state.message.slice(0, 200)}` : ''}` : undefined;
  return { pending, synced: syncedResources(app), ...(failed === undefined ? {} : { failed: redact(failed, secret) }) };
}

/** The resources an Application reports Synced. */
export function syncedResources(app: ArgoCdApplication): ResourceRef[] {
  return (app.status?.resources ?? [])
    .filter((r) => r.status === 'Synced')
    .map((r) => ({ group: r.group ?? '', kind: r.kind, namespace: r.namespace ?? '', name: r.name }));
}

// The grpc-gateway message (or error) of an error body, '' when there is none.
function grpcMessage(text: string): string {
  const body = parseJsonAs(grpcErrorSchema, text);
  return (body?.message ?? body?.error ?? '').slice(0, 300);
}

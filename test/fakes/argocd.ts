import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local fake of the Argo CD API server (v3, grpc-gateway v1) on 127.0.0.1, port 0, for
 * remediation tests (reference/argocd.md §2).
 *
 * - Apps come from `../shared/fixtures/argocd` (every `app-*.json`, `synthetic-*.json` and the sync
 *   response fixture), keyed by namespace and name; tests can add or change them.
 * - `GET /api/v1/applications/{name}[?appNamespace=]`: an app outside the control-plane namespace
 *   is found only with `appNamespace`, as in Argo CD.
 * - `POST /api/v1/applications/{name}/sync`: sets `.operation` as the server does (fixture
 *   `api-sync-response-operation-set-v3.json`: `sync.revision`, `prune`, `resources`,
 *   `initiatedBy.username`, `info`, `retry`), clears `status.operationState`, answers 200 with the
 *   app. After `operationMs` the operation "finishes": `.operation` is removed, `operationState`
 *   says Succeeded, and the synced resources become Synced (prune deletes requiresPruning ones).
 * - A sync while an operation is set → 400 `{"error":"another operation is already in progress","code":9,…}`.
 * - Sync windows per app ({@link FakeArgoCd.setSyncWindows}, or {@link FakeArgoCd.denyWindow}: one active
 *   deny window): a sync they forbid → 403 `{"code":7,"message":"cannot sync: blocked by sync window"}`.
 *   `GET /api/v1/applications/{name}/syncwindows` answers ApplicationSyncWindowsResponse
 *   (server/application/application.proto; application.go GetApplicationSyncWindows):
 *   `activeWindows` and `assignedWindows` as `{kind, schedule, duration, manualSync}` (left out when
 *   empty, omitempty), and `canSync` as types.go `SyncWindows.CanSync(isManual=true)` decides it: an
 *   active deny blocks unless it has manualSync; else an active allow permits; else inactive allows
 *   block unless one has manualSync; no windows permit. Unknown app → 403 as for a GET.
 * - Bearer token: none → 401 code 16 "no session information"; unknown → 401 code 16 "invalid
 *   session: …"; the read-only token may GET but a sync → 403 code 7 "permission denied".
 *   {@link FakeArgoCd.expireToken} makes the accepted token answer 401 "invalid session: token has
 *   invalid claims: token is expired" until turned off.
 * - `GET /api/v1/applications` (polling, server/application/application.go `List`): `projects`
 *   (repeatable; legacy `project`), `selector` (equality `k=v`, `k==v`, `k!=v`; set-based
 *   `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; anything else → 500 code 2 "error parsing the
 *   selector: …"), `appNamespace` (one namespace; unset: every namespace, as if all were enabled),
 *   `fields` (Argo CD's fixed `appFields` list, `-` to exclude). No pagination; sorted by name;
 *   `"items": null` when empty, as the server streams it.
 * - `GET /api/v1/applications/{name}/resource-tree[?appNamespace=&project=]`: a node per
 *   `status.resources` entry (plus a ReplicaSet child per Deployment), health from
 *   {@link FakeArgoCd.setResourceHealth} or the resource's inline 2.x health; a resource set
 *   Missing is a node with no uid, resourceVersion nor createdAt, as the controller writes one that
 *   was never created. Unknown app → 403, or 404 when `project` is given (or names another project).
 * - `GET /api/v1/applications/{name}/managed-resources[?appNamespace=&project=&group=&kind=&namespace=&name=]`
 *   (server/application/application.go `ManagedResources`, `isMatchingResource`: an empty filter
 *   field matches any; hooks left out; same 403/404 as the tree): one `ResourceDiff` per resource
 *   of `status.resources` (types.go L2268-2297: `group` omitted for core, `modified` only when true,
 *   the four states as JSON text). States from {@link FakeArgoCd.setLiveObject} (Git's manifest and
 *   the live object), else a minimal manifest; for the app of `api-managed-resources-v3.json`, the
 *   recorded items. As the controller computes them: `liveState` with the server's fields
 *   (resourceVersion, uid, creationTimestamp, managedFields, status); `normalizedLiveState` without
 *   `status` and `creationTimestamp` and without the app's `ignoreDifferences` JSON pointers;
 *   `predictedLiveState` = the normalized live object with Git's manifest merged over it (maps
 *   merged, lists replaced, as a JSON merge patch of a CRD), pointers removed too.
 * - {@link FakeArgoCd.setDelay} holds every answer (timeouts); `failNext` answers the next N
 *   requests with a status.
 * - Records every request.
 */

export interface FakeArgoCdRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Every value of a repeated query parameter (`projects`). */
  queryAll(name: string): string[];
  /** The Authorization header as sent. */
  authorization: string | undefined;
  contentType: string | undefined;
  /** Parsed JSON body (undefined when none or not JSON). */
  body: unknown;
  status: number;
}

export interface FakeArgoCdOptions {
  /** The accepted token (full access). Default `argocd-test-token`. */
  token?: string;
  /** A token that may read but not sync. */
  readOnlyToken?: string;
  /** The account the tokens belong to (`operation.initiatedBy.username`); default `meshdrift`. */
  account?: string;
  /** How long a sync operation runs before it finishes; default 50 ms. */
  operationMs?: number;
  /** Argo CD's namespace; default `argocd`. */
  controlPlaneNamespace?: string;
}

/** A sync window as the API shows it (ApplicationSyncWindow), and whether it is active now. */
export interface FakeSyncWindow {
  kind: 'allow' | 'deny';
  schedule: string;
  duration: string;
  manualSync: boolean;
  active: boolean;
}

/** types.go `SyncWindows.CanSync(true, nil)`: what the Sync handler and the syncwindows endpoint decide for a manual sync. */
function canManualSync(windows: readonly FakeSyncWindow[]): boolean {
  if (windows.length === 0) return true;
  const active = windows.filter((w) => w.active);
  const denies = active.filter((w) => w.kind === 'deny');
  if (denies.length > 0) return denies.some((w) => w.manualSync);
  if (active.some((w) => w.kind === 'allow')) return true;
  const inactiveAllows = windows.filter((w) => !w.active && w.kind === 'allow');
  return inactiveAllows.length === 0 || inactiveAllows.some((w) => w.manualSync);
}

export type FakeArgoCdApp = Record<string, unknown> & { metadata: { name: string; namespace: string } };

export interface FakeArgoCd {
  url: string;
  token: string;
  requests: FakeArgoCdRequest[];
  /** POSTs to …/sync that the fake answered 200. */
  syncs(): FakeArgoCdRequest[];
  /** The current app (a live object: tests may read it). */
  app(name: string, namespace?: string): FakeArgoCdApp | undefined;
  /** Adds or replaces an app (deep-copied). */
  putApp(app: unknown): void;
  /** Marks a resource of the app OutOfSync again (someone edited it by hand). */
  drift(name: string, resource: { kind: string; name: string; namespace?: string }, namespace?: string): void;
  /** Sets an operation on the app that runs until {@link finishOperation} (another user's sync). */
  startOperation(name: string, namespace?: string): void;
  finishOperation(name: string, namespace?: string): void;
  /** An active deny sync window (no manualSync) covers the app (true) or not (false); `*`: every app. */
  denyWindow(name: string, on: boolean): void;
  /** The project's sync windows that match the app, each active now or not (replaces {@link denyWindow}'s). */
  setSyncWindows(name: string, windows: FakeSyncWindow[]): void;
  /** The `GET …/syncwindows` requests. */
  syncWindowReads(): FakeArgoCdRequest[];
  /** The next n requests get this status and body instead of being handled. */
  failNext(n: number, status: number, body?: unknown): void;
  /** Every answer waits this long first (0: none). */
  setDelay(ms: number): void;
  /** While on, the accepted token is answered 401 as an expired one. */
  expireToken(on: boolean): void;
  /** Sets (or with undefined clears) one resource's health in the app's resource tree. Status `Missing`: never created. */
  setResourceHealth(
    name: string,
    resource: { kind: string; name: string; namespace?: string; group?: string },
    health: { status: string; message?: string } | undefined,
    namespace?: string,
  ): void;
  /**
   * Sets a resource's states for managed-resources: `desired` is Git's manifest (default: the
   * current one, or a minimal one), `live` the live object (default: `desired`). Argo CD
   * reconciles right after: `status.reconciledAt` moves on, as it does when a watched resource changes.
   */
  setLiveObject(
    name: string,
    resource: { kind: string; name: string; namespace?: string; group?: string },
    states: { desired?: unknown; live?: unknown },
    namespace?: string,
  ): void;
  /** The managed-resources requests. */
  managedResourceCalls(): FakeArgoCdRequest[];
  /** Sets the app's own `status.health.status` (what the list shows). */
  setAppHealth(name: string, status: string, namespace?: string): void;
  /** Deletes an app. */
  removeApp(name: string, namespace?: string): void;
  /** The `GET /api/v1/applications` requests. */
  lists(): FakeArgoCdRequest[];
  /** The resource-tree requests. */
  trees(): FakeArgoCdRequest[];
  close(): Promise<void>;
}

const FIXTURES = new URL('../../../shared/fixtures/argocd/', import.meta.url);

/** Every fixture Application, deep-copied. */
export function loadArgoCdFixtureApps(): FakeArgoCdApp[] {
  const apps: FakeArgoCdApp[] = [];
  for (const file of readdirSync(FIXTURES)) {
    if (!file.endsWith('.json') || file === 'api-managed-resources-v3.json') continue;
    const parsed: unknown = JSON.parse(readFileSync(new URL(file, FIXTURES), 'utf8'));
    if (isApp(parsed)) apps.push(parsed);
  }
  return apps;
}

function isApp(v: unknown): v is FakeArgoCdApp {
  if (typeof v !== 'object' || v === null) return false;
  const m = (v as { metadata?: unknown }).metadata;
  return (
    typeof m === 'object' && m !== null && typeof (m as { name?: unknown }).name === 'string' && typeof (m as { namespace?: unknown }).namespace === 'string'
  );
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Starts the fake. */
export async function startFakeArgoCd(opts: FakeArgoCdOptions = {}): Promise<FakeArgoCd> {
  const token = opts.token ?? 'argocd-test-token';
  const account = opts.account ?? 'meshdrift';
  const operationMs = opts.operationMs ?? 50;
  const cp = opts.controlPlaneNamespace ?? 'argocd';
  const apps = new Map<string, FakeArgoCdApp>();
  const windows = new Map<string, FakeSyncWindow[]>();
  const windowsOf = (name: string): FakeSyncWindow[] => [...(windows.get(name) ?? []), ...(windows.get('*') ?? [])];
  const DENY_NOW: FakeSyncWindow = { kind: 'deny', schedule: '0 * * * *', duration: '1h', manualSync: false, active: true };
  const timers = new Set<NodeJS.Timeout>();
  const failures: { status: number; body: unknown }[] = [];
  const requests: FakeArgoCdRequest[] = [];
  const health = new Map<string, { status: string; message?: string }>();
  let delayMs = 0;
  let expired = false;
  let listVersion = 1;
  const key = (ns: string, name: string): string => `${ns}/${name}`;
  for (const a of loadArgoCdFixtureApps()) apps.set(key(a.metadata.namespace, a.metadata.name), a);

  const grpc = (res: ServerResponse, status: number, code: number, message: string): void => json(res, status, { error: message, code, message });

  function finish(app: FakeArgoCdApp): void {
    const op = obj(app.operation);
    if (app.operation === undefined) return;
    const sync = obj(op.sync);
    const status = obj(app.status);
    const named = arr(sync.resources).map(obj);
    const prune = sync.prune === true;
    const all = named.length === 0;
    const resources = arr(status.resources).map(obj);
    const touched: Json[] = [];
    const kept: Json[] = [];
    for (const r of resources) {
      const hit =
        all || named.some((n) => (n.group ?? '') === (r.group ?? '') && n.kind === r.kind && n.name === r.name && (n.namespace ?? '') === (r.namespace ?? ''));
      if (hit && sync.dryRun !== true) {
        if (r.requiresPruning === true) {
          if (prune) {
            touched.push({ ...r, status: 'Pruned' });
            continue;
          }
        } else {
          touched.push(r);
          r.status = 'Synced';
        }
      }
      kept.push(r);
    }
    status.resources = kept;
    if (kept.every((r) => r.status === 'Synced')) status.sync = { ...obj(status.sync), status: 'Synced' };
    const now = new Date().toISOString();
    status.operationState = {
      operation: op,
      phase: 'Succeeded',
      message: 'successfully synced (all tasks run)',
      syncResult: {
        resources: touched.map((r) => ({
          ...r,
          message: `${String(r.kind).toLowerCase()}/${String(r.name)} configured`,
          hookPhase: 'Running',
          syncPhase: 'Sync',
        })),
        revision: obj(status.sync).revision,
      },
      startedAt: now,
      finishedAt: now,
    };
    app.status = status;
    delete app.operation;
  }

  const objects = new Map<string, { desired?: unknown; live?: unknown; version: number }>();
  const recorded = loadRecordedManagedResources();

  const healthKey = (app: FakeArgoCdApp, r: Json): string =>
    `${app.metadata.namespace}/${app.metadata.name}|${String(r.group ?? '')}/${String(r.kind)}/${String(r.namespace ?? '')}/${String(r.name)}`;

  /** The managed-resources items of an app (types.go ResourceDiff), narrowed as the server does. */
  function managedOf(app: FakeArgoCdApp, q: URLSearchParams): Json[] {
    const ignore = arr(obj(app.spec).ignoreDifferences).map(obj);
    const items: Json[] = [];
    for (const r of arr(obj(app.status).resources).map(obj)) {
      if (r.hook === true) continue;
      const matches = (field: string): boolean => (q.get(field) ?? '') === '' || q.get(field) === String(r[field] ?? '');
      if (!['group', 'kind', 'namespace', 'name'].every(matches)) continue;
      const set = objects.get(healthKey(app, r));
      const rec = recorded.get(`${app.metadata.name}|${String(r.group ?? '')}/${String(r.kind)}/${String(r.namespace ?? '')}/${String(r.name)}`);
      if (set === undefined && rec !== undefined) {
        items.push(rec);
        continue;
      }
      const pointers = ignore
        .filter(
          (d) =>
            String(d.group ?? '') === String(r.group ?? '') &&
            d.kind === r.kind &&
            (!d.name || d.name === r.name) &&
            (!d.namespace || d.namespace === r.namespace),
        )
        .flatMap((d) => arr(d.jsonPointers).map(String));
      items.push(resourceDiffOf(app, r, set, pointers));
    }
    return items;
  }

  /** The ApplicationTree of an app (types.go ApplicationTree/ResourceNode). */
  function treeOf(app: FakeArgoCdApp): Json {
    const nodes: Json[] = [];
    for (const r of arr(obj(app.status).resources).map(obj)) {
      const ref = {
        ...(r.group ? { group: r.group } : {}),
        version: r.version ?? 'v1',
        kind: r.kind,
        ...(r.namespace ? { namespace: r.namespace } : {}),
        name: r.name,
      };
      const h = health.get(healthKey(app, r)) ?? (r.health === undefined ? undefined : obj(r.health));
      if (h?.status === 'Missing') {
        nodes.push(ref);
        continue;
      }
      const uid = `uid-${String(r.kind)}-${String(r.name)}`;
      nodes.push({ ...ref, uid, resourceVersion: '4242', createdAt: '2026-11-20T08:12:40Z', ...(h ? { health: h } : {}) });
      if (r.kind === 'Deployment') {
        nodes.push({
          group: 'apps',
          version: 'v1',
          kind: 'ReplicaSet',
          namespace: r.namespace,
          name: `${String(r.name)}-5d4f8c7b9`,
          uid: `${uid}-rs`,
          resourceVersion: '4243',
          createdAt: '2026-11-20T08:12:41Z',
          parentRefs: [{ group: 'apps', kind: 'Deployment', namespace: r.namespace, name: r.name, uid }],
          health: { status: 'Healthy' },
          info: [{ name: 'Revision', value: 'Rev:1' }],
        });
      }
    }
    return { nodes };
  }

  /** The apps a list query selects, or the error Argo CD answers for a bad selector. */
  function listApps(q: URLSearchParams): { items: Json[] } | { error: string } {
    const projects = q.getAll('project').length > 0 ? q.getAll('project') : q.getAll('projects');
    const namespace = q.get('appNamespace') ?? '';
    const selector = parseSelector(q.get('selector') ?? '');
    if ('error' in selector) return { error: `error parsing the selector: ${selector.error}` };
    const fields = q.get('fields') ?? '';
    const items = [...apps.values()]
      .filter((a) => namespace === '' || a.metadata.namespace === namespace)
      .filter((a) => projects.length === 0 || projects.includes(String(obj(a.spec).project ?? '') || 'default'))
      .filter((a) => selector.matches(Object.fromEntries(Object.entries(obj(obj(a.metadata).labels)).map(([k, v]) => [k, String(v)]))))
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))
      .map((a) => (fields === '' ? (a as Json) : selectFields(a, fields)));
    return { items };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const raw = (await readBody(req)).toString('utf8');
    let body: unknown;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      body = undefined;
    }
    const record: FakeArgoCdRequest = {
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      queryAll: (name: string) => url.searchParams.getAll(name),
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      body,
      status: 0,
    };
    requests.push(record);
    const answer = (status: number, code: number, message: string): void => {
      record.status = status;
      grpc(res, status, code, message);
    };

    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (res.destroyed) return;
    const failure = failures.shift();
    if (failure !== undefined) {
      record.status = failure.status;
      return json(res, failure.status, failure.body);
    }

    const auth = req.headers.authorization;
    if (auth === undefined || !auth.startsWith('Bearer ')) return answer(401, 16, 'no session information');
    const presented = auth.slice('Bearer '.length);
    const readOnly = opts.readOnlyToken !== undefined && presented === opts.readOnlyToken;
    if (presented !== token && !readOnly) return answer(401, 16, 'invalid session: token signature is invalid');
    if (expired) return answer(401, 16, 'invalid session: token has invalid claims: token is expired');

    if (url.pathname === '/api/v1/applications') {
      if (req.method !== 'GET') return answer(405, 12, 'Method Not Allowed');
      const selected = listApps(url.searchParams);
      if ('error' in selected) return answer(500, 2, selected.error);
      record.status = 200;
      return json(res, 200, { metadata: { resourceVersion: String(listVersion++) }, items: selected.items.length === 0 ? null : selected.items });
    }
    const treePath = /^\/api\/v1\/applications\/([^/]+)\/resource-tree$/.exec(url.pathname);
    if (treePath) {
      if (req.method !== 'GET') return answer(405, 12, 'Method Not Allowed');
      const name = decodeURIComponent(treePath[1] ?? '');
      const ns = url.searchParams.get('appNamespace') || cp;
      const project = url.searchParams.get('project');
      const app = apps.get(key(ns, name));
      const notFound = `applications.argoproj.io "${name}" not found`;
      // getAppEnforceRBAC: with a project, "not found" (or another project) is 404; without, 403.
      if (!app) return project ? answer(404, 5, notFound) : answer(403, 7, 'permission denied');
      if (project && project !== (String(obj(app.spec).project ?? '') || 'default')) return answer(404, 5, notFound);
      record.status = 200;
      return json(res, 200, treeOf(app));
    }

    const managedPath = /^\/api\/v1\/applications\/([^/]+)\/managed-resources$/.exec(url.pathname);
    if (managedPath) {
      if (req.method !== 'GET') return answer(405, 12, 'Method Not Allowed');
      const name = decodeURIComponent(managedPath[1] ?? '');
      const app = apps.get(key(url.searchParams.get('appNamespace') || cp, name));
      const project = url.searchParams.get('project');
      const notFound = `applications.argoproj.io "${name}" not found`;
      if (!app) return project ? answer(404, 5, notFound) : answer(403, 7, 'permission denied');
      if (project && project !== (String(obj(app.spec).project ?? '') || 'default')) return answer(404, 5, notFound);
      record.status = 200;
      return json(res, 200, { items: managedOf(app, url.searchParams) });
    }

    const windowsPath = /^\/api\/v1\/applications\/([^/]+)\/syncwindows$/.exec(url.pathname);
    if (windowsPath) {
      if (req.method !== 'GET') return answer(405, 12, 'Method Not Allowed');
      const name = decodeURIComponent(windowsPath[1] ?? '');
      if (!apps.get(key(url.searchParams.get('appNamespace') || cp, name))) return answer(403, 7, 'permission denied');
      const assigned = windowsOf(name);
      const shown = (list: FakeSyncWindow[]) => list.map((w) => ({ kind: w.kind, schedule: w.schedule, duration: w.duration, manualSync: w.manualSync }));
      const active = assigned.filter((w) => w.active);
      record.status = 200;
      return json(res, 200, {
        ...(active.length > 0 ? { activeWindows: shown(active) } : {}),
        ...(assigned.length > 0 ? { assignedWindows: shown(assigned) } : {}),
        canSync: canManualSync(assigned),
      });
    }

    const m = /^\/api\/v1\/applications\/([^/]+)(\/sync)?$/.exec(url.pathname);
    if (!m) return answer(404, 5, 'Not Found');
    const name = decodeURIComponent(m[1] ?? '');
    const ns = url.searchParams.get('appNamespace') ?? obj(body).appNamespace;
    const appNs = typeof ns === 'string' && ns !== '' ? ns : cp;
    const app = apps.get(key(appNs, name));

    if (m[2] === undefined) {
      if (req.method !== 'GET') return answer(405, 12, 'Method Not Allowed');
      // Argo CD answers "permission denied" for an app it cannot find, so as not to leak names.
      if (!app) return answer(403, 7, 'permission denied');
      record.status = 200;
      return json(res, 200, app);
    }

    if (req.method !== 'POST') return answer(405, 12, 'Method Not Allowed');
    if (readOnly) return answer(403, 7, `permission denied: applications, sync, ${String(obj(app?.spec).project ?? 'default')}/${name}, sub: ${account}`);
    if (!app) return answer(403, 7, 'permission denied');
    const b = obj(body);
    if (
      body === undefined ||
      (b.resources !== undefined && !arr(b.resources).every((r) => typeof obj(r).kind === 'string' && typeof obj(r).name === 'string'))
    ) {
      return answer(400, 3, 'invalid sync request');
    }
    if (!canManualSync(windowsOf(name))) return answer(403, 7, 'cannot sync: blocked by sync window');
    if (app.operation !== undefined) return answer(400, 9, 'another operation is already in progress');

    const status = obj(app.status);
    const resources = arr(b.resources).map((r) => {
      const o = obj(r);
      return { ...(o.group ? { group: o.group } : {}), kind: o.kind, name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}) };
    });
    app.operation = {
      sync: {
        revision: obj(status.sync).revision,
        ...(b.prune === true ? { prune: true } : {}),
        ...(b.dryRun === true ? { dryRun: true } : {}),
        ...(resources.length > 0 ? { resources } : {}),
      },
      initiatedBy: { username: account },
      ...(arr(b.infos).length > 0 ? { info: arr(b.infos) } : {}),
      retry: {},
    };
    // SetAppOperation clears the previous operation state (argo.go L960-961).
    delete status.operationState;
    app.status = status;
    const t = setTimeout(() => {
      timers.delete(t);
      finish(app);
    }, operationMs);
    timers.add(t);
    record.status = 200;
    json(res, 200, app);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) grpc(res, 500, 13, String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const find = (name: string, namespace?: string): FakeArgoCdApp | undefined => apps.get(key(namespace ?? cp, name));
  /** The app and its status.resources entry a test names; throws when either is missing. */
  const appResource = (name: string, resource: { kind: string; name: string; namespace?: string; group?: string }, namespace?: string) => {
    const app = find(name, namespace);
    if (!app) throw new Error(`no app ${name}`);
    const r = arr(obj(app.status).resources)
      .map(obj)
      .find(
        (x) =>
          x.kind === resource.kind &&
          x.name === resource.name &&
          (resource.namespace === undefined || x.namespace === resource.namespace) &&
          (resource.group === undefined || (x.group ?? '') === resource.group),
      );
    if (!r) throw new Error(`no resource ${resource.kind}/${resource.name} in ${name}`);
    return { app, r };
  };
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    requests,
    syncs: () => requests.filter((r) => r.method === 'POST' && r.path.endsWith('/sync') && r.status === 200),
    app: find,
    putApp(app) {
      const copy: unknown = JSON.parse(JSON.stringify(app));
      if (!isApp(copy)) throw new Error('not an Application');
      apps.set(key(copy.metadata.namespace, copy.metadata.name), copy);
    },
    drift(name, resource, namespace) {
      const app = find(name, namespace);
      if (!app) throw new Error(`no app ${name}`);
      const status = obj(app.status);
      for (const r of arr(status.resources).map(obj)) {
        if (r.kind === resource.kind && r.name === resource.name && (resource.namespace === undefined || r.namespace === resource.namespace))
          r.status = 'OutOfSync';
      }
      status.sync = { ...obj(status.sync), status: 'OutOfSync' };
    },
    startOperation(name, namespace) {
      const app = find(name, namespace);
      if (!app) throw new Error(`no app ${name}`);
      app.operation = { sync: { revision: obj(obj(app.status).sync).revision }, initiatedBy: { username: 'someone-else' }, retry: {} };
      const status = obj(app.status);
      status.operationState = { operation: app.operation, phase: 'Running', message: 'one or more tasks are running', startedAt: new Date().toISOString() };
      app.status = status;
    },
    finishOperation(name, namespace) {
      const app = find(name, namespace);
      if (app) finish(app);
    },
    denyWindow(name, on) {
      if (on) windows.set(name, [DENY_NOW]);
      else windows.delete(name);
    },
    setSyncWindows(name, list) {
      windows.set(
        name,
        list.map((w) => ({ ...w })),
      );
    },
    syncWindowReads: () => requests.filter((r) => r.method === 'GET' && r.path.endsWith('/syncwindows')),
    failNext(n, status, body) {
      for (let i = 0; i < n; i++) failures.push({ status, body: body ?? { error: 'internal error', code: 13, message: 'internal error' } });
    },
    setDelay(ms) {
      delayMs = ms;
    },
    expireToken(on) {
      expired = on;
    },
    setResourceHealth(name, resource, h, namespace) {
      const { app, r } = appResource(name, resource, namespace);
      if (h === undefined) health.delete(healthKey(app, r));
      else health.set(healthKey(app, r), { ...h });
    },
    setLiveObject(name, resource, states, namespace) {
      const { app, r } = appResource(name, resource, namespace);
      const k = healthKey(app, r);
      const before = objects.get(k);
      const copy = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
      const desired = copy(states.desired) ?? before?.desired;
      objects.set(k, {
        ...(desired !== undefined ? { desired } : {}),
        ...(states.live !== undefined ? { live: copy(states.live) } : {}),
        version: (before?.version ?? 0) + 1,
      });
      const status = obj(app.status);
      status.reconciledAt = new Date(Date.now() + (before?.version ?? 0) * 1000).toISOString();
      app.status = status;
    },
    managedResourceCalls: () => requests.filter((r) => r.method === 'GET' && r.path.endsWith('/managed-resources')),
    setAppHealth(name, status, namespace) {
      const app = find(name, namespace);
      if (!app) throw new Error(`no app ${name}`);
      const s = obj(app.status);
      s.health = { ...obj(s.health), status };
      app.status = s;
    },
    removeApp(name, namespace) {
      apps.delete(key(namespace ?? cp, name));
    },
    lists: () => requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/applications'),
    trees: () => requests.filter((r) => r.method === 'GET' && r.path.endsWith('/resource-tree')),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** One label selector requirement (k8s.io/apimachinery labels.Parse, the forms users write). */
type Requirement = (labels: Record<string, string>) => boolean;

/** A minimal label selector parser: equality and set-based requirements, comma-separated. */
export function parseSelector(text: string): { matches: (labels: Record<string, string>) => boolean } | { error: string } {
  const reqs: Requirement[] = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '' || parts.length > 0) parts.push(cur);
  const KEY = '([A-Za-z0-9][-A-Za-z0-9_./]*)';
  for (const raw of parts) {
    const part = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^${KEY}\\s*(==|=|!=)\\s*([-A-Za-z0-9_.]*)$`).exec(part))) {
      const [, k = '', op, v = ''] = m;
      reqs.push(op === '!=' ? (l) => l[k] !== v : (l) => l[k] === v);
    } else if ((m = new RegExp(`^${KEY}\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(part))) {
      const [, k = '', op, list = ''] = m;
      const values = list.split(',').map((v) => v.trim());
      if (values.some((v) => v === '')) return { error: `unable to parse requirement: ${JSON.stringify(part)}: values must be non-empty` };
      reqs.push(op === 'in' ? (l) => l[k] !== undefined && values.includes(l[k]) : (l) => l[k] === undefined || !values.includes(l[k]));
    } else if ((m = new RegExp(`^(!?)${KEY}$`).exec(part))) {
      const [, not, k = ''] = m;
      reqs.push(not === '!' ? (l) => l[k] === undefined : (l) => l[k] !== undefined);
    } else {
      return { error: `unable to parse requirement: found ${JSON.stringify(part)}` };
    }
  }
  return { matches: (labels) => reqs.every((r) => r(labels)) };
}

/** Argo CD's selectable list fields (pkg/apiclient/application/forwarder_overwrite.go `appFields`). */
const APP_FIELDS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.annotations',
  'metadata.labels',
  'metadata.creationTimestamp',
  'metadata.deletionTimestamp',
  'spec',
  'spec.destination',
  'spec.project',
  'spec.source',
  'spec.sources',
  'spec.sourceHydrator',
  'spec.syncPolicy',
  'status.sourceHydrator',
  'status.summary',
  'status.sync.status',
  'status.sync.revision',
  'status.health',
  'status.operationState.startedAt',
  'status.operationState.finishedAt',
  'status.resources',
  'operation.sync',
  'status.operationState.phase',
];

/** An app cut down to the `fields` selection (`items.<field>`, comma-separated; `-` excludes). */
function selectFields(app: FakeArgoCdApp, fieldsQuery: string): Json {
  const exclude = fieldsQuery.startsWith('-');
  const asked = new Set((exclude ? fieldsQuery.slice(1) : fieldsQuery).split(','));
  const chosen = APP_FIELDS.filter((f) => asked.has(`items.${f}`) !== exclude);
  const kept = chosen.filter((f) => !chosen.some((other) => f.startsWith(`${other}.`)));
  const out: Json = {};
  for (const field of kept) {
    const path = field.split('.');
    let value: unknown = app;
    for (const p of path) value = obj(value)[p];
    if (value === undefined || value === null) continue;
    let target = out;
    for (const p of path.slice(0, -1)) {
      target[p] = obj(target[p]);
      target = target[p] as Json;
    }
    target[path.at(-1) ?? ''] = value;
  }
  return out;
}

/** The recorded managed-resources items (fixture `api-managed-resources-v3.json`, app hitchhiker-babel-fish), by app and resource. */
function loadRecordedManagedResources(): Map<string, Json> {
  const body = obj(JSON.parse(readFileSync(new URL('api-managed-resources-v3.json', FIXTURES), 'utf8')));
  const out = new Map<string, Json>();
  for (const item of arr(body.items).map(obj)) {
    out.set(`hitchhiker-babel-fish|${String(item.group ?? '')}/${String(item.kind)}/${String(item.namespace ?? '')}/${String(item.name)}`, item);
  }
  return out;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** RFC 6901 pointer removed from `doc` (in place); a pointer to nothing changes nothing. */
function removePointer(doc: unknown, pointer: string): void {
  const segments = pointer
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  let node: unknown = doc;
  for (const [i, seg] of segments.entries()) {
    const last = i === segments.length - 1;
    if (Array.isArray(node)) {
      const idx = Number(seg);
      if (last) node.splice(idx, 1);
      else node = node[idx];
    } else if (typeof node === 'object' && node !== null) {
      const o = node as Json;
      if (last) delete o[seg];
      else node = o[seg];
    } else return;
  }
}

/** `over` merged onto `base` as a JSON merge patch: maps merged, everything else replaced. */
function mergePatch(base: unknown, over: unknown): unknown {
  if (typeof over !== 'object' || over === null || Array.isArray(over) || typeof base !== 'object' || base === null || Array.isArray(base)) return clone(over);
  const out: Json = { ...(base as Json) };
  for (const [k, v] of Object.entries(over as Json)) out[k] = v === null ? undefined : mergePatch(out[k], v);
  return JSON.parse(JSON.stringify(out));
}

/** One ResourceDiff as the controller writes it to its cache (see the header). */
function resourceDiffOf(
  app: FakeArgoCdApp,
  r: Json,
  set: { desired?: unknown; live?: unknown; version: number } | undefined,
  pointers: readonly string[],
): Json {
  const group = String(r.group ?? '');
  const apiVersion = group === '' ? String(r.version ?? 'v1') : `${group}/${String(r.version ?? 'v1')}`;
  const tracking = `${app.metadata.name}:${group}/${String(r.kind)}:${String(r.namespace ?? '')}/${String(r.name)}`;
  const minimal = {
    apiVersion,
    kind: r.kind,
    metadata: { annotations: { 'argocd.argoproj.io/tracking-id': tracking }, name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) },
  };
  const desired = obj(set?.desired ?? minimal);
  const liveBase = obj(set?.live ?? desired);
  const version = String(4242 + (set?.version ?? 0));
  const live: Json = {
    ...clone(liveBase),
    metadata: {
      ...obj(liveBase.metadata),
      creationTimestamp: '2026-11-20T08:12:40Z',
      resourceVersion: obj(liveBase.metadata).resourceVersion ?? version,
      uid: `uid-${String(r.kind)}-${String(r.name)}`,
      managedFields: [{ apiVersion, fieldsType: 'FieldsV1', fieldsV1: {}, manager: 'argocd-controller', operation: 'Apply', time: '2026-11-20T08:12:40Z' }],
    },
    status: obj(liveBase.status),
  };
  const normalized = clone(live);
  delete normalized.status;
  delete obj(normalized.metadata).creationTimestamp;
  for (const p of pointers) removePointer(normalized, p);
  const predicted = obj(mergePatch(normalized, desired));
  for (const p of pointers) removePointer(predicted, p);
  return {
    ...(group !== '' ? { group } : {}),
    kind: r.kind,
    ...(r.namespace ? { namespace: r.namespace } : {}),
    name: r.name,
    targetState: JSON.stringify(desired),
    liveState: JSON.stringify(live),
    normalizedLiveState: JSON.stringify(normalized),
    predictedLiveState: JSON.stringify(predicted),
    resourceVersion: String(obj(live.metadata).resourceVersion),
    ...(r.status === 'OutOfSync' ? { modified: true } : {}),
  };
}

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
 * - A deny window on the app → 403 `{"code":7,"message":"cannot sync: blocked by sync window"}`.
 * - Bearer token: none → 401 code 16 "no session information"; unknown → 401 code 16 "invalid
 *   session: …"; the read-only token may GET but a sync → 403 code 7 "permission denied".
 * - Records every request.
 */

export interface FakeArgoCdRequest {
  method: string;
  path: string;
  query: Record<string, string>;
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
  /** A deny sync window covers the app (true) or not (false). */
  denyWindow(name: string, on: boolean): void;
  /** The next n requests get this status and body instead of being handled. */
  failNext(n: number, status: number, body?: unknown): void;
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
  return typeof m === 'object' && m !== null && typeof (m as { name?: unknown }).name === 'string' && typeof (m as { namespace?: unknown }).namespace === 'string';
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
  const windows = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const failures: { status: number; body: unknown }[] = [];
  const requests: FakeArgoCdRequest[] = [];
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
      const hit = all || named.some((n) => (n.group ?? '') === (r.group ?? '') && n.kind === r.kind && n.name === r.name && (n.namespace ?? '') === (r.namespace ?? ''));
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
      syncResult: { resources: touched.map((r) => ({ ...r, message: `${String(r.kind).toLowerCase()}/${String(r.name)} configured`, hookPhase: 'Running', syncPhase: 'Sync' })), revision: obj(status.sync).revision },
      startedAt: now,
      finishedAt: now,
    };
    app.status = status;
    delete app.operation;
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
    if (body === undefined || (b.resources !== undefined && !arr(b.resources).every((r) => typeof obj(r).kind === 'string' && typeof obj(r).name === 'string'))) {
      return answer(400, 3, 'invalid sync request');
    }
    if (windows.has(name) || windows.has('*')) return answer(403, 7, 'cannot sync: blocked by sync window');
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
        if (r.kind === resource.kind && r.name === resource.name && (resource.namespace === undefined || r.namespace === resource.namespace)) r.status = 'OutOfSync';
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
      if (on) windows.add(name);
      else windows.delete(name);
    },
    failNext(n, status, body) {
      for (let i = 0; i < n; i++) failures.push({ status, body: body ?? { error: 'internal error', code: 13, message: 'internal error' } });
    },
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

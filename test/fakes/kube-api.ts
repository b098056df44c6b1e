import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * A fake of the Kubernetes API server's list/watch wire protocol on 127.0.0.1, port 0, reached with
 * a real KubeConfig (`loadFromClusterAndUser`, as kubernetes-client/javascript's watch tests do).
 *
 * - Collections: `/api/v1[/namespaces/<ns>]/events` (always served) and
 *   `/apis/<group>/<version>[/namespaces/<ns>]/<plural>` for each `serve()`d resource; anything else
 *   is 404 with a `Status`, like a CRD that is not installed.
 * - List: `labelSelector` (`k=v`, `k!=v`, `k`), `fieldSelector` (`=`/`!=` on metadata.name,
 *   metadata.namespace and, for Events, involvedObject.*, reason, type, reportingComponent and
 *   `source` = source.component or else reportingComponent, as the apiserver does), `limit` +
 *   `continue` (410 Expired when the token's resourceVersion was compacted). The answer's
 *   `metadata.resourceVersion` is the store's current one.
 * - Watch (`watch=true`): chunked JSON lines `{"type","object"}`. From `resourceVersion` it replays
 *   the history after it, then streams; `''`/`0` starts with ADDED for every object; a compacted
 *   resourceVersion gets an `ERROR` event with a 410 `Status` and the stream ends, as the apiserver's
 *   "too old resource version". BOOKMARKs only with `allowWatchBookmarks=true`.
 * - Discovery: `/apis` (an APIGroupList of the served groups) and `/apis/<group>/<version>` (an
 *   APIResourceList of the served resources), as `kubectl api-resources` reads them.
 * - Faults: `expireWatches()` (410 ERROR on every open watch), `dropWatches()` (sockets destroyed
 *   mid-stream), `cutNextEvent()` (the next event written half, then the socket destroyed),
 *   `goUnreachable()` / `comeBack()` (nothing listens, then the same port again), `goSilent()` /
 *   `answerAgain()` (connections accepted, nothing ever answered: a black-holed apiserver),
 *   `apply(r, obj, { silent: true })` (stored, but no watch ever hears of it: a lost event),
 *   `intercept(fn)` (answer chosen requests with an error status, or act just before they run).
 * - Writes (for `coordination.k8s.io/v1` Leases, always served, as the apiserver does for any
 *   resource): `POST` to a namespaced collection creates (409 AlreadyExists when the name is taken);
 *   `PUT` to an object replaces it, 409 Conflict when the body's `metadata.resourceVersion` is not
 *   the stored one (optimistic concurrency), 404 when it does not exist. Both stamp a new
 *   resourceVersion and notify watches. `PATCH` of an object with `application/merge-patch+json`
 *   applies an RFC 7386 JSON merge patch (null deletes a key), 409 Conflict when the patch sets a
 *   `metadata.resourceVersion` that is not the stored one, 415 for other patch types; the
 *   request's body is kept in `FakeKubeRequest.body`.
 */

export interface FakeResource {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const EVENTS: FakeResource = { group: '', version: 'v1', plural: 'events', kind: 'Event' };
export const LEASES: FakeResource = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease' };

/** What an `intercept` hook returns: an error status to answer instead, or undefined to go on. */
export type FakeKubeInterceptor = (req: { method: string; path: string }) => number | undefined;

export interface FakeKubeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  watch: boolean;
  /** The status answered; 0 while (or if) it was never answered (`goSilent`). */
  status: number;
  /** The body of a PATCH, as sent. */
  body?: string;
  /** The Content-Type of a PATCH. */
  contentType?: string;
}

type Json = Record<string, unknown>;
type Meta = { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
type StoredObject = Json & { metadata: Meta };
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEntry {
  rv: number;
  collection: string;
  type: EventType;
  object: StoredObject;
}

interface OpenWatch {
  collection: string;
  namespace: string | undefined;
  matches: (o: StoredObject) => boolean;
  bookmarks: boolean;
  res: ServerResponse;
  socket: Socket;
}

export interface FakeKubeApi {
  /** http://127.0.0.1:PORT */
  url: string;
  /** A real KubeConfig pointing at the fake (bearer token auth). */
  kubeConfig(): KubeConfig;
  serve(r: FakeResource): void;
  unserve(r: FakeResource): void;
  /**
   * Creates or replaces an object (a deep copy), stamping a new resourceVersion; ADDED or MODIFIED.
   * `silent`: stored and listed, but no watch (open or resumed later) ever sees the event.
   */
  apply(r: FakeResource, obj: object, opts?: { silent?: boolean }): StoredObject;
  /** The stored object, or undefined. */
  get(r: FakeResource, namespace: string, name: string): StoredObject | undefined;
  /**
   * Runs `fn` before each request is handled (undefined: none). It may change the store (a rival
   * writer) and return a status code to answer the request with that error instead.
   */
  intercept(fn: FakeKubeInterceptor | undefined): void;
  /** Deletes it; DELETED with the last state at a new resourceVersion (`silent`: no watch hears of it). */
  remove(r: FakeResource, namespace: string, name: string, opts?: { silent?: boolean }): void;
  /** Sends a BOOKMARK at the current resourceVersion to watches that asked for them. */
  bookmark(): void;
  /** Forgets all history up to now: resourceVersions older than the current one get 410 Gone. */
  compact(): void;
  /** Compacts, then sends every open watch a 410 ERROR event and ends it. */
  expireWatches(): void;
  /** Destroys every open watch connection without ending the chunked body. */
  dropWatches(): void;
  /**
   * The next event each open watch (of `r`, default any) would get is cut in the middle: half its
   * JSON line is written, then the connection is destroyed. The event stays in the history, so a
   * watch resumed from an earlier resourceVersion gets it whole.
   */
  cutNextEvent(r?: FakeResource): void;
  goUnreachable(): Promise<void>;
  comeBack(): Promise<void>;
  /**
   * A black hole: connections are still accepted but no request is ever answered, and open
   * watches get no more events (they stay in the history). Writes by the test go on.
   */
  goSilent(): void;
  /**
   * Answers again. The connections that hung while silent (requests and frozen watches) are reset,
   * as after a partition that outlived them, so clients reconnect and resume from the history.
   */
  answerAgain(): void;
  openWatches(collection?: FakeResource): number;
  requests: FakeKubeRequest[];
  resourceVersion(): number;
  close(): Promise<void>;
}

/** Kinds the fake's discovery calls cluster-scoped; every other kind is namespaced. */
const CLUSTER_SCOPED = new Set(['GatewayClass', 'MutatingWebhookConfiguration', 'CiliumClusterwideNetworkPolicy', 'CiliumClusterwideEnvoyConfig', 'Mesh']);

const TOKEN = 'fake-kube-token';
const keyOf = (r: FakeResource): string => `${r.group}/${r.version}/${r.plural}`;
const clone = <T>(v: T): T => structuredClone(v);

function status(code: number, reason: string, message: string): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return clone(patch);
  const out: Json = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [key, value] of Object.entries(patch as Json)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function parseSelector(text: string | undefined): Array<{ key: string; op: '=' | '!=' | 'exists'; value: string }> {
  if (text === undefined || text === '') return [];
  return text.split(',').map((term) => {
    const ne = term.indexOf('!=');
    if (ne !== -1) return { key: term.slice(0, ne).trim(), op: '!=' as const, value: term.slice(ne + 2).trim() };
    const eq = term.indexOf('=');
    if (eq !== -1)
      return {
        key: term.slice(0, eq).trim(),
        op: '=' as const,
        value: term
          .slice(eq + 1)
          .replace(/^=/, '')
          .trim(),
      };
    return { key: term.trim(), op: 'exists' as const, value: '' };
  });
}

function fieldValue(o: StoredObject, field: string): string | undefined {
  const get = (path: string): unknown => path.split('.').reduce<unknown>((v, k) => (typeof v === 'object' && v !== null ? (v as Json)[k] : undefined), o);
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  switch (field) {
    case 'metadata.name':
    case 'metadata.namespace':
    case 'involvedObject.kind':
    case 'involvedObject.name':
    case 'involvedObject.namespace':
    case 'involvedObject.uid':
    case 'involvedObject.apiVersion':
    case 'reason':
    case 'type':
    case 'reportingComponent':
      return str(get(field));
    case 'source':
      return str(get('source.component')) || str(get('reportingComponent'));
    default:
      return undefined;
  }
}

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const served = new Map<string, FakeResource>([
    [keyOf(EVENTS), EVENTS],
    [keyOf(LEASES), LEASES],
  ]);
  let interceptor: FakeKubeInterceptor | undefined;
  const store = new Map<string, Map<string, StoredObject>>();
  const history: HistoryEntry[] = [];
  const watches = new Set<OpenWatch>();
  const sockets = new Set<Socket>();
  const requests: FakeKubeRequest[] = [];
  let rv = 1000;
  let compactedRv = 0;
  // Collections (keyOf, or '*' for any) whose next live event is cut in the middle.
  const cutNext = new Set<string>();
  let silent = false;

  const objectsOf = (collection: string): Map<string, StoredObject> => {
    let m = store.get(collection);
    if (!m) store.set(collection, (m = new Map()));
    return m;
  };

  const send = (w: OpenWatch, type: string, object: unknown): void => {
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  };

  // Half the line on the wire, then the connection destroyed once that half is flushed.
  const sendCut = (w: OpenWatch, type: string, object: unknown): void => {
    const line = `${JSON.stringify({ type, object })}\n`;
    watches.delete(w);
    w.res.write(line.slice(0, Math.floor(line.length / 2)), () => w.socket.destroy());
  };

  const notify = (entry: HistoryEntry): void => {
    if (silent) return;
    const cut = cutNext.has(entry.collection) || cutNext.has('*');
    for (const w of [...watches]) {
      if (w.collection !== entry.collection) continue;
      if (w.namespace !== undefined && (entry.object.metadata.namespace ?? '') !== w.namespace) continue;
      if (!w.matches(entry.object)) continue;
      if (cut) sendCut(w, entry.type, entry.object);
      else send(w, entry.type, entry.object);
    }
    if (cut) {
      cutNext.delete(entry.collection);
      cutNext.delete('*');
    }
  };

  const record = (collection: string, type: EventType, object: StoredObject): void => {
    const entry = { rv, collection, type, object };
    history.push(entry);
    notify(entry);
  };

  function route(path: string): { resource: FakeResource; namespace: string | undefined; name: string | undefined } | { error: number } {
    const parts = path.split('/').filter((p) => p !== '');
    let group: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1] === 'v1') {
      group = '';
      rest = parts.slice(1);
    } else if (parts[0] === 'apis' && parts.length >= 4) {
      group = parts[1] ?? '';
      rest = parts.slice(2);
    } else return { error: 404 };
    const version = rest[0] ?? '';
    let namespace: string | undefined;
    let tail = rest.slice(1);
    if (tail[0] === 'namespaces' && tail.length >= 3) {
      namespace = tail[1];
      tail = tail.slice(2);
    }
    const plural = tail[0] ?? '';
    const resource = served.get(`${group}/${version}/${plural}`);
    if (!resource || tail.length > 2) return { error: 404 };
    return { resource, namespace, name: tail[1] };
  }

  function matcher(query: Record<string, string>): (o: StoredObject) => boolean {
    const labels = parseSelector(query.labelSelector);
    const fields = parseSelector(query.fieldSelector);
    return (o) =>
      labels.every((t) => {
        const v = o.metadata.labels?.[t.key];
        return t.op === 'exists' ? v !== undefined : t.op === '=' ? v === t.value : v !== t.value;
      }) &&
      fields.every((t) => {
        const v = fieldValue(o, t.key) ?? '';
        return t.op === '!=' ? v !== t.value : v === t.value;
      });
  }

  // Discovery, as the apiserver answers it: `/apis` (APIGroupList: every served group, the first
  // version served as the preferred one) and `/apis/<group>/<version>` (APIResourceList). Undefined:
  // not a discovery path; null: a group or version not served (404).
  function discovery(path: string): Json | null | undefined {
    const parts = path.split('/').filter((p) => p !== '');
    if (parts[0] !== 'apis' || parts.length > 3 || parts.length === 2) return undefined;
    const list = [...served.values()].filter((r) => r.group !== '');
    if (parts.length === 1) {
      const groups = new Map<string, string[]>();
      for (const r of list)
        groups.set(
          r.group,
          [...(groups.get(r.group) ?? []), r.version].filter((v, i, a) => a.indexOf(v) === i),
        );
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [...groups].map(([name, versions]) => ({
          name,
          versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
          preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
        })),
      };
    }
    const mine = list.filter((r) => r.group === parts[1] && r.version === parts[2]);
    if (mine.length === 0) return null;
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: `${parts[1]}/${parts[2]}`,
      resources: mine.map((r) => ({
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: !CLUSTER_SCOPED.has(r.kind),
        kind: r.kind,
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
      })),
    };
  }

  const json = (res: ServerResponse, code: number, body: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => serve(req, res, Buffer.concat(chunks).toString()));
      return;
    }
    serve(req, res, '');
  }

  function serve(req: IncomingMessage, res: ServerResponse, rawBody: string): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query = Object.fromEntries(url.searchParams);
    const isWatch = query.watch === 'true' || query.watch === '1';
    const log: FakeKubeRequest = { method: req.method ?? 'GET', path: url.pathname, query, watch: isWatch, status: silent ? 0 : 200 };
    requests.push(log);
    // Never answered; the socket is reset by answerAgain() or close().
    if (silent) return;
    const answer = (code: number, body: unknown): void => {
      log.status = code;
      json(res, code, body);
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return answer(401, status(401, 'Unauthorized', 'Unauthorized'));
    const injected = interceptor?.({ method: req.method ?? 'GET', path: url.pathname });
    if (injected !== undefined) return answer(injected, status(injected, injected === 409 ? 'Conflict' : 'InternalError', `injected ${injected}`));
    if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'PUT' && req.method !== 'PATCH')
      return answer(405, status(405, 'MethodNotAllowed', 'the fake serves GET, POST, PUT and PATCH only'));
    const discovered = req.method === 'GET' ? discovery(url.pathname) : undefined;
    if (discovered !== undefined)
      return answer(discovered === null ? 404 : 200, discovered ?? status(404, 'NotFound', 'the server could not find the requested resource'));
    const target = route(url.pathname);
    if ('error' in target) return answer(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const { resource, namespace, name } = target;
    const collection = keyOf(resource);
    const objects = objectsOf(collection);
    const inNamespace = (o: StoredObject): boolean => namespace === undefined || (o.metadata.namespace ?? '') === namespace;

    if (req.method === 'PATCH') {
      log.body = rawBody;
      const contentType = req.headers['content-type'];
      if (contentType !== undefined) log.contentType = contentType;
      if (namespace === undefined || name === undefined) return answer(405, status(405, 'MethodNotAllowed', 'the fake patches namespaced objects only'));
      if (contentType !== 'application/merge-patch+json') {
        return answer(
          415,
          status(
            415,
            'UnsupportedMediaType',
            'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
          ),
        );
      }
      let patch: unknown;
      try {
        patch = JSON.parse(rawBody);
      } catch {
        return answer(400, status(400, 'BadRequest', 'the body is not JSON'));
      }
      const existing = objects.get(`${namespace}/${name}`);
      if (!existing) return answer(404, status(404, 'NotFound', `${resource.plural}.${resource.group} "${name}" not found`));
      const sent = (patch as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
      if (typeof sent === 'string' && sent !== existing.metadata.resourceVersion) {
        return answer(409, {
          ...status(
            409,
            'Conflict',
            `Operation cannot be fulfilled on ${resource.plural}.${resource.group} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          ),
          details: { name, group: resource.group, kind: resource.plural },
        });
      }
      const merged = mergePatch(existing, patch) as StoredObject;
      return answer(200, store1(resource, { ...merged, metadata: { ...merged.metadata, name, namespace } }, false));
    }

    if (req.method === 'POST' || req.method === 'PUT') {
      let body: StoredObject;
      try {
        body = JSON.parse(rawBody) as StoredObject;
      } catch {
        return answer(400, status(400, 'BadRequest', 'the body is not JSON'));
      }
      if (typeof body !== 'object' || body === null || typeof body.metadata?.name !== 'string')
        return answer(422, status(422, 'Invalid', 'metadata.name: Required value'));
      if (namespace === undefined) return answer(405, status(405, 'MethodNotAllowed', 'the fake writes namespaced objects only'));
      if ((body.metadata.namespace ?? namespace) !== namespace)
        return answer(400, status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
      const objName = body.metadata.name;
      const key = `${namespace}/${objName}`;
      const existing = objects.get(key);
      if (req.method === 'POST') {
        if (name !== undefined) return answer(405, status(405, 'MethodNotAllowed', 'POST goes to the collection'));
        if (existing)
          return answer(409, {
            ...status(409, 'AlreadyExists', `${resource.plural}.${resource.group} "${objName}" already exists`),
            details: { name: objName, group: resource.group, kind: resource.plural },
          });
      } else {
        if (name === undefined || name !== objName) return answer(400, status(400, 'BadRequest', 'the name of the object does not match the name on the URL'));
        if (!existing) return answer(404, status(404, 'NotFound', `${resource.plural}.${resource.group} "${objName}" not found`));
        const sent = body.metadata.resourceVersion;
        if (sent !== undefined && sent !== '' && sent !== existing.metadata.resourceVersion) {
          return answer(409, {
            ...status(
              409,
              'Conflict',
              `Operation cannot be fulfilled on ${resource.plural}.${resource.group} "${objName}": the object has been modified; please apply your changes to the latest version and try again`,
            ),
            details: { name: objName, group: resource.group, kind: resource.plural },
          });
        }
      }
      const stored = store1(
        resource,
        {
          ...body,
          apiVersion: resource.group === '' ? resource.version : `${resource.group}/${resource.version}`,
          kind: resource.kind,
          metadata: { ...body.metadata, namespace },
        },
        false,
      );
      return answer(req.method === 'POST' ? 201 : 200, stored);
    }

    if (name !== undefined) {
      const found = objects.get(`${namespace ?? ''}/${name}`);
      return found ? answer(200, found) : answer(404, status(404, 'NotFound', `${resource.plural} "${name}" not found`));
    }

    const matches = matcher(query);
    if (!isWatch) {
      let offset = 0;
      if (query.continue) {
        const token = JSON.parse(Buffer.from(query.continue, 'base64url').toString()) as { rv: number; offset: number };
        if (token.rv < compactedRv)
          return answer(410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'));
        offset = token.offset;
      }
      const all = [...objects.values()]
        .filter((o) => inNamespace(o) && matches(o))
        .sort((a, b) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`));
      const limit = query.limit ? Number(query.limit) : 0;
      const page = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
      const more = limit > 0 && offset + limit < all.length;
      return answer(200, {
        kind: `${resource.kind}List`,
        apiVersion: resource.group === '' ? resource.version : `${resource.group}/${resource.version}`,
        metadata: {
          resourceVersion: String(rv),
          ...(more
            ? { continue: Buffer.from(JSON.stringify({ rv, offset: offset + limit })).toString('base64url'), remainingItemCount: all.length - offset - limit }
            : {}),
        },
        items: page,
      });
    }

    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // The apiserver sends the headers at once; a client waits for them before it can abort the watch.
    res.flushHeaders();
    const w: OpenWatch = { collection, namespace, matches, bookmarks: query.allowWatchBookmarks === 'true', res, socket: req.socket };
    const from = query.resourceVersion ?? '';
    if (from === '' || from === '0') {
      for (const o of objects.values()) if (inNamespace(o) && matches(o)) send(w, 'ADDED', o);
    } else {
      const since = Number(from);
      if (!Number.isFinite(since) || since < compactedRv) {
        send(w, 'ERROR', status(410, 'Expired', `too old resource version: ${from} (${compactedRv})`));
        res.end();
        return;
      }
      for (const e of history) if (e.rv > since && e.collection === collection && inNamespace(e.object) && matches(e.object)) send(w, e.type, e.object);
    }
    watches.add(w);
    res.on('close', () => watches.delete(w));
  }

  const server = createServer(handle);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  function store1(r: FakeResource, obj: object, silent: boolean): StoredObject {
    const object = clone(obj) as StoredObject;
    if (typeof object.metadata?.name !== 'string') throw new Error('fake kube api: object needs metadata.name');
    const objects = objectsOf(keyOf(r));
    const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    const existed = objects.has(key);
    rv++;
    object.metadata.resourceVersion = String(rv);
    objects.set(key, object);
    if (!silent) record(keyOf(r), existed ? 'MODIFIED' : 'ADDED', object);
    return clone(object);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  const dropAll = (): void => {
    for (const s of sockets) s.destroy();
    watches.clear();
  };

  return {
    url,
    requests,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromClusterAndUser({ name: 'fake', server: url, skipTLSVerify: true }, { name: 'fake-user', token: TOKEN });
      return kc;
    },
    serve: (r) => void served.set(keyOf(r), r),
    unserve: (r) => void served.delete(keyOf(r)),
    apply: (r, obj, opts) => store1(r, obj, opts?.silent === true),
    get(r, namespace, name) {
      const found = objectsOf(keyOf(r)).get(`${namespace}/${name}`);
      return found ? clone(found) : undefined;
    },
    intercept: (fn) => void (interceptor = fn),
    remove(r, namespace, name, opts) {
      const objects = objectsOf(keyOf(r));
      const key = `${namespace}/${name}`;
      const found = objects.get(key);
      if (!found) return;
      objects.delete(key);
      rv++;
      if (opts?.silent !== true) record(keyOf(r), 'DELETED', { ...found, metadata: { ...found.metadata, resourceVersion: String(rv) } });
    },
    bookmark() {
      for (const w of watches) if (w.bookmarks) send(w, 'BOOKMARK', { kind: 'Bookmark', metadata: { resourceVersion: String(rv) } });
    },
    // Every resourceVersion before the current one is gone; the current one (what a list answers
    // with) stays watchable, as on the apiserver: otherwise a relist would only lead to another 410.
    compact() {
      compactedRv = rv;
      history.length = 0;
    },
    expireWatches() {
      compactedRv = rv;
      history.length = 0;
      for (const w of [...watches]) {
        send(w, 'ERROR', status(410, 'Expired', `too old resource version: ${rv} (${compactedRv})`));
        w.res.end();
        watches.delete(w);
      }
    },
    dropWatches() {
      for (const w of [...watches]) {
        w.socket.destroy();
        watches.delete(w);
      }
    },
    cutNextEvent(r) {
      cutNext.add(r === undefined ? '*' : keyOf(r));
    },
    goSilent() {
      silent = true;
    },
    answerAgain() {
      silent = false;
      dropAll();
    },
    async goUnreachable() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        dropAll();
      });
    },
    async comeBack() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    },
    openWatches: (r) => [...watches].filter((w) => r === undefined || w.collection === keyOf(r)).length,
    resourceVersion: () => rv,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        dropAll();
      });
    },
  };
}

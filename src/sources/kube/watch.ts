import { ListWatch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../log.ts';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffPolicy, type Delay } from './backoff.ts';
import type { ListPageFn } from './resources.ts';
import type { SlimResult } from './slim.ts';
import { SlimmingWatch } from './slimming-watch.ts';
import { withTimeout } from '../../net/with-timeout.ts';

/**
 * One informer of one kind in one cluster (and namespace), on the client's own `ListWatch` (what
 * `makeInformer` returns), with what the client leaves to us (STYLE.md §1.5):
 * - objects are slimmed before the cache keeps them (list pages and watch events alike);
 * - an informer that errors stays stopped in the client, so it is restarted here, with
 *   exponential backoff and jitter; restarts are counted;
 * - 410 Gone is the client's business: it relists by itself;
 * - a kind the cluster does not serve (404) is skipped with one warning and looked for again
 *   rarely, never in a loop;
 * - `health()` says whether it is up, and since when it is down.
 *
 * `makeInformer` itself takes neither a field selector (the Events informers need one) nor the
 * injectable delay, so the ListWatch is built the way makeInformer builds it.
 */

export type WatchState = 'starting' | 'up' | 'down' | 'skipped' | 'stopped';

export interface WatchHealth {
  cluster: string;
  /** `applications`, `kustomizations`, `helmreleases` or `events/<component>`. */
  kind: string;
  /** The namespace watched, or `all`. */
  namespace: string;
  state: WatchState;
  /** When the state began (epoch ms). `down` keeps the time it stopped being up. */
  since: number;
  restarts: number;
  /** Lists done (the first one, and every relist after a 410 or a restart). */
  lists: number;
  lastError?: string;
}

export interface WatchHandlers<T> {
  add(obj: T): void;
  update(obj: T): void;
  delete(obj: T): void;
}

/**
 * What a watched object has: the client's KubernetesObject fields, typed as zod's `optional()`
 * types its outputs (`?: X | undefined`), since the watched objects are slimmed by zod schemas.
 * The client's ListWatch gets `T & KubernetesObject`, which is the same object.
 */
export type WatchedObject = {
  apiVersion?: string | undefined;
  kind?: string | undefined;
  metadata?: { name?: string | undefined; namespace?: string | undefined; resourceVersion?: string | undefined } | undefined;
};

export interface WatchTarget<T extends WatchedObject> {
  kind: string;
  /** The watch path, e.g. `/apis/argoproj.io/v1alpha1/applications`. */
  path: string;
  list: ListPageFn;
  slim(raw: unknown): SlimResult<T>;
  labelSelector?: string;
  fieldSelector?: string;
  /** Orders a list's items before the informer hands them out (Events: oldest first). */
  order?: (items: T[]) => T[];
}

export interface RestartInfo {
  cluster: string;
  kind: string;
  namespace: string;
  error: string;
}

export interface StartWatchOptions<T extends WatchedObject> {
  kc: KubeConfig;
  cluster: string;
  namespace?: string;
  target: WatchTarget<T>;
  handlers: WatchHandlers<T>;
  log: Logger;
  now?: () => number;
  delay?: Delay;
  random?: () => number;
  backoff?: BackoffPolicy;
  /** Called before each restart that follows an error; turn it into a metric. */
  onRestart?: (info: RestartInfo) => void;
  /** Called when an object fails its slim schema and is left out. */
  onInvalid?: (info: { cluster: string; kind: string; error: string }) => void;
  /** Up this long before failing again resets the backoff (default 60 s). */
  stableMs?: number;
  /** A list call that takes longer fails (default 30 s): a black-holed cluster must not hang. */
  listTimeoutMs?: number;
  /**
   * The watch request's timeout (default 30 s, the client's): for its headers, then for silence on
   * the open stream. Silence on an open stream is routine (a quiet resource) and only reconnects;
   * a reconnect whose headers never come marks the watch down.
   */
  watchTimeoutMs?: number;
  /** How often a kind answered with 404 is looked for again (default 10 min). */
  unservedRecheckMs?: number;
  pageSize?: number;
}

export interface WatchHandle {
  stop(): Promise<void>;
  health(): WatchHealth;
}

/** The HTTP status of a client error: ApiException has `code`, Watch errors `statusCode`. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

function describe(err: unknown): string {
  const status = statusOf(err);
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
  // ApiException messages hold the whole response body and headers; the first line is enough.
  const first = (message.split('\n')[0] ?? '').slice(0, 300);
  return status === undefined ? first : `HTTP ${status}: ${first}`;
}

const STOPPED = 'watch stopped';

/** The client's own default (client-node 2 Watch.requestTimeoutMs). */
const DEFAULT_WATCH_TIMEOUT_MS = 30_000;

export function startWatch<T extends WatchedObject>(opts: StartWatchOptions<T>): WatchHandle {
  const { target, cluster } = opts;
  const namespace = opts.namespace ?? 'all';
  const now = opts.now ?? Date.now;
  const delay = opts.delay ?? sleep;
  const stableMs = opts.stableMs ?? 60_000;
  // The caller's logger already names the cluster.
  const log = opts.log.child({ kind: target.kind, namespace });
  const abort = new AbortController();

  const health: WatchHealth = { cluster, kind: target.kind, namespace, state: 'starting', since: now(), restarts: 0, lists: 0 };
  let upSince = 0;
  let attempt = 0;
  let restartPending = false;
  let warnedUnserved = false;
  let stopped = false;

  const setState = (state: WatchState, lastError?: string): void => transition(health, state, now(), lastError);

  let informer: ListWatch<T & KubernetesObject> | undefined;
  const watch = new SlimmingWatch<T>(
    opts.kc,
    target.slim,
    (raw, error) => {
      log.warn({ error }, 'object does not match the expected shape; left out');
      opts.onInvalid?.({ cluster, kind: target.kind, error });
      return cachedVersion(informer, raw);
    },
    {
      onConnected: () => markUp(),
      onUnanswered: (err) => {
        if (stopped) return;
        const error = `the watch request got no answer within ${opts.watchTimeoutMs ?? DEFAULT_WATCH_TIMEOUT_MS} ms (${describe(err)})`;
        if (health.state !== 'down') log.warn({ error }, 'watch not answered; the client reconnects, and the watch counts as down until it does');
        setState('down', error);
      },
      ...(opts.watchTimeoutMs !== undefined ? { timeoutMs: opts.watchTimeoutMs } : {}),
    },
  );

  function markUp(): void {
    if (stopped || health.state === 'up') return;
    if (health.state === 'skipped' || health.state === 'down') log.info('watch is up again');
    setState('up');
    upSince = now();
  }

  const list = informerLister(opts, log, health, () => stopped, markUp);

  const run = (): void => {
    if (stopped || !informer) return;
    informer.start().catch((err: unknown) => onError(err));
  };

  const scheduleRestart = async (ms: number, restart: boolean, error: string): Promise<void> => {
    if (restartPending) return;
    restartPending = true;
    await delay(ms, abort.signal);
    restartPending = false;
    if (stopped) return;
    if (restart) {
      health.restarts++;
      opts.onRestart?.({ cluster, kind: target.kind, namespace, error });
    }
    run();
  };

  function onError(err: unknown): void {
    if (stopped || (err instanceof Error && err.message === STOPPED)) return;
    const error = describe(err);
    if (statusOf(err) === 404) {
      if (!warnedUnserved) {
        warnedUnserved = true;
        log.warn({ error }, 'the cluster does not serve this kind (404); skipping it and looking again now and then');
      }
      setState('skipped', error);
      void scheduleRestart(opts.unservedRecheckMs ?? 600_000, false, error);
      return;
    }
    if (health.state === 'up' && now() - upSince >= stableMs) attempt = 0;
    const ms = backoffDelay(attempt++, opts.backoff ?? DEFAULT_BACKOFF, opts.random);
    log.warn({ error, retryInMs: ms }, 'watch failed; restarting');
    setState('down', error);
    void scheduleRestart(ms, true, error);
  }

  informer = new ListWatch<T & KubernetesObject>(target.path, watch, list, false, target.labelSelector, target.fieldSelector, {
    delayFn: (ms) => delay(ms, abort.signal),
  });
  wireInformer(informer, opts.handlers, log, onError);
  run();

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      watch.closed = true;
      abort.abort();
      await informer?.stop();
      setState('stopped');
    },
    health: () => ({ ...health }),
  };
}

/**
 * The informer's list function: every page, slimmed (what does not parse is logged and reported to
 * `onInvalid`); each complete list counts in `health.lists` and then marks the watch up.
 */
function informerLister<T extends WatchedObject>(opts: StartWatchOptions<T>, log: Logger, health: WatchHealth, stopped: () => boolean, markUp: () => void) {
  const { target, cluster } = opts;
  // The slimmed objects are zod outputs: an absent optional field is absent, never `undefined`,
  // so they are KubernetesObjects as the client's (exact) type says.
  return async (): Promise<{ items: (T & KubernetesObject)[]; metadata: { resourceVersion: string } }> => {
    const all = await listAllPages(target, opts.pageSize ?? 100, opts.listTimeoutMs ?? 30_000, stopped, (error) => {
      log.warn({ error }, 'listed object does not match the expected shape; left out');
      opts.onInvalid?.({ cluster, kind: target.kind, error });
    });
    health.lists++;
    markUp();
    return all as { items: (T & KubernetesObject)[]; metadata: { resourceVersion: string } };
  };
}

/** Every page of a list (slimmed; what does not parse goes to `onInvalid`), in the target's order. */
async function listAllPages<T extends WatchedObject>(
  target: WatchTarget<T>,
  pageSize: number,
  listTimeoutMs: number,
  stopped: () => boolean,
  onInvalid: (error: string) => void,
): Promise<{ items: T[]; metadata: { resourceVersion: string } }> {
  if (stopped()) throw new Error(STOPPED);
  const items: T[] = [];
  let resourceVersion = '';
  let cont: string | undefined;
  do {
    const page = await withTimeout(
      target.list({
        limit: pageSize,
        ...(cont !== undefined ? { continue: cont } : {}),
        ...(target.labelSelector !== undefined ? { labelSelector: target.labelSelector } : {}),
        ...(target.fieldSelector !== undefined ? { fieldSelector: target.fieldSelector } : {}),
      }),
      listTimeoutMs,
      `list ${target.path}`,
    );
    if (stopped()) throw new Error(STOPPED);
    for (const raw of page.items) {
      const slim = target.slim(raw);
      if (slim.ok) items.push(slim.object);
      else onInvalid(slim.error);
    }
    resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    cont = page.metadata?.continue;
  } while (cont !== undefined);
  return { items: target.order ? target.order(items) : items, metadata: { resourceVersion } };
}

/** A watch's new state; `since` moves when the state changes (`down` after `starting` keeps the start). */
function transition(health: WatchHealth, state: WatchState, at: number, lastError?: string): void {
  if (health.state !== state && !(health.state === 'starting' && state === 'down')) health.since = at;
  health.state = state;
  if (lastError !== undefined) health.lastError = lastError;
}

/** The informer's events to the handlers (each guarded) and its errors to `onError`. */
function wireInformer<T extends WatchedObject>(
  informer: ListWatch<T & KubernetesObject>,
  handlers: WatchHandlers<T>,
  log: Logger,
  onError: (err: unknown) => void,
): void {
  informer.on(
    'add',
    guarded(log, 'add', (o: T) => handlers.add(o)),
  );
  informer.on(
    'update',
    guarded(log, 'update', (o: T) => handlers.update(o)),
  );
  informer.on(
    'delete',
    guarded(log, 'delete', (o: T) => handlers.delete(o)),
  );
  informer.on('error', onError);
}

/** A handler whose throw is logged: the client swallows what a watch callback throws; a list callback's error would stop it. */
function guarded<T>(log: Logger, name: string, fn: (obj: T) => void): (obj: T) => void {
  return (obj: T) => {
    try {
      fn(obj);
    } catch (err) {
      log.error({ error: describe(err), handler: name }, 'watch handler failed');
    }
  };
}

/** The cached version of the object `raw` describes (by its name and namespace), if the informer holds one. */
function cachedVersion<T extends WatchedObject>(informer: ListWatch<T & KubernetesObject> | undefined, raw: unknown): T | undefined {
  const meta = (raw as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  return typeof meta?.name === 'string' ? informer?.get(meta.name, typeof meta.namespace === 'string' ? meta.namespace : undefined) : undefined;
}

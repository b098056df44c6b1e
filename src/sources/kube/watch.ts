import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../log.ts';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffPolicy, type Delay } from './backoff.ts';
import type { ListPageFn } from './resources.ts';
import type { SlimResult } from './slim.ts';

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

export interface WatchTarget<T extends KubernetesObject> {
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

export interface StartWatchOptions<T extends KubernetesObject> {
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

/** A Watch that slims each object before the informer sees (and caches) it. */
class SlimmingWatch<T> extends Watch {
  closed = false;
  readonly #slim: (raw: unknown) => SlimResult<T>;
  readonly #onInvalid: (raw: unknown, error: string) => T | undefined;
  readonly #onConnected: () => void;
  readonly #onUnanswered: (err: unknown) => void;

  constructor(
    kc: KubeConfig,
    slim: (raw: unknown) => SlimResult<T>,
    onInvalid: (raw: unknown, error: string) => T | undefined,
    hooks: { onConnected: () => void; onUnanswered: (err: unknown) => void; timeoutMs?: number },
  ) {
    super(kc);
    this.#slim = slim;
    this.#onInvalid = onInvalid;
    this.#onConnected = hooks.onConnected;
    this.#onUnanswered = hooks.onUnanswered;
    // The client keeps its timeout in a field its typings mark private (client-node 2, watch.ts).
    if (hooks.timeoutMs !== undefined) (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = hooks.timeoutMs;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    // The informer may still be between its list and its watch when it is stopped.
    if (this.closed) return new AbortController();
    let failed = false;
    // Set once the watch request's headers came back (super.watch returns then).
    let answered = false;
    const controller = await super.watch(
      path,
      queryParams,
      (phase, obj) => {
        if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return callback(phase, obj);
        const slim = this.#slim(obj);
        if (slim.ok) return callback(phase, slim.object);
        const fallback = this.#onInvalid(obj, slim.error);
        // A deleted object that no longer parses still leaves the cache (as the version it holds).
        if (phase === 'DELETED' && fallback !== undefined) callback(phase, fallback);
      },
      (err) => {
        // The client's ListWatch retries a TimeoutError by itself, without telling the informer's
        // error handlers; a timeout before any answer means the cluster stopped answering.
        if (!failed && !answered && isTimeout(err)) this.#onUnanswered(err);
        failed = true;
        done(err);
      },
    );
    answered = true;
    // Stopped while the request waited for its headers: nobody else will abort this one.
    if (this.closed) {
      controller.abort();
      return controller;
    }
    // super.watch reports a refused connection or a non-200 answer through `done` before it returns.
    if (!failed) this.#onConnected();
    return controller;
  }
}

/** The client's own default (client-node 2 Watch.requestTimeoutMs). */
const DEFAULT_WATCH_TIMEOUT_MS = 30_000;

function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.name === 'TimeoutError';
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function startWatch<T extends KubernetesObject>(opts: StartWatchOptions<T>): WatchHandle {
  const { target, cluster } = opts;
  const namespace = opts.namespace ?? 'all';
  const now = opts.now ?? Date.now;
  const delay = opts.delay ?? sleep;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const stableMs = opts.stableMs ?? 60_000;
  const listTimeoutMs = opts.listTimeoutMs ?? 30_000;
  const recheckMs = opts.unservedRecheckMs ?? 600_000;
  const pageSize = opts.pageSize ?? 100;
  // The caller's logger already names the cluster.
  const log = opts.log.child({ kind: target.kind, namespace });
  const abort = new AbortController();

  const health: WatchHealth = { cluster, kind: target.kind, namespace, state: 'starting', since: now(), restarts: 0, lists: 0 };
  let upSince = 0;
  let attempt = 0;
  let restartPending = false;
  let warnedUnserved = false;
  let stopped = false;

  const setState = (state: WatchState, lastError?: string): void => {
    if (health.state !== state && !(health.state === 'starting' && state === 'down')) health.since = now();
    health.state = state;
    if (lastError !== undefined) health.lastError = lastError;
  };

  let informer: ListWatch<T> | undefined;
  const watch = new SlimmingWatch<T>(opts.kc, target.slim, (raw, error) => {
    log.warn({ error }, 'object does not match the expected shape; left out');
    opts.onInvalid?.({ cluster, kind: target.kind, error });
    const meta = (raw as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
    return typeof meta?.name === 'string' ? informer?.get(meta.name, typeof meta.namespace === 'string' ? meta.namespace : undefined) : undefined;
  }, {
    onConnected: () => markUp(),
    onUnanswered: (err) => {
      if (stopped) return;
      const error = `the watch request got no answer within ${opts.watchTimeoutMs ?? DEFAULT_WATCH_TIMEOUT_MS} ms (${describe(err)})`;
      if (health.state !== 'down') log.warn({ error }, 'watch not answered; the client reconnects, and the watch counts as down until it does');
      setState('down', error);
    },
    ...(opts.watchTimeoutMs !== undefined ? { timeoutMs: opts.watchTimeoutMs } : {}),
  });

  function markUp(): void {
    if (stopped || health.state === 'up') return;
    if (health.state === 'skipped' || health.state === 'down') log.info('watch is up again');
    setState('up');
    upSince = now();
  }

  const list = async (): Promise<{ items: T[]; metadata: { resourceVersion: string } }> => {
    if (stopped) throw new Error(STOPPED);
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
      if (stopped) throw new Error(STOPPED);
      for (const raw of page.items) {
        const slim = target.slim(raw);
        if (slim.ok) items.push(slim.object);
        else {
          log.warn({ error: slim.error }, 'listed object does not match the expected shape; left out');
          opts.onInvalid?.({ cluster, kind: target.kind, error: slim.error });
        }
      }
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      cont = page.metadata?.continue;
    } while (cont !== undefined);
    health.lists++;
    markUp();
    return { items: target.order ? target.order(items) : items, metadata: { resourceVersion } };
  };

  const guard = (name: string, fn: (obj: T) => void) => (obj: T) => {
    try {
      fn(obj);
    } catch (err) {
      // The client swallows what a watch callback throws; a list callback's error would stop it.
      log.error({ error: describe(err), handler: name }, 'watch handler failed');
    }
  };

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
      void scheduleRestart(recheckMs, false, error);
      return;
    }
    if (health.state === 'up' && now() - upSince >= stableMs) attempt = 0;
    const ms = backoffDelay(attempt++, backoff, opts.random);
    log.warn({ error, retryInMs: ms }, 'watch failed; restarting');
    setState('down', error);
    void scheduleRestart(ms, true, error);
  }

  informer = new ListWatch<T>(target.path, watch, list, false, target.labelSelector, target.fieldSelector, {
    delayFn: (ms) => delay(ms, abort.signal),
  });
  informer.on('add', guard('add', (o) => opts.handlers.add(o)));
  informer.on('update', guard('update', (o) => opts.handlers.update(o)));
  informer.on('delete', guard('delete', (o) => opts.handlers.delete(o)));
  informer.on('error', onError);
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

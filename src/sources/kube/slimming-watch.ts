import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { SlimResult } from './slim.ts';

/** A Watch that slims each object before the informer sees (and caches) it. */
export class SlimmingWatch<T> extends Watch {
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

function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.name === 'TimeoutError';
}

/**
 * Restart delays for informers that failed. Exponential from `baseMs`, capped at `maxMs`, with
 * "equal jitter" (half fixed, half random) so many watches failing together (one API server
 * restart) do not come back in lockstep, yet never retry sooner than half the nominal delay.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 60_000 };

/** Delay before restart number `attempt` (0 = the first restart after a failure). `random` in [0, 1). */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  const half = exp / 2;
  return Math.round(half + half * Math.min(Math.max(random(), 0), 1));
}

/** A cancellable sleep: resolves after `ms`, or at once (never rejects) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** How the sources wait; tests inject one that records and resolves at once. */
export type Delay = (ms: number, signal?: AbortSignal) => Promise<void>;

import type { Logger } from '../../log.ts';
import { backoffDelay, sleep, type BackoffPolicy, type Delay } from './backoff.ts';

/**
 * Between informer callbacks and `ingest`. Informers fire and forget: a signal whose ingest fails
 * (Redis down) would be lost until the object changes again. This queue runs each owner's work in
 * order, retries failures with backoff, and bounds how many ingests run at once (a first list of
 * 2,000 Applications must not open 2,000 Redis transactions together).
 */
export interface SignalQueue {
  /**
   * `latest`: the task replaces whatever is still queued for `key` (a full snapshot makes older
   * ones moot). `each`: every task runs, in submission order (partial signals, Flux events).
   */
  submit(key: string, task: () => Promise<void>, mode: 'latest' | 'each'): void;
  /** Resolves once nothing is queued or running. */
  idle(): Promise<void>;
  /** Drops queued work and stops retrying. */
  stop(): void;
}

export interface SignalQueueOptions {
  concurrency?: number;
  maxAttempts?: number;
  backoff?: BackoffPolicy;
  delay?: Delay;
  random?: () => number;
  log: Logger;
}

interface Lane {
  tasks: Array<{ run: () => Promise<void>; mode: 'latest' | 'each' }>;
  running: boolean;
}

export function createSignalQueue(opts: SignalQueueOptions): SignalQueue {
  const concurrency = opts.concurrency ?? 8;
  const maxAttempts = opts.maxAttempts ?? 5;
  const backoff = opts.backoff ?? { baseMs: 500, maxMs: 30_000 };
  const delay = opts.delay ?? sleep;
  const lanes = new Map<string, Lane>();
  const abort = new AbortController();
  let active = 0;
  const slots: Array<() => void> = [];
  let waiters: Array<() => void> = [];

  const acquire = async (): Promise<void> => {
    if (active < concurrency) {
      active++;
      return;
    }
    await new Promise<void>((resolve) => slots.push(resolve));
  };
  const release = (): void => {
    const next = slots.shift();
    if (next) next();
    else active--;
  };
  const settle = (): void => {
    if (lanes.size > 0) return;
    const ws = waiters;
    waiters = [];
    for (const w of ws) w();
  };

  async function drain(key: string, lane: Lane): Promise<void> {
    lane.running = true;
    while (!abort.signal.aborted) {
      const task = lane.tasks.shift();
      if (!task) break;
      for (let attempt = 0; ; attempt++) {
        await acquire();
        try {
          await task.run();
          break;
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          if (attempt + 1 >= maxAttempts) {
            opts.log.error({ key, attempts: attempt + 1, error }, 'watch signal dropped after retries');
            break;
          }
          opts.log.warn({ key, attempt: attempt + 1, error }, 'watch signal failed; retrying');
        } finally {
          release();
        }
        await delay(backoffDelay(attempt, backoff, opts.random), abort.signal);
        // A newer snapshot of the same owner supersedes the one that failed.
        if (abort.signal.aborted || (task.mode === 'latest' && lane.tasks.length > 0)) break;
      }
    }
    lane.running = false;
    lanes.delete(key);
    settle();
  }

  return {
    submit(key, run, mode) {
      if (abort.signal.aborted) return;
      let lane = lanes.get(key);
      if (!lane) {
        lane = { tasks: [], running: false };
        lanes.set(key, lane);
      }
      if (mode === 'latest') lane.tasks = [{ run, mode }];
      else lane.tasks.push({ run, mode });
      if (!lane.running) void drain(key, lane);
    },
    idle() {
      if (lanes.size === 0) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    stop() {
      abort.abort();
      for (const lane of lanes.values()) lane.tasks = [];
      for (const s of slots.splice(0)) s();
    },
  };
}

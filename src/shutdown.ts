import type { Logger } from './log.ts';

/**
 * Graceful stop (SIGTERM, issue #12 item 10), bounded by a grace period: what each part waits for,
 * the one deadline they share, and the cleanups run last-registered first (input stops first,
 * the connections the rest uses close last).
 */
export interface Shutdown {
  /** True once begin() was called: new requests are refused, /readyz fails. */
  draining(): boolean;
  /** Starts draining; the deadline is `graceMs` from now (or earlier, if a stop already set one). */
  begin(graceMs: number): void;
  /** Waits until `done()` or the deadline; false when the deadline came first. */
  drained(done: () => boolean): Promise<boolean>;
  /** Registers a cleanup, run by runCleanups() in reverse order of registration. */
  onStop(name: string, cleanup: () => Promise<void>): void;
  /** Runs (and forgets) the registered cleanups, LIFO; one that fails is logged and the rest run. */
  runCleanups(): Promise<void>;
}

export function createShutdown(log: Logger): Shutdown {
  let draining = false;
  // The shutdown's end (epoch ms), set by begin().
  let deadline = Number.POSITIVE_INFINITY;
  const cleanups: Array<[string, () => Promise<void>]> = [];
  return {
    draining: () => draining,
    begin(graceMs) {
      draining = true;
      deadline = Math.min(deadline, Date.now() + graceMs);
    },
    async drained(done) {
      while (!done()) {
        if (Date.now() >= deadline) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
    onStop(name, cleanup) {
      cleanups.push([name, cleanup]);
    },
    async runCleanups() {
      for (const [name, cleanup] of cleanups.reverse()) {
        try {
          await cleanup();
        } catch (err) {
          log.warn({ cleanup: name, error: err instanceof Error ? err.message : String(err) }, 'cleanup failed');
        }
      }
      cleanups.length = 0;
    },
  };
}

/**
 * Closes something whose close waits for its work (BullMQ's workers wait for their active jobs),
 * but only until the deadline: then it stops waiting (closing the connections next ends the jobs,
 * their locks expire and another replica runs them again). False when the deadline came first.
 */
export async function closeWithinGrace(shutdown: Pick<Shutdown, 'drained'>, close: () => Promise<void>): Promise<boolean> {
  let closed = false;
  const closing = close().finally(() => {
    closed = true;
  });
  if (!(await shutdown.drained(() => closed))) {
    closing.catch(() => undefined);
    return false;
  }
  await closing;
  return true;
}

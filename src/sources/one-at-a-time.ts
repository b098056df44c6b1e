/**
 * Runs an async job one at a time: a call made while a run is under way waits for it to end, then
 * starts its own (so a caller always gets a fresh run, never a share of an older one). `idle()`
 * resolves once nothing runs, for a clean stop. Used by the audit cycle and the Argo CD poller.
 */
export interface OneAtATime<T> {
  run(): Promise<T>;
  idle(): Promise<void>;
}

export function oneAtATime<T>(job: () => Promise<T>): OneAtATime<T> {
  let current: Promise<T> | undefined;
  return {
    async run() {
      while (current) await current.catch(() => undefined);
      const p = job().finally(() => {
        if (current === p) current = undefined;
      });
      current = p;
      return p;
    },
    async idle() {
      await current?.catch(() => undefined);
    },
  };
}

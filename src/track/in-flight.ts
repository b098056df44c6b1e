import type { Ingest } from './ingest.ts';

/**
 * Every ingest in flight (webhooks, watches, polls), so that a shutdown lets them commit all their
 * groups before Redis is closed (issue #12 item 10).
 */
export interface IngestsInFlight {
  ingest: Ingest;
  /** Ingests running now. */
  running(): number;
  /** Waits (with `waitFor`, e.g. the shutdown's deadline) until none runs; false when it gave up first. */
  settled(waitFor: (done: () => boolean) => Promise<boolean>): Promise<boolean>;
}

export function trackIngestsInFlight(ingestNow: Ingest): IngestsInFlight {
  const ingesting = new Set<Promise<unknown>>();
  const ingest: Ingest = (signal, options) => {
    const running = ingestNow(signal, options);
    ingesting.add(running);
    void running.then(
      () => ingesting.delete(running),
      () => ingesting.delete(running),
    );
    return running;
  };
  return { ingest, running: () => ingesting.size, settled: (waitFor) => waitFor(() => ingesting.size === 0) };
}

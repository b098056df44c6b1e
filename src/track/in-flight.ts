import type { Ingest } from './ingest.ts';

/**
 * Every ingest in flight (webhooks, watches, polls), so that a shutdown lets them commit all their
 * groups before Redis is closed (issue #12 item 10).
 */
export function trackIngestsInFlight(ingestNow: Ingest): { ingest: Ingest; running(): number } {
  const ingesting = new Set<Promise<unknown>>();
  const ingest: Ingest = (signal) => {
    const running = ingestNow(signal);
    ingesting.add(running);
    void running.then(
      () => ingesting.delete(running),
      () => ingesting.delete(running),
    );
    return running;
  };
  return { ingest, running: () => ingesting.size };
}

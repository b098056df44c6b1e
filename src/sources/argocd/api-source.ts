import type { Logger } from '../../log.ts';
import type { AppIndex } from './app-index.ts';
import type { Metrics } from '../../metrics.ts';
import type { Ingest } from '../../track/ingest.ts';
import { startReachabilityMonitor, type ReachabilityMonitor, type ReachabilityReading } from '../reachability.ts';
import { createCatalog } from '../../classify/catalog.ts';
import { createArgoCdApi } from './api.ts';
import { createManagedDiff } from './managed-diff.ts';
import { startArgoCdPoller, type ArgoCdPoller, type ArgoCdPollerHealth, type ArgoCdPollSettings } from './poller.ts';

/**
 * Argo CD API polling as the service runs it: the poller, started and stopped with leadership
 * when there is an election (every replica otherwise: the tracker deduplicates), and its own
 * "unreachable" report: an API that refuses the token or stops answering is one alert
 * (`meshdrift.io/ArgoCD`, state Unreachable), not silence. That alert inhibits nothing: Argo CD's
 * webhooks may still be telling the truth about the cluster.
 */
export interface ArgoCdPolling {
  /** Starts polling here (idempotent). */
  start(): void;
  /** Stops polling here (idempotent); resolves when the current poll has finished. */
  stop(): Promise<void>;
  /** The poller's health while it runs here; undefined otherwise. */
  health(): ArgoCdPollerHealth | undefined;
  /** One poll now where it runs here (e.g. after Redis lost its state); false where it does not run. */
  pollNow(): Promise<boolean>;
}

export interface ArgoCdPollingOptions {
  settings: ArgoCdPollSettings;
  ingest: Ingest;
  log: Logger;
  metrics: Pick<Metrics, 'argocdPoll' | 'argocdPollDiscovered' | 'argocdDiffFetch'>;
  now: () => number;
  /** Fed with every polled app (app-index.ts); optional. */
  appIndex?: Pick<AppIndex, 'put' | 'remove'>;
}

/** Where the poller stands, for the reachability monitor: unready = unreachable. */
export function pollerReachability(health: ArgoCdPollerHealth, cluster: string, apiUrl: string): ReachabilityReading {
  const base = { cluster, kind: 'ArgoCD' as const, name: new URL(apiUrl).host };
  if (!health.ready) {
    return {
      ...base,
      reachable: false,
      ...(health.since !== undefined ? { since: health.since } : {}),
      detail: `meshdrift cannot poll the Argo CD API at ${base.name}${health.lastError ? `: ${health.lastError}` : ''}`,
    };
  }
  return { ...base, reachable: health.consecutiveFailures === 0 && health.lastSuccessAt !== undefined ? true : undefined };
}

export function createArgoCdPolling(opts: ArgoCdPollingOptions): ArgoCdPolling {
  const { settings } = opts;
  const log = opts.log.child({ source: 'argocd-api' });
  let poller: ArgoCdPoller | undefined;
  let monitor: ReachabilityMonitor | undefined;
  return {
    start() {
      if (poller) return;
      const api = createArgoCdApi(settings.api);
      const catalog = createCatalog();
      const running = startArgoCdPoller({
        api,
        diff: createManagedDiff({
          api,
          isMeshKind: (group, kind) => catalog.lookup(group, kind) !== undefined,
          maxFetchesPerPoll: settings.diffFetchesPerPoll,
          timeoutMs: Math.min(settings.api.timeoutMs ?? 30_000, 10_000),
          log,
          onOutcome: (outcome) => opts.metrics.argocdDiffFetch(outcome),
          now: opts.now,
        }),
        cluster: settings.cluster,
        ...(opts.appIndex ? { appIndex: opts.appIndex } : {}),
        filters: settings.filters,
        intervalMs: settings.intervalMs,
        ingest: opts.ingest,
        log,
        now: opts.now,
        onPoll: (outcome) => opts.metrics.argocdPoll(outcome),
        onDiscovered: (n) => opts.metrics.argocdPollDiscovered(n),
      });
      poller = running;
      monitor = startReachabilityMonitor({
        read: () => [pollerReachability(running.health(), settings.cluster, settings.api.apiUrl)],
        ingest: opts.ingest,
        log,
        now: opts.now,
      });
      log.info({ everyMs: settings.intervalMs }, 'polling the Argo CD API');
    },
    async stop() {
      const [p, m] = [poller, monitor];
      poller = undefined;
      monitor = undefined;
      await m?.stop();
      await p?.stop();
    },
    health: () => poller?.health(),
    async pollNow() {
      if (!poller) return false;
      await poller.pollNow();
      return true;
    },
  };
}

import type { Logger } from '../../log.ts';
import type { Signal } from '../../model/signal.ts';
import type { Ingest } from '../../track/ingest.ts';
import type { SignalQueue } from '../kube/signal-queue.ts';
import type { SlimApplication } from '../kube/slim.ts';
import type { WatchHandlers } from '../kube/watch.ts';
import { applicationToSignal } from './application.ts';

export interface ApplicationWatchDeps {
  cluster: string;
  ingest: Ingest;
  queue: SignalQueue;
  log: Logger;
  now: () => number;
}

/**
 * The signal for an Application that was deleted: a snapshot with no resources, so everything of
 * that app resolves. Its time is never before the app's last comparison, or the tracker would take
 * it for a stale snapshot.
 */
export function deletedApplicationSignal(app: SlimApplication, cluster: string, now: number): Signal {
  const last = applicationToSignal(app, { cluster, source: 'argocd-watch', now });
  return { ...last, completeness: 'snapshot', resources: [], observedAt: Math.max(now, last.observedAt) };
}

/**
 * Argo CD Applications from a watch. Each add or update is a full snapshot (applicationToSignal);
 * for one app only the newest snapshot waits in the queue, older ones are moot.
 */
export function applicationHandlers(deps: ApplicationWatchDeps): WatchHandlers<SlimApplication> {
  const keyOf = (app: SlimApplication): string => `${deps.cluster}/Application/${app.metadata.namespace ?? ''}/${app.metadata.name}`;
  const send = (app: SlimApplication, signal: () => Signal): void => {
    deps.queue.submit(keyOf(app), async () => void (await deps.ingest(signal())), 'latest');
  };
  const upsert = (app: SlimApplication): void => send(app, () => applicationToSignal(app, { cluster: deps.cluster, source: 'argocd-watch', now: deps.now() }));
  return {
    add: upsert,
    update: upsert,
    delete: (app) => send(app, () => deletedApplicationSignal(app, deps.cluster, deps.now())),
  };
}

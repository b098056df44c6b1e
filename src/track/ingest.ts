import { classify, type ClassifyPolicy } from '../classify/classify.ts';
import type { Metrics } from '../metrics.ts';
import type { GroupLabels } from '../model/alert-group.ts';
import { toolOf, type Signal } from '../model/signal.ts';
import type { Queues } from '../queue/queues.ts';
import { groupKeyOf } from './fingerprint.ts';
import type { TrackStore } from './redis-store.ts';

export type IngestOutcome = {
  outcome: 'tracked' | 'unchanged' | 'stale';
  groupKey: string;
  findings: number;
};

/** The one entry point every source calls: classify → track → schedule the group's flush. */
export type Ingest = (signal: Signal) => Promise<IngestOutcome>;

export interface IngestDeps {
  policy: () => ClassifyPolicy;
  store: TrackStore;
  queues: Pick<Queues, 'scheduleFlush'>;
  metrics: Metrics;
  now: () => number;
}

export function createIngest(deps: IngestDeps): Ingest {
  return async (signal) => {
    const started = performance.now();
    const tool = toolOf(signal.source, signal.owner);
    const groupKey = groupKeyOf(signal.cluster, tool, signal.owner);
    const findings = classify(signal, deps.policy());
    const labels: GroupLabels = { cluster: signal.cluster, tool, owner: signal.owner, project: signal.project };
    const now = deps.now();
    const result = await deps.store.apply(
      { groupKey, labels, findings, completeness: signal.completeness, observedAt: signal.observedAt },
      now,
    );
    // Re-adding a scheduled flush is a no-op (its job id is fixed), so doing it whenever one is
    // pending also repairs a crash between the commit above and this add.
    const pending = result.next?.pendingFlush;
    if (pending) await deps.queues.scheduleFlush(groupKey, pending.seq, pending.dueAt, now);

    for (const f of result.opened) deps.metrics.findingOpened(f.severity, f.category);
    if (result.resolved > 0) deps.metrics.findingsResolved(result.resolved);
    const outcome = result.stale ? 'stale' : result.changed ? 'tracked' : 'unchanged';
    if (outcome !== 'tracked') deps.metrics.dedupSuppressed(signal.source);
    deps.metrics.ingestDuration(signal.source, (performance.now() - started) / 1000);
    return { outcome, groupKey, findings: findings.length };
  };
}

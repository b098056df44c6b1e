import { Registry } from 'prom-client';
import { createBestEffort, type BestEffort } from '../../src/best-effort.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics, type BestEffortOperation, type Metrics } from '../../src/metrics.ts';

/** `meshdrift_best_effort_failures_total{operation}` as the registry reads it now. */
export async function bestEffortFailures(metrics: Metrics, operation: BestEffortOperation): Promise<number> {
  const values = (await metrics.registry.getSingleMetric('meshdrift_best_effort_failures_total')?.get())?.values ?? [];
  return values.find((v) => v.labels.operation === operation)?.value ?? 0;
}

/** A best-effort reporter over a registry and a log of its own, on a fixed clock (one warning per operation). */
export function capturedBestEffort(): {
  bestEffort: BestEffort;
  metrics: Metrics;
  lines: Array<Record<string, unknown>>;
  warnings(operation: BestEffortOperation): Array<Record<string, unknown>>;
  failures(operation: BestEffortOperation): Promise<number>;
} {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return {
    bestEffort: createBestEffort({ metrics, log, now: () => 1_000_000 }),
    metrics,
    lines,
    warnings: (operation) => lines.filter((l) => l.operation === operation),
    failures: (operation) => bestEffortFailures(metrics, operation),
  };
}

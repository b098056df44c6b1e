import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { createMetrics } from '../../../src/metrics.ts';
import type { Signal } from '../../../src/model/signal.ts';
import { createIngest, type IngestDeps } from '../../../src/track/ingest.ts';

// Issue #12 item 13: every source's signal passes the identity check in ingest. A watched or
// polled object whose name holds a control, bidi or zero-width character is skipped (logged and
// counted), not tracked and not a crash; a webhook turns the same outcome into a 400.

const unreachable = (what: string) => () => {
  throw new Error(`${what} must not be reached for a refused signal`);
};

function deps(lines: string[], registry: Registry): IngestDeps {
  return {
    policy: unreachable('policy'),
    store: { apply: unreachable('store.apply') } as unknown as IngestDeps['store'],
    flushes: { recorded: unreachable('flushes.recorded') },
    owners: { groupsOf: unreachable('owners.groupsOf'), forget: unreachable('owners.forget') },
    metrics: createMetrics(registry, { defaultMetrics: false }),
    now: () => 0,
    log: createLogger('warn', { write: (line: string) => void lines.push(line) }),
  };
}

const watched = (name: string): Signal => ({
  source: 'argocd-watch',
  cluster: 'prod-eu',
  owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
  project: '',
  destination: {},
  observedAt: 1,
  completeness: 'snapshot',
  resources: [{ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name, state: 'Modified' }],
});

describe('ingest refuses a signal whose identity holds a control, bidi or zero-width character', () => {
  it('skips it with a warning and a metric, touching no state', async () => {
    const lines: string[] = [];
    const registry = new Registry();
    const ingest = createIngest(deps(lines, registry));

    await expect(ingest(watched('pay\u202Ements'))).resolves.toEqual({
      outcome: 'refused',
      groups: [],
      findings: 0,
      field: 'resources.0.name',
      reason: 'must not contain control, bidi or zero-width characters (U+202E at 3)',
    });

    const metrics = await registry.metrics();
    expect(metrics).toContain('meshdrift_signals_refused_total{source="argocd-watch",field="resources.name"} 1');
    expect(lines).toHaveLength(1);
    const logged = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(logged).toMatchObject({ level: 40, source: 'argocd-watch', field: 'resources.0.name' });
    // The refused value is not written to the log either.
    expect(lines[0]).not.toContain('pay');
  });
});

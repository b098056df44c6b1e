import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.ts';

const text = async (m: ReturnType<typeof createMetrics>) => m.registry.metrics();

describe('gauges of shared state', () => {
  it('meshdrift_active_findings: a label set no longer listed drops to 0 instead of vanishing', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    m.setActiveFindings([
      { severity: 'critical', mesh: 'istio', category: 'security', count: 2 },
      { severity: 'high', mesh: 'gateway-api', category: 'traffic', count: 1 },
    ]);
    expect(await text(m)).toContain('meshdrift_active_findings{severity="critical",mesh="istio",category="security"} 2');
    m.setActiveFindings([{ severity: 'high', mesh: 'gateway-api', category: 'traffic', count: 3 }]);
    const after = await text(m);
    expect(after).toContain('meshdrift_active_findings{severity="critical",mesh="istio",category="security"} 0');
    expect(after).toContain('meshdrift_active_findings{severity="high",mesh="gateway-api",category="traffic"} 3');
  });

  it('meshdrift_queue_jobs: one series per queue and state', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    m.setQueueJobs('flush', { waiting: 0, delayed: 12 });
    m.setQueueJobs('deliver', { waiting: 3, failed: 1 });
    const out = await text(m);
    for (const line of ['queue="flush",state="waiting"} 0', 'queue="flush",state="delayed"} 12', 'queue="deliver",state="waiting"} 3', 'queue="deliver",state="failed"} 1']) {
      expect(out).toContain(`meshdrift_queue_jobs{${line}`);
    }
  });
});

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
    for (const line of [
      'queue="flush",state="waiting"} 0',
      'queue="flush",state="delayed"} 12',
      'queue="deliver",state="waiting"} 3',
      'queue="deliver",state="failed"} 1',
    ]) {
      expect(out).toContain(`meshdrift_queue_jobs{${line}`);
    }
  });
});

describe('meshdrift_app_drift_total is bounded (MESHDRIFT_APP_METRICS)', () => {
  const app = (name: string) => ({ cluster: 'prod', tool: 'argocd', kind: 'Application', namespace: 'argocd', name });
  const series = (out: string) => out.split('\n').filter((l) => l.startsWith('meshdrift_app_drift_total{'));
  const value = (out: string, name: string) =>
    Number(
      series(out)
        .find((l) => l.includes(`app="${name}"`))
        ?.split(' ')
        .at(-1) ?? Number.NaN,
    );

  it('top:N shows the N apps that drifted most and counts the others in one _other series, whatever the number of apps', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false, appMetrics: { mode: 'top', n: 2 } });
    m.appDrifted(app('busy'), 50);
    m.appDrifted(app('second'), 20);
    for (let i = 0; i < 20_000; i++) m.appDrifted(app(`anon-${i}`), 1);
    const out = await text(m);
    expect(series(out)).toHaveLength(3);
    expect(value(out, 'busy')).toBe(50);
    expect(value(out, 'second')).toBe(20);
    expect(value(out, '_other')).toBe(20_000);
    expect(out.length).toBeLessThan(16 * 1024);
    // Apps pushed out of the bounded table are counted as series folded.
    expect(out).toMatch(/meshdrift_limit_hits_total\{limit="app_series"\} \d{4,}/);
  });

  it('an app that starts drifting often after the table is full gets its own series, with its exact count', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false, appMetrics: { mode: 'top', n: 1 } });
    for (let i = 0; i < 500; i++) m.appDrifted(app(`anon-${i}`), 1);
    for (let i = 0; i < 3; i++) m.appDrifted(app('late'), 5);
    const first = await text(m);
    expect(value(first, 'late')).toBe(15);
    m.appDrifted(app('late'), 1);
    expect(value(await text(m), 'late')).toBe(value(first, 'late') + 1);
  });

  it('the table evicts its least counted app even after the least counted ones all counted up', async () => {
    // n 1: a table of 101 apps. Every app counted up past 1 leaves no app at the bottom count; the
    // next new app must evict one of the least counted (2), never the busiest (10).
    const m = createMetrics(new Registry(), { defaultMetrics: false, appMetrics: { mode: 'top', n: 1 } });
    m.appDrifted(app('busy'), 1);
    for (let i = 0; i < 100; i++) m.appDrifted(app(`anon-${i}`), 1);
    m.appDrifted(app('busy'), 9);
    for (let i = 0; i < 100; i++) m.appDrifted(app(`anon-${i}`), 1);
    for (let i = 0; i < 1000; i++) m.appDrifted(app(`new-${i}`), 1);
    const out = await text(m);
    expect(value(out, 'busy')).toBe(10);
    expect(value(out, '_other')).toBe(200 + 1000);
    expect(out).toMatch(/meshdrift_limit_hits_total\{limit="app_series"\} 1000/);
  });

  it('off: only the _other series; all: one series per app', async () => {
    const off = createMetrics(new Registry(), { defaultMetrics: false, appMetrics: { mode: 'off' } });
    off.appDrifted(app('a'), 2);
    off.appDrifted(app('b'), 3);
    expect(series(await text(off))).toEqual([
      'meshdrift_app_drift_total{app_cluster="_other",app_tool="_other",app_kind="_other",app_namespace="_other",app="_other"} 5',
    ]);
    const all = createMetrics(new Registry(), { defaultMetrics: false, appMetrics: { mode: 'all' } });
    all.appDrifted(app('a'), 2);
    all.appDrifted(app('b'), 3);
    expect(series(await text(all))).toHaveLength(2);
  });
});

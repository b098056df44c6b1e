import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BEST_EFFORT_MEANS, BEST_EFFORT_WARN_EVERY_MS, createBestEffort } from '../../src/best-effort.ts';
import { createLogger } from '../../src/log.ts';
import { BEST_EFFORT_OPERATIONS, createMetrics, type BestEffortOperation } from '../../src/metrics.ts';
import { bestEffortFailures } from '../support/best-effort.ts';

function setup(clock: { t: number }) {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { metrics, lines, bestEffort: createBestEffort({ metrics, log, now: () => clock.t }) };
}

describe('best-effort failures', () => {
  it('counts every failure by operation, and logs at most one line per operation per minute with the count since the last', async () => {
    const clock = { t: 1_000_000 };
    const { metrics, lines, bestEffort } = setup(clock);
    bestEffort.failed('slack_lock_release', new Error('Connection is closed.'));
    bestEffort.failed('slack_lock_release', new Error('Connection is closed.'));
    bestEffort.failed('remediation_lock_release', new Error('ECONNREFUSED'));
    clock.t += BEST_EFFORT_WARN_EVERY_MS - 1;
    bestEffort.failed('slack_lock_release', new Error('Connection is closed.'));
    expect(await bestEffortFailures(metrics, 'slack_lock_release')).toBe(3);
    expect(await bestEffortFailures(metrics, 'remediation_lock_release')).toBe(1);
    expect(lines.map((l) => [l.operation, l.failed, l.error, l.level])).toEqual([
      ['slack_lock_release', 1, 'Connection is closed.', 40],
      ['remediation_lock_release', 1, 'ECONNREFUSED', 40],
    ]);
    expect(lines[0]?.msg).toContain(BEST_EFFORT_MEANS.slack_lock_release);

    clock.t += 1;
    bestEffort.failed('slack_lock_release', new Error('Connection is closed.'));
    expect(lines.at(-1)).toMatchObject({ operation: 'slack_lock_release', failed: 3 });
    // A clock that went back logs at once.
    clock.t -= 10_000;
    bestEffort.failed('slack_lock_release', 'not an Error');
    expect(lines.at(-1)).toMatchObject({ operation: 'slack_lock_release', failed: 1, error: 'not an Error' });
    expect(lines).toHaveLength(4);
  });

  it("keeps an error's first line, cut to 300 characters", () => {
    const { lines, bestEffort } = setup({ t: 0 });
    bestEffort.failed('flush_promote', new Error(`${'x'.repeat(500)}\nsecond line`));
    expect(lines[0]?.error).toBe('x'.repeat(300));
  });

  it('attempt() resolves whatever the step does, reporting a rejection', async () => {
    const { metrics, bestEffort } = setup({ t: 0 });
    await expect(bestEffort.attempt('worker_close', async () => 'fine')).resolves.toBeUndefined();
    await expect(bestEffort.attempt('worker_close', () => Promise.reject(new Error('gone')))).resolves.toBeUndefined();
    expect(await bestEffortFailures(metrics, 'worker_close')).toBe(1);
  });

  it('never throws, even when the log cannot be written', () => {
    const bestEffort = createBestEffort({
      log: {
        warn: () => {
          throw new Error('stream destroyed');
        },
      } as never,
    });
    expect(() => bestEffort.failed('watchdog_due_read', new Error('x'))).not.toThrow();
  });

  it('exposes every operation at 0 before any failure, and says what each means', async () => {
    const { metrics } = setup({ t: 0 });
    for (const op of BEST_EFFORT_OPERATIONS) expect(await bestEffortFailures(metrics, op as BestEffortOperation)).toBe(0);
    const values = (await metrics.registry.getSingleMetric('meshdrift_best_effort_failures_total')?.get())?.values ?? [];
    expect(values.map((v) => v.labels.operation).sort()).toEqual([...BEST_EFFORT_OPERATIONS].sort());
    expect(Object.keys(BEST_EFFORT_MEANS).sort()).toEqual([...BEST_EFFORT_OPERATIONS].sort());
  });
});

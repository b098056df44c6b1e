import { type Job, UnrecoverableError } from 'bullmq';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { createMetrics } from '../../../src/metrics.ts';
import { DELIVER_JOB_NAME, handlerFor, settle, type JobHandler } from '../../../src/queue/job-handlers.ts';

describe('the deliver queue handler table', () => {
  const deliver: JobHandler = async () => 'delivered';
  const note: JobHandler = async () => 'told';

  it('runs a job by its name', () => {
    const table = new Map([
      [DELIVER_JOB_NAME, deliver],
      ['note', note],
    ]);
    expect(handlerFor(table, 'note')).toBe(note);
    expect(handlerFor(table, 'deliver')).toBe(deliver);
  });

  it('a name without a handler runs as a delivery, as the switch it replaces did', () => {
    expect(handlerFor(new Map([[DELIVER_JOB_NAME, deliver]]), 'something-older')).toBe(deliver);
  });

  it('with no delivery handler either, the job is unrecoverable (a dead letter), never dropped', () => {
    expect(() => handlerFor(new Map([['note', note]]), 'remediate')).toThrow(UnrecoverableError);
    expect(() => handlerFor(new Map(), 'deliver')).toThrow(/no handler for deliver-queue job "deliver"/);
  });
});

describe('settle counts each attempt by receiver name and type (issue #19)', () => {
  it('two Slack receivers are two series of meshdrift_notifications_total', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    const job = { attemptsMade: 0, opts: { attempts: 3 } } as unknown as Job;
    const at = (receiver: string) => ({ receiver, receiverType: 'slack', kind: 'delivery' as const, done: 'delivered', metrics, log: createLogger('silent') });
    await settle(job, undefined, { ok: true }, at('team-a'));
    await settle(job, undefined, { ok: true }, at('team-b'));
    await expect(settle(job, undefined, { ok: false, retryable: true, reason: 'HTTP 503' }, at('team-b'))).rejects.toThrow('HTTP 503');
    const out = await metrics.registry.metrics();
    expect(out).toContain('meshdrift_notifications_total{receiver="team-a",type="slack",outcome="success"} 1');
    expect(out).toContain('meshdrift_notifications_total{receiver="team-b",type="slack",outcome="success"} 1');
    expect(out).toContain('meshdrift_notifications_total{receiver="team-b",type="slack",outcome="retry"} 1');
  });
});

import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { DELIVER_JOB_NAME, handlerFor, type JobHandler } from '../../../src/queue/job-handlers.ts';

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

import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { closeWithinGrace, createShutdown } from '../../src/shutdown.ts';

const log = createLogger('silent');

describe('shutdown', () => {
  it('runs cleanups last-registered first, keeps going past one that fails, and runs each once', async () => {
    const shutdown = createShutdown(log);
    const ran: string[] = [];
    shutdown.onStop('redis', async () => void ran.push('redis'));
    shutdown.onStop('workers', async () => {
      ran.push('workers');
      throw new Error('boom');
    });
    shutdown.onStop('http', async () => void ran.push('http'));
    await shutdown.runCleanups();
    await shutdown.runCleanups();
    expect(ran).toEqual(['http', 'workers', 'redis']);
  });

  it('drains until done, and not past the deadline', async () => {
    const shutdown = createShutdown(log);
    expect(shutdown.draining()).toBe(false);
    let done = false;
    setTimeout(() => (done = true), 30);
    expect(await shutdown.drained(() => done)).toBe(true);
    shutdown.begin(0);
    expect(shutdown.draining()).toBe(true);
    expect(await shutdown.drained(() => false)).toBe(false);
  });

  it('a later begin never extends the deadline', async () => {
    const shutdown = createShutdown(log);
    shutdown.begin(0);
    shutdown.begin(60_000);
    expect(await shutdown.drained(() => false)).toBe(false);
  });

  it('closeWithinGrace waits for a close that ends, and gives up at the deadline on one that does not', async () => {
    const shutdown = createShutdown(log);
    let closed = false;
    expect(await closeWithinGrace(shutdown, async () => void (closed = true))).toBe(true);
    expect(closed).toBe(true);
    shutdown.begin(0);
    expect(await closeWithinGrace(shutdown, () => new Promise<void>(() => undefined))).toBe(false);
  });
});

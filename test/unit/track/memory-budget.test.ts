import { describe, expect, it } from 'vitest';
import { createMemoryBudget, withBudget } from '../../../src/track/memory-budget.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('memory budget (findings in flight)', () => {
  it('lets pieces run together while they fit, and holds the next until enough is given back', async () => {
    const budget = createMemoryBudget(10_000);
    const a = await budget.acquire(6_000);
    const b = await budget.acquire(4_000);
    expect(budget.inUse()).toBe(10_000);
    let third = false;
    const c = budget.acquire(1).then((release) => ((third = true), release));
    await tick();
    expect(third).toBe(false);
    a();
    expect(await c).toBeTypeOf('function');
    expect(third).toBe(true);
    b();
    expect(budget.inUse()).toBe(1);
  });

  it('runs a piece larger than the whole budget alone, never forever waiting', async () => {
    const budget = createMemoryBudget(10_000);
    const small = await budget.acquire(10);
    let big = false;
    const waiting = budget.acquire(50_000).then((release) => ((big = true), release));
    await tick();
    expect(big).toBe(false);
    small();
    const release = await waiting;
    expect(budget.inUse()).toBe(10_000);
    release();
    expect(budget.inUse()).toBe(0);
  });

  it('serves in arrival order: a big piece is not starved by small ones arriving after it', async () => {
    const budget = createMemoryBudget(100);
    const first = await budget.acquire(60);
    const order: string[] = [];
    const big = budget.acquire(80).then((r) => (order.push('big'), r));
    const small = budget.acquire(10).then((r) => (order.push('small'), r));
    await tick();
    expect(order).toEqual([]);
    first();
    (await big)();
    (await small)();
    expect(order).toEqual(['big', 'small']);
  });

  it('gives back on failure, and a release called twice counts once', async () => {
    const budget = createMemoryBudget(100);
    await expect(withBudget(budget, 50, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(budget.inUse()).toBe(0);
    const release = await budget.acquire(30);
    release();
    release();
    expect(budget.inUse()).toBe(0);
    expect(() => createMemoryBudget(0)).toThrow(RangeError);
  });
});

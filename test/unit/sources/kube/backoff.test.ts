import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from '../../../../src/sources/kube/backoff.ts';

describe('restart backoff', () => {
  it.each([
    [0, 0, 500],
    [0, 0.999999, 1_000],
    [1, 0, 1_000],
    [3, 0.5, 6_000],
    [5, 0, 16_000],
    [6, 1, 60_000],
    [40, 0, 30_000],
  ])('attempt %i with random %f waits %i ms', (attempt, random, ms) => {
    expect(backoffDelay(attempt, DEFAULT_BACKOFF, () => random)).toBe(ms);
  });

  it('never goes below half nor above the cap', () => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const d = backoffDelay(attempt, { baseMs: 100, maxMs: 5_000 });
      const nominal = Math.min(5_000, 100 * 2 ** attempt);
      expect(d).toBeGreaterThanOrEqual(nominal / 2);
      expect(d).toBeLessThanOrEqual(nominal);
    }
  });
});

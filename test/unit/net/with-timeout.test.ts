import { describe, expect, it } from 'vitest';
import { withTimeout } from '../../../src/net/with-timeout.ts';

describe('withTimeout', () => {
  it('answers what the promise answers when it settles first', async () => {
    await expect(withTimeout(Promise.resolve(7), 60_000, 'list')).resolves.toBe(7);
    await expect(withTimeout(Promise.reject(new Error('HTTP 403')), 60_000, 'list')).rejects.toThrow('HTTP 403');
  });
  it('rejects with what timed out when the promise does not settle', async () => {
    await expect(withTimeout(new Promise<never>(() => {}), 5, 'read lease')).rejects.toThrow('read lease timed out after 5ms');
  });
});

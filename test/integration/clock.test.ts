import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSharedClock, type TimeSource } from '../../src/clock.ts';
import { createLogger } from '../../src/log.ts';
import { redisUrl, waitFor } from '../support/redis.ts';

/** The shared clock (clock.ts) against the real Redis TIME, and what it does when TIME fails. */

const SKEW_MS = 10 * 60_000;
let redis: Redis;
let logs: string;
const log = () =>
  createLogger(
    'debug',
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    }),
  );

beforeEach(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  logs = '';
});
afterEach(() => redis.disconnect());

describe('the shared clock', () => {
  it('corrects a local clock 10 minutes ahead to Redis TIME, reports the offset and warns once', async () => {
    const offsets: number[] = [];
    const clock = createSharedClock({ redis, local: () => Date.now() + SKEW_MS, log: log(), onOffset: (s) => offsets.push(s) });
    await clock.start();
    try {
      // Redis runs on this machine: its TIME is this process' clock, within the round trip.
      expect(Math.abs(clock.offsetMs() + SKEW_MS)).toBeLessThan(2_000);
      expect(Math.abs(clock.now() - Date.now())).toBeLessThan(2_000);
      expect(offsets).toHaveLength(1);
      expect(offsets[0]).toBeCloseTo(clock.offsetMs() / 1000, 3);
      expect(logs).toContain('local clock is off from Redis TIME');
      await clock.sync();
      expect(logs.match(/local clock is off/g)).toHaveLength(1);
    } finally {
      clock.stop();
    }
  });

  it('an unskewed clock keeps its time and does not warn', async () => {
    const clock = createSharedClock({ redis, log: log() });
    await clock.start();
    clock.stop();
    expect(Math.abs(clock.offsetMs())).toBeLessThan(1_000);
    expect(logs).not.toContain('local clock is off');
  });

  it('a failing TIME read keeps the last offset, is counted and logged once per run of failures', async () => {
    let failing = false;
    const source: TimeSource = { time: () => (failing ? Promise.reject(new Error('Connection is closed.')) : redis.time()) };
    let errors = 0;
    const clock = createSharedClock({ redis: source, local: () => Date.now() + SKEW_MS, log: log(), syncIntervalMs: 20, onSyncError: () => errors++ });
    await clock.start();
    try {
      const measured = clock.offsetMs();
      failing = true;
      await waitFor(() => errors >= 3, 10_000, 'failed syncs');
      expect(clock.offsetMs()).toBe(measured);
      expect(logs.match(/clock sync with Redis TIME failed/g)).toHaveLength(1);
      failing = false;
      await waitFor(() => logs.includes('clock sync with Redis TIME works again'), 10_000, 'sync works again');
    } finally {
      clock.stop();
    }
  });

  it('start fails when Redis TIME never answers (after its retries), rather than run on an unknown clock', async () => {
    let calls = 0;
    const source: TimeSource = {
      time: () => {
        calls++;
        return Promise.reject(new Error('ECONNREFUSED'));
      },
    };
    const clock = createSharedClock({ redis: source, log: log(), startAttempts: 2 });
    await expect(clock.start()).rejects.toThrow(/cannot read the shared clock \(Redis TIME\): ECONNREFUSED/);
    expect(calls).toBe(2);
  });
});

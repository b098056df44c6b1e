import type { Redis } from 'ioredis';

/**
 * Paces Slack calls per channel. Slack allows about one message per second per channel, with short
 * bursts (reference/routing.md §5), and answers 429 + Retry-After beyond that.
 */
export interface SlackRateLimiter {
  /**
   * Takes `slots` consecutive send slots on `channel` (default 1): the first now, the others one
   * interval apart, so the channel stays within its rate on average. Resolves 0 when the caller may
   * send now (the slots are taken), otherwise the ms until it may try again (nothing taken).
   */
  reserve(channel: string, slots?: number): Promise<number>;
  /** Slack answered 429: no one sends to `channel` for the next `ms` (nothing shortens a longer block). */
  block(channel: string, ms: number): Promise<void>;
}

/** No pacing: every call may go at once (tests, or a single replica posting rarely). */
export const noSlackRateLimit: SlackRateLimiter = {
  reserve: () => Promise.resolve(0),
  block: () => Promise.resolve(),
};

export interface RedisSlackRateLimitOptions {
  /** Time between two calls on one channel; default 1,000 ms (Slack's ~1 message/s per channel). */
  intervalMs?: number;
  /**
   * Calls that may go back to back on an idle channel; default 1, i.e. strictly one call per interval.
   * Slack tolerates short bursts, but does not say how long, and other apps post to the same channel.
   */
  burst?: number;
}

export const DEFAULT_SLACK_RATE_INTERVAL_MS = 1_000;
export const DEFAULT_SLACK_RATE_BURST = 1;

// GCRA on one key per channel holding the "theoretical arrival time" (TAT) in epoch ms: a call is
// allowed while TAT - now <= (burst - 1) * interval, and each slot taken moves TAT by one interval.
// The clock is Redis's (TIME), not the caller's: replicas with skewed clocks must still agree.
// replicate_commands() lets a script write after TIME on Redis 5 and 6 (it is the default from 7).
const PRELUDE = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
`;

// ARGV: intervalMs, burst, slots. Returns 0 (slots taken) or the ms to wait.
const RESERVE = `${PRELUDE}
local interval = tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
if tat - now > tolerance then return tat - tolerance - now end
local nextTat = tat + tonumber(ARGV[3]) * interval
redis.call('SET', KEYS[1], nextTat, 'PX', nextTat - now)
return 0
`;

// ARGV: intervalMs, burst, blockMs. After a 429 the first call may go once blockMs have passed.
const BLOCK = `${PRELUDE}
local tolerance = (tonumber(ARGV[2]) - 1) * tonumber(ARGV[1])
local blocked = now + tonumber(ARGV[3]) + tolerance
if blocked > tat then redis.call('SET', KEYS[1], blocked, 'PX', blocked - now) end
return 0
`;

/**
 * Redis-backed limiter shared by every replica and every receiver that uses the same `keyPrefix`.
 * Key: `${keyPrefix}:slack:rate:${channel}` (a channel given as `#name` is keyed without the `#`);
 * it expires when the channel is idle again. Configure a channel the same way (ideally by ID)
 * everywhere: `#mesh-drift` and `C0123ABCD` are different keys.
 */
export function createRedisSlackRateLimiter(redis: Redis, keyPrefix: string, opts: RedisSlackRateLimitOptions = {}): SlackRateLimiter {
  const intervalMs = opts.intervalMs ?? DEFAULT_SLACK_RATE_INTERVAL_MS;
  const burst = opts.burst ?? DEFAULT_SLACK_RATE_BURST;
  if (!Number.isInteger(intervalMs) || intervalMs <= 0) throw new Error(`slack rate limit intervalMs must be a positive integer, got ${intervalMs}`);
  if (!Number.isInteger(burst) || burst < 1) throw new Error(`slack rate limit burst must be an integer >= 1, got ${burst}`);
  const key = (channel: string): string => `${keyPrefix}:slack:rate:${channel.replace(/^#/, '')}`;

  return {
    async reserve(channel, slots = 1) {
      if (!Number.isInteger(slots) || slots < 1) throw new Error(`slack rate limit slots must be an integer >= 1, got ${slots}`);
      const wait: unknown = await redis.eval(RESERVE, 1, key(channel), intervalMs, burst, slots);
      if (typeof wait !== 'number') throw new Error(`slack rate limit script answered ${typeof wait}`);
      return wait;
    },
    async block(channel, ms) {
      const blockMs = Math.ceil(ms);
      if (!(blockMs > 0)) return;
      await redis.eval(BLOCK, 1, key(channel), intervalMs, burst, blockMs);
    },
  };
}

import { Redis } from 'ioredis';
import type { Logger } from './log.ts';

/**
 * meshdrift's three Redis connections (whether a failure means Redis is down: net/unavailable.ts). The clients are lazy: the
 * first command (BullMQ's queue setup does one as soon as the queues are built) or `connected()`
 * opens them.
 */

const retryStrategy = (times: number): number => Math.min(times * 200, 2000);

export interface RedisConnections {
  /** meshdrift's own commands: stores, the shared clock. Fails fast when Redis is down (no offline queue). */
  client: Redis;
  /**
   * BullMQ's queues (adding jobs, counts, the stored notifications), apart from `client` so that
   * their scripts never queue ahead of a group commit on the same socket (issue #15). Fails fast too.
   */
  queue: Redis;
  /** BullMQ workers, which block on Redis (maxRetriesPerRequest null, as BullMQ wants). */
  worker: Redis;
}

/**
 * `client` and `queue` auto-pipeline (issue #15): the commands issued within one turn of the event
 * loop (concurrent webhooks' reads and commits, their flush adds) go to Redis in one write. Order on
 * the connection is kept; a failure is still each command's own.
 */
export function createRedisConnections(url: string, log: Logger): RedisConnections {
  const failFast = () =>
    new Redis(url, {
      lazyConnect: true,
      // Webhooks must fail fast with 503 when Redis is down rather than hang in an offline queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 5000,
      retryStrategy,
      enableAutoPipelining: true,
    });
  const client = failFast();
  const queue = failFast();
  const worker = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy });
  for (const [name, r] of [
    ['client', client],
    ['queue', queue],
    ['worker', worker],
  ] as const) {
    r.on('error', (err: Error) => log.warn({ connection: name, error: err.message }, 'redis connection error'));
  }
  return { client, queue, worker };
}

/** Connects a lazy client (BullMQ may already have started it) and waits until it is ready. */
export async function connected(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait') {
    await redis.connect();
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis not ready within ${timeoutMs}ms (status ${redis.status})`)), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

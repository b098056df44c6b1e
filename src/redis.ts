import { Redis } from 'ioredis';
import type { Logger } from './log.ts';

/**
 * meshdrift's two Redis connections and how to tell that Redis is down. The clients are lazy: the
 * first command (BullMQ's queue setup does one as soon as the queues are built) or `connected()`
 * opens them.
 */

const retryStrategy = (times: number): number => Math.min(times * 200, 2000);

export interface RedisConnections {
  /** Commands: stores, queues, the shared clock. Fails fast when Redis is down (no offline queue). */
  client: Redis;
  /** BullMQ workers, which block on Redis (maxRetriesPerRequest null, as BullMQ wants). */
  worker: Redis;
}

export function createRedisConnections(url: string, log: Logger): RedisConnections {
  const client = new Redis(url, {
    lazyConnect: true,
    // Webhooks must fail fast with 503 when Redis is down rather than hang in an offline queue.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy,
  });
  const worker = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy });
  for (const [name, r] of [['client', client], ['worker', worker]] as const) {
    r.on('error', (err: Error) => log.warn({ connection: name, error: err.message }, 'redis connection error'));
  }
  return { client, worker };
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

/** Socket error codes of a connection that failed or broke (Node's system errors, ioredis's connect timeout). */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
/** ioredis's own errors for a command it could not send: by name, or (plain Errors) by their exact text. */
const DOWN_ERROR_NAMES = new Set(['MaxRetriesPerRequestError']);
const DOWN_MESSAGES = new Set(['Connection is closed.', "Stream isn't writeable and enableOfflineQueue options is false"]);

function isConnectionFailure(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 3) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  if (DOWN_ERROR_NAMES.has(err.name) || DOWN_MESSAGES.has(err.message)) return true;
  return isConnectionFailure(err.cause, depth + 1);
}

/**
 * Whether a failure means Redis is unavailable (then 503 and the sender retries): the client is not
 * ready, or the error is a connection failure, told by its code or ioredis's error type, not by
 * words in its text (an Argo CD "could not connect" is not Redis being down).
 */
export function isRedisDown(redis: Pick<Redis, 'status'>, err: unknown): boolean {
  return redis.status !== 'ready' || isConnectionFailure(err);
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { primariesOf } from '../redis.ts';

export interface FoundRedis {
  url: string;
  /** True when this process started its own redis-server (stopped by stop()). */
  started: boolean;
  stop(): Promise<void>;
}

export class RedisNotFoundError extends Error {
  override readonly name = 'RedisNotFoundError';
}

export const HOW_TO_GET_REDIS = [
  'meshdrift needs Redis. Either:',
  '  - set REDIS_URL=redis://host:6379 to point at one,',
  '  - run `docker compose up -d redis` in this repository (then REDIS_URL=redis://127.0.0.1:6379),',
  '  - or install the OS package (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`);',
  '    with `redis-server` on PATH meshdrift starts a throwaway one for the demo and the tests.',
].join('\n');

/** Whether a Redis answers PING at `url` within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it; nothing holds it now). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Deletes the keys under `${prefix}:` (SCAN, never FLUSHALL: the Redis may be shared). SCAN sees one
 * node's keys: on a Cluster it runs on every primary (with a hash-tagged prefix they are all on one).
 */
export async function deleteKeysByPrefix(redis: Redis, prefix: string): Promise<void> {
  for (const node of primariesOf(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await node.del(...keys);
    } while (cursor !== '0');
  }
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * REDIS_URL if set (it must answer), else 127.0.0.1:6379, else a throwaway redis-server on a free
 * port if one is installed, else a RedisNotFoundError saying how to get Redis.
 */
export async function findRedis(env: NodeJS.ProcessEnv = process.env): Promise<FoundRedis> {
  const none = async (): Promise<void> => undefined;
  const configured = env.REDIS_URL?.trim();
  if (configured) {
    if (await redisAnswers(configured, 2000)) return { url: configured, started: false, stop: none };
    throw new RedisNotFoundError(`REDIS_URL is set but nothing answers PING there.\n${HOW_TO_GET_REDIS}`);
  }
  const local = 'redis://127.0.0.1:6379';
  if (await redisAnswers(local)) return { url: local, started: false, stop: none };
  if (!onPath('redis-server')) throw new RedisNotFoundError(`No Redis answers at 127.0.0.1:6379 and redis-server is not installed.\n${HOW_TO_GET_REDIS}`);

  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  };
  for (let i = 0; i < 50; i++) {
    if (child.exitCode !== null) break;
    if (await redisAnswers(url, 200)) return { url, started: true, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new RedisNotFoundError(`Started redis-server on port ${port} but it did not answer within 5s.\n${HOW_TO_GET_REDIS}`);
}

import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { findRedis } from '../../src/cli/redis-finder.ts';
import { infoFields } from '../../src/track/redis-preflight.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/**
 * Finds Redis the way `meshdrift demo` does (REDIS_URL, 127.0.0.1:6379, or a throwaway
 * redis-server). Integration tests never skip: with no Redis the whole run fails, saying how to
 * get one.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await findRedis(process.env);
  await requireNoeviction(redis.url).catch(async (err: unknown) => {
    await redis.stop();
    throw err;
  });
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}

/**
 * meshdrift refuses to start on a Redis that evicts keys (issue #20), and so would every test that
 * starts the service: say it once, with the fix, rather than in every test. The tests never change
 * the setting of a Redis they share, and there is no switch to skip the preflight.
 */
async function requireNoeviction(url: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    const policy = infoFields(await client.info('memory')).get('maxmemory_policy');
    if (policy !== undefined && policy !== 'noeviction') {
      throw new Error(
        `the test Redis at ${url} has maxmemory-policy ${policy}; meshdrift refuses it: run redis-cli -u ${url} CONFIG SET maxmemory-policy noeviction (or point REDIS_URL at another Redis)`,
      );
    }
  } finally {
    client.disconnect();
  }
}

import type { TestProject } from 'vitest/node';
import { findRedis } from '../../src/cli/redis-finder.ts';

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
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}

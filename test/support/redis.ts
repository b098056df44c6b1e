import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { deleteKeysByPrefix } from '../../src/cli/redis-finder.ts';

export function redisUrl(): string {
  return inject('redisUrl');
}

/**
 * A unique key prefix for one test: every key and queue the test makes lives under it. With
 * MESHDRIFT_TEST_KEY_PREFIX_TAG=1 it is a Redis Cluster hash tag (`{test-…}`), as a Cluster
 * deployment's is (issue #20): the suite then runs every script and key with the tagged form.
 */
export function testPrefix(name: string): string {
  const prefix = `test-${name}-${randomUUID().slice(0, 8)}`;
  return process.env.MESHDRIFT_TEST_KEY_PREFIX_TAG === '1' ? `{${prefix}}` : prefix;
}

/** Deletes this prefix's keys only (never FLUSHALL: the Redis is shared). */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    await deleteKeysByPrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

/** Polls `check` until it returns true or `timeoutMs` passes (bounded, for async pipelines). */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
}

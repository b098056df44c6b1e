import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { RedisPreflightError } from '../../src/track/redis-preflight.ts';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { testPrefix, waitFor } from '../support/redis.ts';
import { startService, stopService } from '../support/service.ts';

// Issue #20: meshdrift refuses a Redis that evicts keys or is a replica, says the fix in one line,
// and checks again at every reconnect (a restart can bring the old setting back).
const servers: OwnRedis[] = [];
let app: (App & { url: string }) | undefined;
let appRedis = '';
const prefix = testPrefix('preflight');
const dirs: string[] = [];

afterEach(async () => {
  if (app) await stopService(app, appRedis, prefix).catch(() => undefined);
  app = undefined;
  for (const s of servers.splice(0)) await s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function own(args: string[]): Promise<OwnRedis> {
  const s = await startOwnRedis(args);
  servers.push(s);
  return s;
}

async function preflightMetric(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^meshdrift_redis_preflight\{check="(\w+)"\} (-?\d+)$/gm)) out[m[1] ?? ''] = Number(m[2]);
  return out;
}

describe('the Redis preflight', () => {
  it('refuses volatile-lru with the fix, starts once it is noeviction, and fails /readyz when a restart brings it back', async () => {
    const redis = await own(['--maxmemory-policy', 'volatile-lru']);
    appRedis = redis.url;
    const refused = await startService({ redisUrl: redis.url, prefix }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(RedisPreflightError);
    const message = (refused as Error).message;
    expect(message).toContain('maxmemory-policy volatile-lru');
    expect(message).toContain('CONFIG SET maxmemory-policy noeviction');
    expect(message).not.toContain('\n');

    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    admin.disconnect();
    app = await startService({ redisUrl: redis.url, prefix });
    expect(await preflightMetric(app.url)).toEqual({ role: 1, maxmemory_policy: 1, aof: 0 });
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);

    // The CONFIG SET was not persisted: the restart brings volatile-lru back; the reconnect finds it.
    await redis.stop();
    await redis.start();
    const url = app.url;
    await waitFor(async () => (await preflightMetric(url)).maxmemory_policy === 0, 30_000, 'the preflight after the reconnect');
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { error: string }).error).toMatch(/^redis preflight: .*maxmemory-policy volatile-lru/);
  });

  it('refuses a Cluster node given as REDIS_URL, saying to use REDIS_CLUSTER_NODES', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshdrift-preflight-'));
    dirs.push(dir);
    const node = await own(['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--dir', dir]);
    appRedis = node.url;
    const refused = await startService({ redisUrl: node.url, prefix }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(RedisPreflightError);
    expect((refused as Error).message).toMatch(/is a Redis Cluster node: set REDIS_CLUSTER_NODES/);
  });

  it('refuses a replica, and reports AOF when it is on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshdrift-preflight-'));
    dirs.push(dir);
    const primary = await own(['--appendonly', 'yes', '--dir', dir]);
    const replica = await own(['--replicaof', '127.0.0.1', String(primary.port)]);
    appRedis = primary.url;
    const refused = await startService({ redisUrl: replica.url, prefix }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(RedisPreflightError);
    expect((refused as Error).message).toMatch(/is a slave, not a primary/);
    app = await startService({ redisUrl: primary.url, prefix });
    expect(await preflightMetric(app.url)).toEqual({ role: 1, maxmemory_policy: 1, aof: 1 });
  });
});

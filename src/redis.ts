import type { Writable } from 'node:stream';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from './log.ts';

/**
 * meshdrift's three Redis connections (whether a failure means Redis is down: net/unavailable.ts). The clients are lazy: the
 * first command (BullMQ's queue setup does one as soon as the queues are built) or `connected()`
 * opens them.
 */

const retryStrategy = (times: number): number => Math.min(times * 200, 2000);

/** A host and port, from REDIS_SENTINELS or REDIS_CLUSTER_NODES. */
export interface RedisHostPort {
  host: string;
  port: number;
}

/**
 * Where Redis is (issue #20): one server by URL (`redis://`, `rediss://` for TLS), a primary that
 * Sentinel names (ioredis asks the sentinels and follows a failover), or a Redis Cluster.
 */
export type RedisTarget =
  | { mode: 'url'; url: string }
  | { mode: 'sentinel'; sentinels: RedisHostPort[]; name: string; sentinelPassword?: string | undefined }
  | { mode: 'cluster'; nodes: RedisHostPort[] };

export interface RedisSettings {
  target: RedisTarget;
  /** The data nodes' credentials (Sentinel and Cluster; a URL carries its own). */
  username?: string | undefined;
  password?: string | undefined;
  /** TLS material (PEM); any of it turns TLS on for Sentinel and Cluster (a URL says `rediss://`). */
  tls?: { ca?: Buffer | undefined; cert?: Buffer | undefined; key?: Buffer | undefined } | undefined;
}

/**
 * After a failover, a connection still open to the old primary (now a replica) answers writes with
 * READONLY: 2 = reconnect (Sentinel then names the new primary) and send the command again
 * (ioredis README, "Reconnect on Error").
 */
export const reconnectOnReadonly = (err: Error): 2 | false => (err.message.startsWith('READONLY') ? 2 : false);

/** A target's place for logs and errors, never its credentials. */
export function describeTarget(target: RedisTarget): string {
  if (target.mode === 'sentinel') return `sentinel primary "${target.name}" via ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
  if (target.mode === 'cluster') return `cluster ${target.nodes.map((s) => `${s.host}:${s.port}`).join(',')}`;
  try {
    const u = new URL(target.url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'REDIS_URL';
  }
}

function tlsOptions(settings: RedisSettings): RedisOptions['tls'] | undefined {
  const t = settings.tls;
  if (!t || (t.ca === undefined && t.cert === undefined && t.key === undefined)) return undefined;
  return { ...(t.ca ? { ca: t.ca } : {}), ...(t.cert ? { cert: t.cert } : {}), ...(t.key ? { key: t.key } : {}) };
}

/**
 * One client for `settings` with `options`. A Cluster client is typed as `Redis`: the commands
 * meshdrift sends are the same, every key it writes shares one hash tag (MESHDRIFT_KEY_PREFIX
 * `{…}`), and what differs (SCAN, INFO and CONFIG reach one node) goes through `primariesOf`.
 */
export function createRedisClient(settings: RedisSettings, options: RedisOptions, cluster: Pick<ClusterOptions, 'enableReadyCheck'> = {}): Redis {
  const tls = tlsOptions(settings);
  const auth = { ...(settings.username ? { username: settings.username } : {}), ...(settings.password ? { password: settings.password } : {}) };
  const base: RedisOptions = { ...options, reconnectOnError: reconnectOnReadonly };
  const { target } = settings;
  if (target.mode === 'url') {
    // rediss:// turns TLS on by itself; the files add a CA or a client certificate.
    return new Redis(target.url, { ...base, ...(tls && target.url.startsWith('rediss://') ? { tls } : {}) });
  }
  if (target.mode === 'sentinel') {
    return new Redis({
      ...base,
      ...auth,
      sentinels: target.sentinels,
      name: target.name,
      ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
      ...(tls ? { tls, enableTLSForSentinelMode: true } : {}),
      sentinelRetryStrategy: retryStrategy,
    });
  }
  const { enableOfflineQueue, enableAutoPipelining, lazyConnect, ...perNode } = base;
  const clusterOptions: ClusterOptions = {
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(enableAutoPipelining !== undefined ? { enableAutoPipelining } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    clusterRetryStrategy: retryStrategy,
    ...cluster,
    redisOptions: { ...perNode, ...auth, ...(tls ? { tls } : {}) },
  };
  return new Cluster(target.nodes, clusterOptions) as unknown as Redis;
}

/** Whether a client (from createRedisClient) is a Redis Cluster client. */
export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

/**
 * The clients that reach every primary: the client itself, or for a Cluster one per primary node
 * (for SCAN, INFO, CONFIG: on a Cluster client they reach one node only).
 */
export function primariesOf(redis: Redis): Redis[] {
  return isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
}

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
 * The commands `client` and `queue` send within one turn of the event loop (concurrent webhooks'
 * reads and commits, their flush adds) go to Redis in one write (issue #15). `client` (the webhook
 * path) writes each command to its socket as it is issued, the socket holding them until the turn
 * ends ({@link coalesceWrites}): the same one write as ioredis's auto-pipelining, without its
 * pipeline object, wrapper promise and deferred callback per command (measured: ~7 % less CPU per
 * Flux webhook, docs/BENCHMARKS.md). A Cluster client, and `queue` (BullMQ's), auto-pipeline.
 * Order on the connection is kept; a failure is still each command's own.
 */
export function createRedisConnections(settings: RedisSettings | string, log: Logger): RedisConnections {
  const s: RedisSettings = typeof settings === 'string' ? { target: { mode: 'url', url: settings } } : settings;
  const failFast = (coalesce: boolean) =>
    createRedisClient(s, {
      lazyConnect: true,
      // Webhooks must fail fast with 503 when Redis is down rather than hang in an offline queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 5000,
      retryStrategy,
      enableAutoPipelining: !coalesce,
    });
  const coalesce = s.target.mode !== 'cluster';
  const client = failFast(coalesce);
  if (coalesce) client.on('connect', () => coalesceWrites(client.stream));
  const queue = failFast(false);
  const worker = createWorkerConnection(s);
  for (const [name, r] of [
    ['client', client],
    ['queue', queue],
    ['worker', worker],
  ] as const) {
    r.on('error', (err: Error) => log.warn({ connection: name, error: err.message }, 'redis connection error'));
  }
  return { client, queue, worker };
}

/**
 * Holds what is written to `stream` from the first write of a turn of the event loop until that turn's
 * I/O callbacks are done (setImmediate), then sends it in one system call (net.Socket's writev):
 * what concurrent requests write in one turn leaves together, as ioredis's auto-pipelining does.
 * Applied to each new socket of a connection (ioredis makes one per connect).
 */
export function coalesceWrites(stream: Writable): void {
  const write = stream.write;
  let corked = false;
  const release = (): void => {
    corked = false;
    stream.uncork();
  };
  stream.write = function (this: Writable, ...args: Parameters<Writable['write']>): boolean {
    if (!corked) {
      corked = true;
      stream.cork();
      setImmediate(release);
    }
    return Reflect.apply(write, this, args) as boolean;
  } as Writable['write'];
}

/**
 * A connection for BullMQ workers, which block on Redis (maxRetriesPerRequest null, as BullMQ
 * wants); the worker watchdog (src/queue/worker-watchdog.ts) makes a new one for each worker it
 * replaces. Its errors are logged like the others'.
 */
export function createWorkerConnection(settings: RedisSettings, log?: Logger): Redis {
  // No Cluster ready check (issue #20): ioredis's Cluster connect() runs CLUSTER INFO once the slots
  // are read and, while a failover leaves cluster_state:fail, reconnects without ever settling the
  // promise that connect() returned. BullMQ's blocking-connection recovery awaits that promise, so
  // its worker never fetched again. Without the check the connection is ready at once; a command
  // sent while the cluster is down gets CLUSTERDOWN, which ioredis retries, and BullMQ after it.
  const worker = createRedisClient(settings, { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy }, { enableReadyCheck: false });
  log && worker.on('error', (err: Error) => log.warn({ connection: 'worker', error: err.message }, 'redis connection error'));
  return worker;
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

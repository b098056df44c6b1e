import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, redisAnswers } from '../../src/cli/redis-finder.ts';
import { waitFor } from './redis.ts';

/**
 * Real Redis topologies on loopback ports for the failover tests (issue #20): a Sentinel set (a
 * primary, a replica, 3 sentinels) and a Redis Cluster (3 primaries, each with a replica), from the
 * Debian packages redis-server and redis-sentinel. Every process and the temp dir go in stop(), also
 * after a failure; every wait is bounded.
 */

export const SENTINEL_NAME = 'meshdrift-ha';

interface Proc {
  port: number;
  child: ChildProcess;
}

/** Whether the binaries are installed (with CI=true the tests fail without them; .ci/install-packages installs them). */
export function haveRedisBinaries(): boolean {
  return ['redis-server', 'redis-sentinel', 'redis-cli'].every((c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0);
}

class Procs {
  readonly dir = mkdtempSync(join(tmpdir(), 'meshdrift-redis-ha-'));
  readonly all: Proc[] = [];

  async server(args: string[], port?: number): Promise<Proc> {
    const p = port ?? (await freePort());
    const dir = join(this.dir, String(p));
    spawnSync('mkdir', ['-p', dir]);
    const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--dir', dir, '--maxmemory-policy', 'noeviction', ...args], {
      stdio: 'ignore',
    });
    const proc = { port: p, child };
    this.all.push(proc);
    await waitFor(() => redisAnswers(`redis://127.0.0.1:${p}`, 200), 10_000, `redis-server on ${p}`);
    return proc;
  }

  async sentinel(primaryPort: number): Promise<Proc> {
    const port = await freePort();
    const conf = join(this.dir, `sentinel-${port}.conf`);
    // The sentinel rewrites its own file (what it learnt), so each has its own, writable.
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
        `sentinel failover-timeout ${SENTINEL_NAME} 10000`,
        `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-sentinel', [conf], { stdio: 'ignore' });
    const proc = { port, child };
    this.all.push(proc);
    await waitFor(() => redisAnswers(`redis://127.0.0.1:${port}`, 200), 10_000, `redis-sentinel on ${port}`);
    return proc;
  }

  kill(port: number): void {
    const p = this.all.find((x) => x.port === port && x.child.exitCode === null);
    p?.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.all.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
            const timer = setTimeout(resolve, 5_000);
            p.child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            p.child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function ask<T>(port: number, f: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  try {
    await r.connect();
    return await f(r);
  } finally {
    r.disconnect();
  }
}

export interface SentinelSet {
  /** REDIS_SENTINELS for meshdrift. */
  sentinels: string;
  primaryPort(): number;
  /** kill -9 of the primary; resolves with the port the sentinels promote (bounded). */
  killPrimary(): Promise<number>;
  stop(): Promise<void>;
}

/** The primary the sentinels name now (SENTINEL get-master-addr-by-name), or undefined. */
async function namedPrimary(sentinelPort: number): Promise<number | undefined> {
  const addr = await ask(sentinelPort, (r) => r.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME)).catch(() => null);
  return Array.isArray(addr) && typeof addr[1] === 'string' ? Number(addr[1]) : undefined;
}

export async function startSentinelSet(): Promise<SentinelSet> {
  const procs = new Procs();
  try {
    // The primary persists as production runs it (AOF everysec); so does the replica once promoted.
    const primary = await procs.server(['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '']);
    const replica = await procs.server(['--appendonly', 'yes', '--save', '', '--replicaof', '127.0.0.1', String(primary.port)]);
    await waitFor(async () => (await ask(replica.port, (r) => r.info('replication'))).includes('master_link_status:up'), 15_000, 'the replica in sync');
    const sentinels: Proc[] = [];
    for (let i = 0; i < 3; i++) sentinels.push(await procs.sentinel(primary.port));
    // Each sentinel has found the replica and the two others (hello messages every 2 s).
    await waitFor(
      async () => {
        const seen = await Promise.all(
          sentinels.map((s) =>
            ask(s.port, async (r) => {
              const master = (await r.call('SENTINEL', 'master', SENTINEL_NAME)) as string[];
              const field = (k: string) => Number(master[master.indexOf(k) + 1]);
              return field('num-slaves') >= 1 && field('num-other-sentinels') >= 2;
            }).catch(() => false),
          ),
        );
        return seen.every(Boolean);
      },
      30_000,
      'the sentinels to know the replica and each other',
    );
    let current = primary.port;
    return {
      sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      primaryPort: () => current,
      async killPrimary() {
        const old = current;
        procs.kill(old);
        const first = sentinels[0]?.port ?? 0;
        await waitFor(
          async () => {
            const now = await namedPrimary(first);
            return now !== undefined && now !== old;
          },
          60_000,
          'the sentinels to promote the replica',
        );
        current = (await namedPrimary(first)) ?? current;
        return current;
      },
      stop: () => procs.stop(),
    };
  } catch (err) {
    await procs.stop();
    throw err;
  }
}

export interface RedisClusterSet {
  /** REDIS_CLUSTER_NODES for meshdrift. */
  nodes: string;
  /**
   * kill -9 of the primary serving `key`'s slot (`other`: of another primary, one that serves none
   * of meshdrift's keys); resolves with the port of the replica that took over (bounded).
   */
  killPrimaryOf(key: string, opts?: { other?: boolean }): Promise<number>;
  stop(): Promise<void>;
}

/** Which node serves a slot now, as one node's CLUSTER SHARDS/SLOTS tells it. */
async function ownerOf(port: number, slot: number): Promise<number | undefined> {
  const slots = (await ask(port, (r) => r.call('CLUSTER', 'SLOTS')).catch(() => [])) as [number, number, [string, number]][];
  const range = slots.find(([from, to]) => slot >= from && slot <= to);
  return range?.[2]?.[1];
}

/** A Redis Cluster of 3 primaries, each with one replica (`redis-cli --cluster create --cluster-replicas 1`). */
export async function startRedisCluster(): Promise<RedisClusterSet> {
  const procs = new Procs();
  try {
    const nodes: Proc[] = [];
    for (let i = 0; i < 6; i++) {
      const port = await freePort();
      nodes.push(
        await procs.server(
          ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000', '--appendonly', 'yes', '--save', ''],
          port,
        ),
      );
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    const ports = nodes.map((n) => n.port);
    await waitFor(
      async () =>
        (await Promise.all(ports.map((p) => ask(p, (r) => r.call('CLUSTER', 'INFO')).catch(() => '')))).every((i) => String(i).includes('cluster_state:ok')),
      30_000,
      'cluster_state:ok on every node',
    );
    // The cluster is ok before the replicas have synced: a replica that never did would not take over.
    await waitFor(
      async () => {
        const infos = await Promise.all(ports.map((p) => ask(p, (r) => r.info('replication')).catch(() => '')));
        return infos.filter((i) => i.includes('role:slave') && i.includes('master_link_status:up')).length === 3;
      },
      30_000,
      'the 3 replicas in sync',
    );
    return {
      nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
      async killPrimaryOf(key, opts = {}) {
        const keySlot = Number(await ask(ports[0] ?? 0, (r) => r.call('CLUSTER', 'KEYSLOT', key)));
        const keyOwner = await ownerOf(ports[0] ?? 0, keySlot);
        const ranges = (await ask(ports[0] ?? 0, (r) => r.call('CLUSTER', 'SLOTS'))) as [number, number, [string, number]][];
        const slot = opts.other ? (ranges.find((x) => x[2]?.[1] !== keyOwner)?.[0] ?? keySlot) : keySlot;
        const old = await ownerOf(ports[0] ?? 0, slot);
        if (old === undefined) throw new Error(`no node serves slot ${slot}`);
        procs.kill(old);
        const witness = ports.find((p) => p !== old) ?? 0;
        await waitFor(
          async () => {
            const now = await ownerOf(witness, slot);
            return now !== undefined && now !== old;
          },
          60_000,
          'the replica to take over the slot',
        );
        return (await ownerOf(witness, slot)) ?? old;
      },
      stop: () => procs.stop(),
    };
  } catch (err) {
    await procs.stop();
    throw err;
  }
}

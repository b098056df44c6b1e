import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedisConnections, createWorkerConnection, isCluster } from '../../../src/redis.ts';
import { createLogger } from '../../../src/log.ts';

// Issue #20: on a Cluster, the workers' connection runs without ioredis's Cluster ready check, whose
// failure during a failover (cluster_state:fail) left BullMQ waiting on a connect() that never
// settled; the other connections keep it. Lazy clients: nothing connects here.
const cluster = { target: { mode: 'cluster' as const, nodes: [{ host: '127.0.0.1', port: 7000 }] } };

describe('the workers connection on a Redis Cluster', () => {
  it('has no Cluster ready check, and BullMQ duplicates it with the same options', () => {
    const worker = createWorkerConnection(cluster) as unknown as Cluster;
    expect(isCluster(worker as never)).toBe(true);
    expect(worker.options.enableReadyCheck).toBe(false);
    // BullMQ's blocking connection is worker.duplicate(): the option goes with it.
    const blocking = worker.duplicate();
    expect(blocking.options.enableReadyCheck).toBe(false);
    worker.disconnect();
    blocking.disconnect();
  });

  it('leaves the ready check on for the client and queue connections', () => {
    const conns = createRedisConnections(cluster, createLogger('silent'));
    expect((conns.client as unknown as Cluster).options.enableReadyCheck).toBe(true);
    expect((conns.queue as unknown as Cluster).options.enableReadyCheck).toBe(true);
    expect((conns.worker as unknown as Cluster).options.enableReadyCheck).toBe(false);
    for (const c of Object.values(conns)) c.disconnect();
  });
});

import type { Redis } from 'ioredis';
import type { ArgoCdPollerHealth } from '../sources/argocd/poller.ts';
import type { LeaderGatedKubeSources } from '../sources/kube/gated.ts';
import { unavailableReason } from '../net/unavailable.ts';
import type { PreflightResult } from '../track/redis-preflight.ts';

export interface ReadinessDeps {
  /** True once a shutdown began: /readyz fails so the load balancer stops sending. */
  draining: () => boolean;
  redis: Pick<Redis, 'status' | 'ping'>;
  /** The Kubernetes watches (when they run: MESHDRIFT_CLUSTERS) and the Argo CD API poller (when configured). */
  sources: { kube(): Pick<LeaderGatedKubeSources, 'health'> | undefined; readonly argoPolling: { health(): ArgoCdPollerHealth | undefined } | undefined };
  /** When Redis lost meshdrift's state, while it is recent (a warning, not unready). */
  dataLoss: { recentLoss(): number | undefined };
  /** The Redis preflight's last results (track/redis-preflight.ts): a failed role or maxmemory-policy makes it unready. */
  preflight?: { last(): PreflightResult[] };
}

/**
 * /readyz: resolves with the warnings that do not make the service unready, rejects with why it is
 * not ready: shutting down, Redis not ready or not answering PING within 1 s, the Redis preflight
 * failed (a replica, an evicting maxmemory-policy), watch sources down, the Argo CD API source not ready.
 */
export function createReadiness(deps: ReadinessDeps): () => Promise<string[]> {
  return async () => {
    if (deps.draining()) throw new Error('shutting down');
    const { redis } = deps;
    if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`);
    await Promise.race([
      redis.ping().catch((err: unknown) => {
        // BUSY, LOADING, a failover: not ready, said as such (not Redis's raw text).
        const reason = unavailableReason(err);
        throw reason === undefined ? err : new Error(`redis cannot serve now (${reason})`);
      }),
      new Promise((_, reject) => setTimeout(() => reject(new Error('redis did not answer PING within 1s')), 1000).unref()),
    ]);
    const preflight = deps.preflight?.last() ?? [];
    const refused = preflight.find((r) => r.state === 'fail' && r.check !== 'aof');
    if (refused) throw new Error(`redis preflight: ${refused.detail}`);
    const health = deps.sources.kube()?.health();
    if (health && !health.ready) {
      const down = health.clusters
        .filter((c) => c.state !== 'up')
        .map((c) => `${c.name} ${c.state}${c.since ? ` since ${new Date(c.since).toISOString()}` : ''}`);
      throw new Error(`watch sources down: ${down.join(', ')}`);
    }
    const polled = deps.sources.argoPolling?.health();
    if (polled && !polled.ready) {
      throw new Error(
        `argocd api source not ready${polled.since !== undefined ? ` since ${new Date(polled.since).toISOString()}` : ''}: ${polled.lastError ?? 'no poll has succeeded yet'}`,
      );
    }
    const lostAt = deps.dataLoss.recentLoss();
    // A check that could not be read (CONFIG GET refused on a managed Redis) is a warning: say what to check.
    const unchecked = preflight.filter((r) => r.state === 'unknown' && r.check !== 'aof').map((r) => `redis preflight: ${r.detail}`);
    return lostAt === undefined
      ? unchecked
      : [
          ...unchecked,
          `redis lost meshdrift state at ${new Date(lostAt).toISOString()} (restarted without persistence?): open alerts and silences from before are gone; findings are re-derived from the sources`,
        ];
  };
}

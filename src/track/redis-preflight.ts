import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { isCluster, primariesOf } from '../redis.ts';

/**
 * The Redis preflight (issue #20), at start and at every reconnect: meshdrift writes to a primary
 * (a replica answers READONLY), with `maxmemory-policy noeviction` (under any other policy Redis
 * evicts keys when full: the expiring dedup keys first under `volatile-*`, so duplicate alerts come
 * back without a word, and BullMQ's job keys: "the only setting that guarantees the correct
 * behavior", BullMQ's going-to-production guide), and reports whether AOF is on (without it a
 * restart loses everything since the last snapshot: track/data-loss.ts tells it then).
 */

export const PREFLIGHT_CHECKS = ['role', 'maxmemory_policy', 'aof'] as const;
export type PreflightCheck = (typeof PREFLIGHT_CHECKS)[number];

/** ok: passes (AOF: on); fail: does not (AOF: off, reported, not refused); unknown: could not be read. */
export type PreflightState = 'ok' | 'fail' | 'unknown';

export interface PreflightResult {
  check: PreflightCheck;
  state: PreflightState;
  /** One line, for the log and /readyz; never a credential. */
  detail: string;
}

/** A start refused by the preflight; its message is one line saying what to change. */
export class RedisPreflightError extends Error {
  override readonly name = 'RedisPreflightError';
}

/** `field:value` lines of an INFO section. */
export function infoFields(info: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return fields;
}

const NOEVICTION_FIX =
  "run CONFIG SET maxmemory-policy noeviction and make it persistent (maxmemory-policy noeviction in redis.conf, or the managed service's parameter group)";

/** The decision, from what one primary said (pure: unit-tested). `policy` undefined: neither INFO nor CONFIG GET told it. */
export function judge(
  node: string,
  role: string | undefined,
  policy: string | undefined,
  policyRefusal: string | undefined,
  aof: string | undefined,
): PreflightResult[] {
  const results: PreflightResult[] = [];
  if (role === undefined) results.push({ check: 'role', state: 'unknown', detail: `${node}: INFO replication did not say the role` });
  else if (role === 'master') results.push({ check: 'role', state: 'ok', detail: `${node}: primary` });
  else
    results.push({
      check: 'role',
      state: 'fail',
      detail: `${node} is a ${role}, not a primary: point meshdrift at the primary (REDIS_URL), or use REDIS_SENTINELS so it follows failovers`,
    });
  if (policy === 'noeviction') results.push({ check: 'maxmemory_policy', state: 'ok', detail: `${node}: maxmemory-policy noeviction` });
  else if (policy !== undefined)
    results.push({
      check: 'maxmemory_policy',
      state: 'fail',
      detail: `${node} has maxmemory-policy ${policy}; meshdrift needs noeviction (evicted keys mean duplicate alerts and lost jobs): ${NOEVICTION_FIX}`,
    });
  else
    results.push({
      check: 'maxmemory_policy',
      state: 'unknown',
      detail: `${node}: maxmemory-policy could not be read (${policyRefusal ?? 'not in INFO memory'}; managed services such as ElastiCache refuse CONFIG GET): check that the parameter group sets maxmemory-policy noeviction`,
    });
  if (aof === '1') results.push({ check: 'aof', state: 'ok', detail: `${node}: appendonly yes` });
  else if (aof === '0')
    results.push({
      check: 'aof',
      state: 'fail',
      detail: `${node}: appendonly no (a restart loses what was written since the last snapshot; appendonly yes is recommended)`,
    });
  else results.push({ check: 'aof', state: 'unknown', detail: `${node}: INFO persistence did not say aof_enabled` });
  return results;
}

/** Where a node is (the address connected to: under Sentinel, the primary it named). */
function nodeName(redis: Redis): string {
  const stream = (redis as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
  if (stream?.remoteAddress) return `redis ${stream.remoteAddress}:${stream.remotePort ?? '?'}`;
  return `redis ${redis.options.host ?? '?'}:${redis.options.port ?? '?'}`;
}

async function checkNode(redis: Redis): Promise<PreflightResult[]> {
  const [replication, memory, persistence] = await Promise.all([redis.info('replication'), redis.info('memory'), redis.info('persistence')]);
  let policy = infoFields(memory).get('maxmemory_policy');
  let refusal: string | undefined;
  if (policy === undefined) {
    // Not every server tells it in INFO; CONFIG GET may be renamed or refused (ElastiCache).
    try {
      const pair = (await redis.call('CONFIG', 'GET', 'maxmemory-policy')) as unknown;
      if (Array.isArray(pair) && typeof pair[1] === 'string') policy = pair[1];
    } catch (err) {
      refusal = `CONFIG GET refused: ${err instanceof Error ? err.message.split('\n')[0]?.slice(0, 120) : 'error'}`;
    }
  }
  return judge(nodeName(redis), infoFields(replication).get('role'), policy, refusal, infoFields(persistence).get('aof_enabled'));
}

/** The worst state of a check across the primaries: fail over unknown over ok. */
function worst(results: PreflightResult[], check: PreflightCheck): PreflightResult | undefined {
  const of = results.filter((r) => r.check === check);
  return of.find((r) => r.state === 'fail') ?? of.find((r) => r.state === 'unknown') ?? of[0];
}

export interface RedisPreflight {
  /** Runs the checks on every primary; rejects with a RedisPreflightError when meshdrift must not start. */
  run(): Promise<PreflightResult[]>;
  /** The last results, one per check (the worst across primaries). */
  last(): PreflightResult[];
  /** Runs again at every reconnect (a failover may land on another server); a failure makes /readyz fail. */
  start(): void;
  stop(): void;
}

export interface RedisPreflightDeps {
  redis: Redis;
  log: Logger;
  /** Each check's state after each run (meshdrift_redis_preflight). */
  onResult: (check: PreflightCheck, state: PreflightState) => void;
}

export function createRedisPreflight(deps: RedisPreflightDeps): RedisPreflight {
  const { redis, log } = deps;
  let results: PreflightResult[] = [];
  const run = async (): Promise<PreflightResult[]> => {
    // A Cluster node reached as one server answers MOVED to most keys: say what to set instead.
    if (!isCluster(redis) && infoFields(await redis.info('cluster')).get('cluster_enabled') === '1') {
      throw new RedisPreflightError(
        `Redis preflight: ${nodeName(redis)} is a Redis Cluster node: set REDIS_CLUSTER_NODES (and MESHDRIFT_KEY_PREFIX with a hash tag, e.g. {meshdrift}) instead of REDIS_URL`,
      );
    }
    const all = (await Promise.all(primariesOf(redis).map(checkNode))).flat();
    results = PREFLIGHT_CHECKS.flatMap((c) => worst(all, c) ?? []);
    for (const r of results) deps.onResult(r.check, r.state);
    for (const r of results.filter((x) => x.state !== 'ok')) {
      if (r.check === 'aof') log.info({ check: r.check }, r.detail);
      else log.warn({ check: r.check, state: r.state }, `redis preflight: ${r.detail}`);
    }
    const refused = results.find((r) => r.state === 'fail' && r.check !== 'aof');
    if (refused) throw new RedisPreflightError(`Redis preflight: ${refused.detail}`);
    return results;
  };
  const again = (): void => {
    void run().catch((err: unknown) => log.error({ error: err instanceof Error ? err.message : String(err) }, 'redis preflight after a reconnect'));
  };
  return {
    run,
    last: () => results,
    start: () => void redis.on('ready', again),
    stop: () => void redis.off('ready', again),
  };
}

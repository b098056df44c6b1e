import { hash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { OwnerRef } from '../../model/signal.ts';
import { clusterOwnerId } from '../../model/owner.ts';
import type { CommitMark } from '../../track/redis-store.ts';

/**
 * One Flux object's last applied revision as meshdrift last heard it, and when: `at` is the
 * reconcile time it belongs to (the event's timestamp, bounded by `maxSkewMs` against receipt, or
 * the time the watch read `status.lastAppliedRevision`). `from` says which: a revision read from
 * status (`status`) is settled only for events after `at` (the rollout that set it may be the
 * very event being judged).
 */
export interface RememberedRevision {
  revision: string;
  at: number;
  from: 'event' | 'status';
}

/**
 * Each Flux object's last applied revision, as meshdrift last heard it. Flux events do not say
 * whether a change set is a rollout or reverted drift; only "same revision as before" does.
 * The memory moves only forward in reconcile time: a late, older event (Flux retrying a 503, a
 * relist) never rewinds it. Each key lives `ttlSeconds` from its last write (every heartbeat
 * writes it, so it outlives any Flux interval shorter than the TTL); an expired one is treated as
 * never known.
 */
export interface FluxRevisionStore {
  /** The remembered revision of `owner`, and whether the event `eventId` was processed already. */
  lookup(cluster: string, owner: OwnerRef, eventId: string): Promise<{ previous: RememberedRevision | undefined; seen: boolean }>;
  /**
   * Remembers `revision` at reconcile time `at` (if any, and only if no later one is remembered)
   * and marks the event processed. Called only after tracking succeeded.
   */
  commit(cluster: string, owner: OwnerRef, remember: { revision: string; at: number } | undefined, eventId: string): Promise<void>;
  /**
   * The same write as {@link commit}, for a group commit to make in its own script (track's
   * CommitMark: one round trip fewer per event); the caller commits itself when it was not made.
   * Absent: a store not in the track store's Redis (commit is called).
   */
  mark?(cluster: string, owner: OwnerRef, remember: { revision: string; at: number } | undefined, eventId: string): CommitMark;
  /** Remembers a revision read from the object's status, only when none is remembered. True when written. */
  seed(cluster: string, owner: OwnerRef, revision: string, at: number): Promise<boolean>;
  /** The event's reconcile time: its timestamp, at most `maxSkewMs` past `now`; `now` when it does not parse. */
  reconcileTimeOf(timestamp: string, now: number): number;
}

export interface FluxRevisionOptions {
  /** Lifetime of a remembered revision after its last write (MESHDRIFT_FLUX_REVISION_TTL). */
  ttlSeconds: number;
  /** How far past receipt an event timestamp may claim to be (MESHDRIFT_FLUX_MAX_SKEW). */
  maxSkewMs: number;
  /** Called when an event's timestamp was later than that and counted as receipt + maxSkewMs. */
  onFutureTimestamp?: (claimedMs: number, nowMs: number) => void;
}

/** 7 days: longer than any Flux interval in practice (Flux's own defaults are 1m-1h). */
export const DEFAULT_FLUX_REVISION_TTL_SECONDS = 7 * 24 * 3600;
export const DEFAULT_FLUX_MAX_SKEW_MS = 60_000;

const EVENT_TTL_SECONDS = 24 * 3600;

/** The revision memory of one Flux object (model/owner.ts `clusterOwnerId`, hashed). */
function revisionKey(prefix: string, cluster: string, owner: OwnerRef): string {
  const id = hash('sha256', clusterOwnerId(cluster, owner), 'hex').slice(0, 32);
  return `${prefix}:flux:revision:${id}`;
}

/** The stored value; a bare string (written before reconcile times were kept) is a revision of time 0. */
export function parseRemembered(raw: string | null): RememberedRevision | undefined {
  if (raw === null) return undefined;
  if (!raw.startsWith('{')) return { revision: raw, at: 0, from: 'event' };
  try {
    const v = JSON.parse(raw) as { r?: unknown; t?: unknown; s?: unknown };
    if (typeof v.r !== 'string' || typeof v.t !== 'number') return undefined;
    return { revision: v.r, at: v.t, from: v.s === 'status' ? 'status' : 'event' };
  } catch {
    return undefined;
  }
}

const encode = (r: RememberedRevision): string => JSON.stringify({ r: r.revision, t: r.at, s: r.from });

export function boundedReconcileTime(timestamp: string, now: number, maxSkewMs: number): number {
  const ms = Date.parse(timestamp);
  if (!Number.isFinite(ms) || ms < 0) return now;
  return Math.min(ms, now + maxSkewMs);
}

// KEYS[1] revision key, KEYS[2] event key; ARGV: value, reconcile time, revision TTL, event TTL.
// Writes the revision unless a later reconcile time is stored (a bare legacy value counts as 0).
const COMMIT_SCRIPT = `
if ARGV[1] ~= '' then
  local cur = redis.call('GET', KEYS[1])
  local newer = false
  if cur and string.sub(cur, 1, 1) == '{' then
    local ok, v = pcall(cjson.decode, cur)
    if ok and type(v) == 'table' and tonumber(v.t) and tonumber(v.t) > tonumber(ARGV[2]) then newer = true end
  end
  if not newer then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) end
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
return 1
`;

/** The commit script as an ioredis command: EVALSHA (its hash, not its text, on every event), EVAL once on NOSCRIPT. */
type RevisionRedis = Redis & { meshdriftFluxRevisionCommit(...args: [string, string, ...string[]]): Promise<unknown> };

function withCommitScript(redis: Redis): RevisionRedis {
  if (!('meshdriftFluxRevisionCommit' in redis)) redis.defineCommand('meshdriftFluxRevisionCommit', { numberOfKeys: 2, lua: COMMIT_SCRIPT });
  return redis as RevisionRedis;
}

export function createRedisFluxRevisionStore(client: Redis, keyPrefix: string, options: Partial<FluxRevisionOptions> = {}): FluxRevisionStore {
  const redis = withCommitScript(client);
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_FLUX_REVISION_TTL_SECONDS;
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_FLUX_MAX_SKEW_MS;
  const markOf = (cluster: string, owner: OwnerRef, remember: { revision: string; at: number } | undefined, eventId: string): CommitMark => ({
    latestKey: revisionKey(keyPrefix, cluster, owner),
    latest: remember === undefined ? '' : encode({ ...remember, from: 'event' }),
    latestAt: remember?.at ?? 0,
    latestTtlSeconds: ttlSeconds,
    seenKey: `${keyPrefix}:flux:event:${eventId}`,
    seenTtlSeconds: EVENT_TTL_SECONDS,
  });
  return {
    async lookup(cluster, owner, eventId) {
      const [previous, seen] = await redis.mget(revisionKey(keyPrefix, cluster, owner), `${keyPrefix}:flux:event:${eventId}`);
      return { previous: parseRemembered(previous ?? null), seen: seen !== null };
    },
    async commit(cluster, owner, remember, eventId) {
      const m = markOf(cluster, owner, remember, eventId);
      await redis.meshdriftFluxRevisionCommit(m.latestKey, m.seenKey, m.latest, String(m.latestAt), String(ttlSeconds), String(EVENT_TTL_SECONDS));
    },
    mark: (cluster, owner, remember, eventId) => markOf(cluster, owner, remember, eventId),
    async seed(cluster, owner, revision, at) {
      const written = await redis.set(revisionKey(keyPrefix, cluster, owner), encode({ revision, at, from: 'status' }), 'EX', ttlSeconds, 'NX');
      return written === 'OK';
    },
    reconcileTimeOf(timestamp, now) {
      const at = boundedReconcileTime(timestamp, now, maxSkewMs);
      if (at === now + maxSkewMs && Date.parse(timestamp) > at) options.onFutureTimestamp?.(Date.parse(timestamp), now);
      return at;
    },
  };
}

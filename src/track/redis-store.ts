import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { applySignal, flush, inScope, scopeKey, type ApplyResult, type FlushContext, type FlushResult, type SignalInput, type SignalScope } from './decide.ts';
import type { Notification } from '../model/alert-group.ts';
import { groupStateSchema, type GroupState } from './group-state.ts';
import { activeFindingsDelta, parseActiveFindings, type ActiveFindingsCount } from './active-findings.ts';

/**
 * Where group state lives. Read, decide in TypeScript (track/decide.ts), commit with a
 * compare-and-set on a version number: the decision stays typed and unit-tested, the commit is
 * atomic across any number of replicas. (WATCH/MULTI would need a connection per transaction;
 * the CAS script works on one shared connection.)
 */
export interface TrackStore {
  /** Applies one signal's findings to their group; returns the decision that was committed. */
  apply(input: SignalInput, now: number): Promise<ApplyResult>;
  /**
   * Runs the flush `flushSeq` of a group: decides the notification and commits it. `context` is
   * called with the group's current state (silences, inhibition, time intervals need it).
   */
  flush(groupKey: string, epoch: number, flushSeq: number, context: (state: GroupState) => FlushContext | Promise<FlushContext>): Promise<FlushOutcome>;
  /** Current state of a group, or null. */
  get(groupKey: string): Promise<GroupState | null>;
}

export type FlushOutcome =
  /** This flush was decided now (notification may be null: nothing to say). */
  | ({ kind: 'decided'; previous: Notification | null } & FlushResult)
  /** This flush was decided before (a retried job): here is the state to re-ensure its jobs from. */
  | { kind: 'already-handled'; state: GroupState }
  /** Not this flush's turn: superseded, or the group is gone. */
  | { kind: 'stale' };

export class TrackConflictError extends Error {
  override readonly name = 'TrackConflictError';
}

const MAX_ATTEMPTS = 25;

// KEYS: group hash, active-groups zset, owner→groups set ('' key unused), active-findings refs
// hash, active-findings counts hash, version counter. Versions come from one counter per prefix,
// so they never repeat: a group deleted and re-created cannot reach the version a stale reader
// saw before the delete (an ABA that a per-group count restarting at 1 would let through). ARGV: expected version, new JSON ('' = delete), ttl s (0 =
// keep forever), group key, 'add'|'rem' for the zset, zset score, 'add'|'rem'|'' for the owner
// set, then (fingerprint, severity|mesh|category, +1|-1) per changed firing finding
// (active-findings.ts). The owner index and the counts are committed with the state they describe:
// one round trip, and never out of step with it. A reference that goes below zero was never
// counted (a group written before the counts existed, until the reconcile below): it is dropped.
const CAS_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], 'v') or '0'
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'v', tostring(redis.call('INCR', KEYS[6])), 's', ARGV[2])
  if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) else redis.call('PERSIST', KEYS[1]) end
end
if ARGV[5] == 'add' then redis.call('ZADD', KEYS[2], ARGV[6], ARGV[4]) else redis.call('ZREM', KEYS[2], ARGV[4]) end
if ARGV[7] == 'add' then redis.call('SADD', KEYS[3], ARGV[4]) elseif ARGV[7] == 'rem' then redis.call('SREM', KEYS[3], ARGV[4]) end
for i = 8, #ARGV, 3 do
  local field = ARGV[i + 1]
  local ref = ARGV[i] .. '|' .. field
  if ARGV[i + 2] == '1' then
    if redis.call('HINCRBY', KEYS[4], ref, 1) == 1 then redis.call('HINCRBY', KEYS[5], field, 1) end
  else
    local left = redis.call('HINCRBY', KEYS[4], ref, -1)
    if left <= 0 then redis.call('HDEL', KEYS[4], ref) end
    if left == 0 and redis.call('HINCRBY', KEYS[5], field, -1) <= 0 then redis.call('HDEL', KEYS[5], field) end
  end
end
return 1
`;

// Rebuilds the active-findings refs and counts from the active groups' states, atomically (no
// commit can interleave), at most once per `every` seconds across all replicas (the marker key).
// KEYS: marker, active-groups zset, refs hash, counts hash. ARGV: every s, group key prefix.
// Returns the number of groups read, or -1 when another run was recent. The group hashes are
// not in KEYS: every key shares the prefix (and, on a hash-tagged prefix, the slot).
const RECONCILE_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return -1 end
redis.call('DEL', KEYS[3], KEYS[4])
local groups = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, g in ipairs(groups) do
  local s = redis.call('HGET', ARGV[2] .. g, 's')
  if s then
    local ok, state = pcall(cjson.decode, s)
    if ok and type(state) == 'table' and type(state.findings) == 'table' then
      for fp, f in pairs(state.findings) do
        if type(f) == 'table' and f.status == 'firing' then
          local field = tostring(f.severity) .. '|' .. tostring(f.mesh) .. '|' .. tostring(f.category)
          if redis.call('HINCRBY', KEYS[3], fp .. '|' .. field, 1) == 1 then redis.call('HINCRBY', KEYS[4], field, 1) end
        end
      end
    end
  end
end
return #groups
`;

type CasRedis = Redis & {
  meshdriftCas(
    groupKey: string, activeKey: string, ownerKey: string, refsKey: string, countsKey: string, versionKey: string,
    expected: string, json: string, ttl: number, member: string, op: 'add' | 'rem', score: number, ownerOp: 'add' | 'rem' | '',
    ...deltas: string[]
  ): Promise<number>;
  meshdriftReconcileActiveFindings(markerKey: string, activeKey: string, refsKey: string, countsKey: string, everySeconds: number, groupKeyPrefix: string): Promise<number>;
};

export interface RedisTrackStoreOptions {
  redis: Redis;
  keyPrefix: string;
  /** How long a group with nothing firing is kept (for seq continuity and history). */
  resolvedRetentionSeconds?: number;
}

export function groupRedisKey(keyPrefix: string, groupKey: string): string {
  return `${keyPrefix}:group:${groupKey}`;
}

/** The set of groups holding findings of one owner (a snapshot must reach all of them). */
export function ownerGroupsKey(keyPrefix: string, ownerScopeKey: string): string {
  return `${keyPrefix}:owner-groups:${createHash('sha256').update(ownerScopeKey).digest('hex').slice(0, 32)}`;
}

export function activeGroupsKey(keyPrefix: string): string {
  return `${keyPrefix}:groups:active`;
}

/** Where the active-findings bookkeeping lives (track/active-findings.ts). */
export function activeFindingsKeys(keyPrefix: string): { refs: string; counts: string; reconciled: string } {
  return { refs: `${keyPrefix}:findings:active:refs`, counts: `${keyPrefix}:findings:active:counts`, reconciled: `${keyPrefix}:findings:active:reconciled` };
}

/** Firing findings by severity, mesh and category, as the commits keep them (one HGETALL). */
export async function readActiveFindings(redis: Redis, keyPrefix: string): Promise<ActiveFindingsCount[]> {
  return parseActiveFindings(await redis.hgetall(activeFindingsKeys(keyPrefix).counts));
}

/** How often one replica rebuilds the counts from the group states: see {@link reconcileActiveFindings}. */
export const ACTIVE_FINDINGS_RECONCILE_SECONDS = 3600;

/**
 * Rebuilds the active-findings counts from the active groups, in one atomic script, unless some
 * replica did within `everySeconds`. The commits keep the counts exact; this is for what they
 * cannot see: groups written before the counts existed (the first start of this version), and
 * commits by an older replica during a rolling upgrade (it runs the older script). It decodes every
 * active group's state inside Redis, which blocks Redis meanwhile: 0.13 s for 1,000 active groups,
 * 0.7 s for 10,000 on a 2-core machine (`node bench/active-findings.ts`), hence once per hour, not
 * per refresh. Returns the number of groups read, or null when the last run is recent.
 */
export async function reconcileActiveFindings(redis: Redis, keyPrefix: string, everySeconds = ACTIVE_FINDINGS_RECONCILE_SECONDS): Promise<number | null> {
  defineScripts(redis);
  const keys = activeFindingsKeys(keyPrefix);
  const read = await (redis as CasRedis).meshdriftReconcileActiveFindings(keys.reconciled, activeGroupsKey(keyPrefix), keys.refs, keys.counts, everySeconds, groupRedisKey(keyPrefix, ''));
  return read < 0 ? null : read;
}

function defineScripts(redis: Redis): void {
  if (!('meshdriftCas' in redis)) redis.defineCommand('meshdriftCas', { numberOfKeys: 6, lua: CAS_SCRIPT });
  if (!('meshdriftReconcileActiveFindings' in redis)) redis.defineCommand('meshdriftReconcileActiveFindings', { numberOfKeys: 4, lua: RECONCILE_SCRIPT });
}

export function createRedisTrackStore(opts: RedisTrackStoreOptions): TrackStore {
  const { redis, keyPrefix } = opts;
  // Longer than the Slack message refs (7 days) so a group's notification seq never restarts while
  // a receiver still remembers an older one.
  const retention = opts.resolvedRetentionSeconds ?? 30 * 24 * 3600;
  defineScripts(redis);
  const cas = redis as CasRedis;
  const findingsKeys = activeFindingsKeys(keyPrefix);

  async function read(groupKey: string): Promise<{ version: string; state: GroupState | null }> {
    const [version, json] = await redis.hmget(groupRedisKey(keyPrefix, groupKey), 'v', 's');
    if (version == null || json == null) return { version: '0', state: null };
    const parsed = groupStateSchema.safeParse(JSON.parse(json));
    if (!parsed.success) {
      throw new Error(`group ${groupKey}: stored state is not in the expected format (${parsed.error.issues[0]?.path.join('.') ?? '?'}: ${parsed.error.issues[0]?.message ?? ''})`);
    }
    return { version, state: parsed.data };
  }

  async function commit(groupKey: string, version: string, prev: GroupState | null, next: GroupState | null, scope?: SignalScope): Promise<boolean> {
    const firing = next !== null && Object.values(next.findings).some((f) => f.status === 'firing');
    const holds = scope !== undefined && next !== null && Object.values(next.findings).some((f) => f.status === 'firing' && inScope(f, scope));
    const ok = await cas.meshdriftCas(
      groupRedisKey(keyPrefix, groupKey),
      activeGroupsKey(keyPrefix),
      scope ? ownerGroupsKey(keyPrefix, scopeKey(scope)) : groupRedisKey(keyPrefix, groupKey),
      findingsKeys.refs,
      findingsKeys.counts,
      `${keyPrefix}:group-version`,
      version,
      next === null ? '' : JSON.stringify(next),
      firing || next?.pendingFlush ? 0 : retention,
      groupKey,
      firing ? 'add' : 'rem',
      next?.firstSeen ?? 0,
      scope === undefined ? '' : holds ? 'add' : 'rem',
      ...activeFindingsDelta(prev, next).flatMap((d) => [d.fingerprint, d.field, String(d.delta)]),
    );
    return ok === 1;
  }

  async function retrying<T>(groupKey: string, attempt: () => Promise<T | undefined>): Promise<T> {
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const result = await attempt();
      if (result !== undefined) return result;
      // Lost a race with another writer of this group: re-read and decide again.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** i)));
    }
    throw new TrackConflictError(`group ${groupKey}: gave up after ${MAX_ATTEMPTS} conflicting concurrent updates`);
  }

  return {
    get: async (groupKey) => (await read(groupKey)).state,

    apply: (input, now) =>
      retrying(input.groupKey, async () => {
        const { version, state } = await read(input.groupKey);
        const result = applySignal(state, input, now);
        if (!result.dirty) return result;
        return (await commit(input.groupKey, version, state, result.next, input.scope)) ? result : undefined;
      }),

    flush: (groupKey, epoch, flushSeq, context) =>
      retrying<FlushOutcome>(groupKey, async () => {
        const { version, state } = await read(groupKey);
        if (state === null || state.createdAt !== epoch) return { kind: 'stale' };
        if (state.pendingFlush?.seq !== flushSeq) {
          return state.handledFlushSeq === flushSeq ? { kind: 'already-handled', state } : { kind: 'stale' };
        }
        const result = flush(state, flushSeq, await context(state));
        return (await commit(groupKey, version, state, result.next)) ? { kind: 'decided', previous: state.lastNotification, ...result } : undefined;
      }),
  };
}

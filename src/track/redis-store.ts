import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { applySignal, flush, inScope, scopeKey, type ApplyResult, type FlushContext, type FlushResult, type SignalInput, type SignalScope } from './decide.ts';
import type { Notification } from '../model/alert-group.ts';
import { groupStateSchema, type GroupState } from './group-state.ts';

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

// KEYS: group hash, active-groups zset, owner→groups set ('' key unused). ARGV: expected version,
// new JSON ('' = delete), ttl s (0 = keep forever), group key, 'add'|'rem' for the zset, zset
// score, 'add'|'rem'|'' for the owner set. The owner index is committed with the state it
// describes: one round trip, and never out of step with it.
const CAS_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], 'v') or '0'
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'v', tostring(tonumber(cur) + 1), 's', ARGV[2])
  if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) else redis.call('PERSIST', KEYS[1]) end
end
if ARGV[5] == 'add' then redis.call('ZADD', KEYS[2], ARGV[6], ARGV[4]) else redis.call('ZREM', KEYS[2], ARGV[4]) end
if ARGV[7] == 'add' then redis.call('SADD', KEYS[3], ARGV[4]) elseif ARGV[7] == 'rem' then redis.call('SREM', KEYS[3], ARGV[4]) end
return 1
`;

type CasRedis = Redis & {
  meshdriftCas(groupKey: string, activeKey: string, ownerKey: string, expected: string, json: string, ttl: number, member: string, op: 'add' | 'rem', score: number, ownerOp: 'add' | 'rem' | ''): Promise<number>;
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

export function createRedisTrackStore(opts: RedisTrackStoreOptions): TrackStore {
  const { redis, keyPrefix } = opts;
  // Longer than the Slack message refs (7 days) so a group's notification seq never restarts while
  // a receiver still remembers an older one.
  const retention = opts.resolvedRetentionSeconds ?? 30 * 24 * 3600;
  if (!('meshdriftCas' in redis)) redis.defineCommand('meshdriftCas', { numberOfKeys: 3, lua: CAS_SCRIPT });
  const cas = redis as CasRedis;

  async function read(groupKey: string): Promise<{ version: string; state: GroupState | null }> {
    const [version, json] = await redis.hmget(groupRedisKey(keyPrefix, groupKey), 'v', 's');
    if (version == null || json == null) return { version: '0', state: null };
    const parsed = groupStateSchema.safeParse(JSON.parse(json));
    if (!parsed.success) {
      throw new Error(`group ${groupKey}: stored state is not in the expected format (${parsed.error.issues[0]?.path.join('.') ?? '?'}: ${parsed.error.issues[0]?.message ?? ''})`);
    }
    return { version, state: parsed.data };
  }

  async function commit(groupKey: string, version: string, next: GroupState | null, scope?: SignalScope): Promise<boolean> {
    const firing = next !== null && Object.values(next.findings).some((f) => f.status === 'firing');
    const holds = scope !== undefined && next !== null && Object.values(next.findings).some((f) => f.status === 'firing' && inScope(f, scope));
    const ok = await cas.meshdriftCas(
      groupRedisKey(keyPrefix, groupKey),
      activeGroupsKey(keyPrefix),
      scope ? ownerGroupsKey(keyPrefix, scopeKey(scope)) : groupRedisKey(keyPrefix, groupKey),
      version,
      next === null ? '' : JSON.stringify(next),
      firing || next?.pendingFlush ? 0 : retention,
      groupKey,
      firing ? 'add' : 'rem',
      next?.firstSeen ?? 0,
      scope === undefined ? '' : holds ? 'add' : 'rem',
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
        return (await commit(input.groupKey, version, result.next, input.scope)) ? result : undefined;
      }),

    flush: (groupKey, epoch, flushSeq, context) =>
      retrying<FlushOutcome>(groupKey, async () => {
        const { version, state } = await read(groupKey);
        if (state === null || state.createdAt !== epoch) return { kind: 'stale' };
        if (state.pendingFlush?.seq !== flushSeq) {
          return state.handledFlushSeq === flushSeq ? { kind: 'already-handled', state } : { kind: 'stale' };
        }
        const result = flush(state, flushSeq, await context(state));
        return (await commit(groupKey, version, result.next)) ? { kind: 'decided', previous: state.lastNotification, ...result } : undefined;
      }),
  };
}

import type { Redis } from 'ioredis';
import { ContentionError } from '../net/unavailable.ts';
import { applySignal, flush, inScope, type ApplyResult, type FlushContext, type FlushResult, type SignalInput, type SignalScope } from './decide.ts';
import type { Notification } from '../model/alert-group.ts';
import { ownerPath } from '../model/owner.ts';
import { groupStateSchema, type GroupState } from './group-state.ts';
import { activeFindingsDelta, parseActiveFindings, type ActiveFindingsCount } from './active-findings.ts';
import { defineScripts, type CasRedis } from './redis-scripts.ts';
import { ACTIVE_FINDINGS_RECONCILE_SECONDS, DEFAULT_MAINTENANCE_BATCH, rebuildActiveFindings } from './active-findings-rebuild.ts';
import { activeFindingsKeys, activeGroupsKey, groupRedisKey, groupVersionKey, knownGroupsKey, ownerGroupsKey } from './keys.ts';

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
  | { kind: 'stale' }
  /**
   * Run before its due time (by the shared clock): nothing decided. BullMQ promotes delayed jobs by
   * the local clock of whichever replica looks, so a replica whose clock is ahead runs them early.
   */
  | { kind: 'early'; dueAt: number };

/** A commit that lost its compare-and-set MAX_ATTEMPTS times in a row: the webhook answers 503 (net/unavailable.ts). */
export class TrackConflictError extends ContentionError {
  override readonly name = 'TrackConflictError';
}

/** A signal would grow a group past `maxGroupFindings`: nothing was written. */
export class GroupFindingsLimitError extends Error {
  override readonly name = 'GroupFindingsLimitError';
}

const MAX_ATTEMPTS = 25;

export interface RedisTrackStoreOptions {
  redis: Redis;
  keyPrefix: string;
  /** How long a group with nothing firing is kept (for seq continuity and history). */
  resolvedRetentionSeconds?: number;
  /**
   * How long a firing group (and an owner's group index) lives after the last signal that reported
   * it (MESHDRIFT_FIRING_GROUP_TTL); notifications do not extend it. Default 30 days.
   */
  firingTtlSeconds?: number;
  /** Most alert groups, firing or retained (MESHDRIFT_MAX_ALERT_GROUPS); default 10,000. */
  maxGroups?: number;
  /** Called when a signal would create a group past `maxGroups` (it is refused with GroupLimitError). */
  onGroupLimit?: (groupKey: string) => void;
  /** Called when a new group took the place of a resolved one, dropped early because `maxGroups` were kept. */
  onGroupEvicted?: (groupKey: string) => void;
  /** Clock of the key deadlines, epoch ms (default Date.now). */
  now?: () => number;
  /** A signal that would grow a group past this many findings is refused (MESHDRIFT_MAX_GROUP_FINDINGS). */
  maxGroupFindings?: number;
}

/** A signal that would create one more alert group than MESHDRIFT_MAX_ALERT_GROUPS allows. */
export class GroupLimitError extends Error {
  override readonly name = 'GroupLimitError';
  readonly max: number;
  constructor(max: number) {
    super(`at most ${max} alert groups may exist at once (MESHDRIFT_MAX_ALERT_GROUPS) and all are firing: new groups are refused until some resolve or expire`);
    this.max = max;
  }
}

export const DEFAULT_MAX_GROUPS = 10_000;
export const DEFAULT_FIRING_GROUP_TTL_SECONDS = 30 * 86_400;

/** Firing findings by severity, mesh and category, as the commits keep them (one HGETALL). */
export async function readActiveFindings(redis: Redis, keyPrefix: string): Promise<ActiveFindingsCount[]> {
  return parseActiveFindings(await redis.hgetall(activeFindingsKeys(keyPrefix).counts));
}

/**
 * Rebuilds the active-findings counts from the active groups unless some replica did within
 * `everySeconds`, in bounded steps that never block Redis for long (track/active-findings-rebuild.ts).
 * Returns the number of active groups when it started, or null when the last run is recent.
 */
export async function reconcileActiveFindings(redis: Redis, keyPrefix: string, everySeconds = ACTIVE_FINDINGS_RECONCILE_SECONDS, batch = DEFAULT_MAINTENANCE_BATCH): Promise<number | null> {
  return (await rebuildActiveFindings(redis, keyPrefix, { everySeconds, batch }))?.groups ?? null;
}

export function createRedisTrackStore(opts: RedisTrackStoreOptions): TrackStore {
  const { redis, keyPrefix } = opts;
  // Longer than the Slack message refs (7 days) so a group's notification seq never restarts while
  // a receiver still remembers an older one.
  const retention = opts.resolvedRetentionSeconds ?? 30 * 24 * 3600;
  const firingTtl = opts.firingTtlSeconds ?? DEFAULT_FIRING_GROUP_TTL_SECONDS;
  const maxGroups = opts.maxGroups ?? DEFAULT_MAX_GROUPS;
  const clock = opts.now ?? Date.now;
  defineScripts(redis);
  const cas = redis as CasRedis;
  const findingsKeys = activeFindingsKeys(keyPrefix);

  // The state and how long its key has left (ms; -1 none, -2 gone), in one round trip.
  async function read(groupKey: string): Promise<{ version: string; state: GroupState | null; ttlMs: number }> {
    const key = groupRedisKey(keyPrefix, groupKey);
    const replies = (await redis.pipeline().hmget(key, 'v', 's').pttl(key).exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    const [version, json] = (replies[0]?.[1] ?? []) as Array<string | null>;
    const ttlMs = Number(replies[1]?.[1] ?? -2);
    if (version == null || json == null) return { version: '0', state: null, ttlMs };
    return { version, state: parseStoredGroup(groupKey, json), ttlMs };
  }

  // A signal that reports what a firing group already holds writes nothing (dedup), but keeps the
  // group and its owner's index alive: their deadline moves to a full TTL again once half of it
  // has passed (so a stream of duplicates costs no extra round trip most of the time).
  async function touch(input: SignalInput, ttlMs: number): Promise<void> {
    if (ttlMs >= 0 && ttlMs > (firingTtl * 1000) / 2) return;
    const key = groupRedisKey(keyPrefix, input.groupKey);
    const tx = redis.multi().expire(key, firingTtl);
    tx.zadd(knownGroupsKey(keyPrefix), 'XX', Math.floor(clock() / 1000) + firingTtl, input.groupKey);
    tx.expire(ownerGroupsKey(keyPrefix, ownerPath(input.scope)), firingTtl);
    await tx.exec();
  }

  async function commit(groupKey: string, version: string, prev: GroupState | null, next: GroupState | null, scope?: SignalScope): Promise<boolean> {
    const firing = next !== null && Object.values(next.findings).some((f) => f.status === 'firing');
    const holds = scope !== undefined && next !== null && Object.values(next.findings).some((f) => f.status === 'firing' && inScope(f, scope));
    const ok = await cas.meshdriftCas(
      groupRedisKey(keyPrefix, groupKey),
      activeGroupsKey(keyPrefix),
      scope ? ownerGroupsKey(keyPrefix, ownerPath(scope)) : groupRedisKey(keyPrefix, groupKey),
      findingsKeys.refs,
      findingsKeys.counts,
      groupVersionKey(keyPrefix),
      knownGroupsKey(keyPrefix),
      version,
      next === null ? '' : JSON.stringify(next),
      firing || next?.pendingFlush ? firingTtl : retention,
      groupKey,
      firing ? 'add' : 'rem',
      next?.firstSeen ?? 0,
      scope === undefined ? '' : holds ? 'add' : 'rem',
      Math.floor(clock() / 1000),
      maxGroups,
      firingTtl,
      // A signal (scope) sets the deadline; a flush of a firing group keeps it: repeated
      // notifications alone never keep a group whose sources went quiet.
      scope === undefined && (firing || next?.pendingFlush) ? 'keep' : 'set',
      ...activeFindingsDelta(prev, next).flatMap((d) => [d.fingerprint, d.field, String(d.delta)]),
    );
    if (ok === -1) {
      opts.onGroupLimit?.(groupKey);
      throw new GroupLimitError(maxGroups);
    }
    if (ok === 2) opts.onGroupEvicted?.(groupKey);
    return ok === 1 || ok === 2;
  }

  return {
    get: async (groupKey) => (await read(groupKey)).state,

    apply: (input, now) =>
      retrying(input.groupKey, async () => {
        const { version, state, ttlMs } = await read(input.groupKey);
        const result = applySignal(state, input, now);
        if (!result.dirty) {
          // A finding a reload moved elsewhere but that is still drifted keeps its old group firing
          // (decide.ts applySignal): the snapshot reporting it keeps that group alive too.
          const carried = state !== null && input.reported !== undefined && Object.keys(state.findings).some((fp) => input.reported?.has(fp));
          if (state !== null && (input.findings.length > 0 || carried)) await touch(input, ttlMs);
          return result;
        }
        const max = opts.maxGroupFindings;
        if (max !== undefined && result.next !== null) {
          const size = Object.keys(result.next.findings).length;
          if (size > max && size > Object.keys(state?.findings ?? {}).length) {
            throw new GroupFindingsLimitError(`alert group ${input.groupKey} would hold ${size} findings: more than MESHDRIFT_MAX_GROUP_FINDINGS (${max})`);
          }
        }
        return (await commit(input.groupKey, version, state, result.next, input.scope)) ? result : undefined;
      }),

    flush: (groupKey, epoch, flushSeq, context) =>
      retrying<FlushOutcome>(groupKey, async () => {
        const { version, state } = await read(groupKey);
        if (state === null || state.createdAt !== epoch) return { kind: 'stale' };
        if (state.pendingFlush?.seq !== flushSeq) {
          return state.handledFlushSeq === flushSeq ? { kind: 'already-handled', state } : { kind: 'stale' };
        }
        const ctx = await context(state);
        if (state.pendingFlush.dueAt > ctx.now) return { kind: 'early', dueAt: state.pendingFlush.dueAt };
        const result = flush(state, flushSeq, ctx);
        return (await commit(groupKey, version, state, result.next)) ? { kind: 'decided', previous: state.lastNotification, ...result } : undefined;
      }),
  };
}

/** A group's stored JSON, checked against the schema (a state it cannot read is an error, not null). */
function parseStoredGroup(groupKey: string, json: string): GroupState {
  const parsed = groupStateSchema.safeParse(JSON.parse(json));
  if (!parsed.success) {
    throw new Error(`group ${groupKey}: stored state is not in the expected format (${parsed.error.issues[0]?.path.join('.') ?? '?'}: ${parsed.error.issues[0]?.message ?? ''})`);
  }
  return parsed.data;
}

/** Runs `attempt` until it commits (not undefined), re-reading after each lost compare-and-set. */
async function retrying<T>(groupKey: string, attempt: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const result = await attempt();
    if (result !== undefined) return result;
    // Lost a race with another writer of this group: re-read and decide again.
    await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** i)));
  }
  throw new TrackConflictError(`group ${groupKey}: gave up after ${MAX_ATTEMPTS} conflicting concurrent updates`);
}

import type { Redis } from 'ioredis';
import { ContentionError } from '../net/unavailable.ts';
import {
  applySignal,
  flush,
  inScope,
  type ApplyResult,
  type FlushContext,
  type FlushResult,
  type SignalInput,
  type SignalScope,
  type SignalView,
} from './decide.ts';
import type { Notification } from '../model/alert-group.ts';
import { ownerPath } from '../model/owner.ts';
import type { GroupState } from './group-state.ts';
import type { TrackedFinding } from '../model/alert-group.ts';
import {
  allFields,
  assembleGroup,
  findingField,
  flushFields,
  LEGACY_FIELD,
  META_FIELD,
  ownerField,
  parseLegacyGroup,
  signalFields,
  viewOf,
  type GroupMeta,
  type OwnerEntry,
  type PartialGroup,
} from './group-layout.ts';
import { activeFindingsDelta, parseActiveFindings, type ActiveFindingsCount } from './active-findings.ts';
import { defineScripts, type CasRedis } from './redis-scripts.ts';
import { ACTIVE_FINDINGS_RECONCILE_SECONDS, DEFAULT_MAINTENANCE_BATCH, rebuildActiveFindings } from './active-findings-rebuild.ts';
import { STATE_BYTES_PER_FINDING } from './memory-budget.ts';
import { activeFindingsKeys, activeGroupsKey, groupRedisKey, groupVersionKey, knownGroupsKey, ownerGroupsKey } from './keys.ts';

/**
 * Where group state lives. Read, decide in TypeScript (track/decide.ts), commit with a
 * compare-and-set on a version number: the decision stays typed and unit-tested, the commit is
 * atomic across any number of replicas. (WATCH/MULTI would need a connection per transaction;
 * the CAS script works on one shared connection.) A signal reads and writes only the fields it
 * needs of the group's hash (track/group-layout.ts): its cost follows the signal, not the group.
 */
export interface TrackStore {
  /** Applies one signal's findings to their group; returns the decision that was committed. */
  apply(input: SignalInput, now: number): Promise<ApplyResult<SignalView>>;
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
export async function reconcileActiveFindings(
  redis: Redis,
  keyPrefix: string,
  everySeconds = ACTIVE_FINDINGS_RECONCILE_SECONDS,
  batch = DEFAULT_MAINTENANCE_BATCH,
): Promise<number | null> {
  return (await rebuildActiveFindings(redis, keyPrefix, { everySeconds, batch }))?.groups ?? null;
}

/**
 * A group's stored size in bytes, told by Redis without reading it: a group stored whole (before
 * issue #15) by the length of its JSON, one in the per-finding layout by its field count at
 * {@link STATE_BYTES_PER_FINDING} each (a finding and its share of the last notification).
 */
export async function storedGroupBytes(redis: Redis, keyPrefix: string, groupKey: string): Promise<number> {
  const key = groupRedisKey(keyPrefix, groupKey);
  const replies = (await redis.pipeline().hexists(key, META_FIELD).hstrlen(key, LEGACY_FIELD).hlen(key).exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  return Number(replies[0]?.[1]) === 1 ? Number(replies[2]?.[1] ?? 0) * STATE_BYTES_PER_FINDING : Number(replies[1]?.[1] ?? 0);
}

/** What the store's module-level steps share: the options and what createRedisTrackStore derives from them. */
interface StoreCtx {
  opts: RedisTrackStoreOptions;
  redis: Redis;
  keyPrefix: string;
  retention: number;
  firingTtl: number;
  maxGroups: number;
  clock: () => number;
  cas: CasRedis;
  findingsKeys: ReturnType<typeof activeFindingsKeys>;
}

// A signal's read: the version, the meta (or the legacy whole state), the owner's entry and how
// long the key has left (ms; -1 none, -2 gone) in one round trip; then the findings the decision
// needs, in a second one (none for a legacy group, read whole).
async function readForSignal(
  store: StoreCtx,
  input: SignalInput,
  owner: string,
): Promise<{ version: string; group: PartialGroup | null; legacy: GroupState | null; ttlMs: number }> {
  const { redis, keyPrefix } = store;
  const key = groupRedisKey(keyPrefix, input.groupKey);
  const replies = (await redis.pipeline().hmget(key, 'v', META_FIELD, LEGACY_FIELD, ownerField(owner)).pttl(key).exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  const [version, metaJson, legacyJson, ownerJson] = (replies[0]?.[1] ?? []) as Array<string | null>;
  const ttlMs = Number(replies[1]?.[1] ?? -2);
  if (version == null) return { version: '0', group: null, legacy: null, ttlMs };
  if (metaJson == null) {
    if (legacyJson == null) return { version: '0', group: null, legacy: null, ttlMs };
    return { version, group: null, legacy: parseLegacyGroup(input.groupKey, legacyJson), ttlMs };
  }
  const meta = JSON.parse(metaJson) as GroupMeta;
  const entry: OwnerEntry = ownerJson == null ? { fps: [] } : (JSON.parse(ownerJson) as OwnerEntry);
  const wanted = new Set(input.findings.map((f) => f.fingerprint));
  if (input.completeness === 'snapshot') for (const fp of entry.fps) wanted.add(fp);
  const fps = [...wanted];
  const findings: Record<string, TrackedFinding> = {};
  if (fps.length > 0) {
    const values = await redis.hmget(key, ...fps.map(findingField));
    fps.forEach((fp, i) => {
      const json = values[i];
      if (json != null) findings[fp] = JSON.parse(json) as TrackedFinding;
    });
  }
  return { version, group: { meta, view: viewOf(meta, findings, owner, entry), owner: entry }, legacy: null, ttlMs };
}

async function readWhole(
  store: StoreCtx,
  groupKey: string,
): Promise<{ version: string; state: GroupState | null; legacy: boolean; hash: Record<string, string> }> {
  const { redis, keyPrefix } = store;
  const hash = await redis.hgetall(groupRedisKey(keyPrefix, groupKey));
  const version = hash.v;
  if (version === undefined) return { version: '0', state: null, legacy: false, hash };
  const state = assembleGroup(groupKey, hash);
  return state === null ? { version: '0', state: null, legacy: false, hash } : { version, state, legacy: hash[META_FIELD] === undefined, hash };
}

// A signal that reports what a firing group already holds writes nothing (dedup), but keeps the
// group and its owner's index alive: their deadline moves to a full TTL again once half of it
// has passed (so a stream of duplicates costs no extra round trip most of the time).
async function touch(store: StoreCtx, input: SignalInput, ttlMs: number): Promise<void> {
  const { redis, keyPrefix, firingTtl, clock } = store;
  if (ttlMs >= 0 && ttlMs > (firingTtl * 1000) / 2) return;
  const key = groupRedisKey(keyPrefix, input.groupKey);
  const tx = redis.multi().expire(key, firingTtl);
  tx.zadd(knownGroupsKey(keyPrefix), 'XX', Math.floor(clock() / 1000) + firingTtl, input.groupKey);
  tx.expire(ownerGroupsKey(keyPrefix, ownerPath(input.scope)), firingTtl);
  await tx.exec();
}

interface Commit {
  groupKey: string;
  version: string;
  /** null: the group is deleted. */
  fields: Array<[string, string]> | null;
  /** Any finding of the group fires after the commit. */
  firing: boolean;
  pendingFlush: boolean;
  firstSeen: number;
  /** A signal's: 'add'|'rem' the group from its owner's groups, '' leave it. Absent for a flush. */
  ownerOp?: { scope: SignalScope; op: 'add' | 'rem' | '' };
  deltas: ReturnType<typeof activeFindingsDelta>;
}

async function commit(store: StoreCtx, c: Commit): Promise<boolean> {
  const { cas, keyPrefix, findingsKeys, firingTtl, retention, clock, maxGroups, opts } = store;
  const fields = c.fields ?? [];
  const scope = c.ownerOp?.scope;
  const ok = await cas.meshdriftCas(
    groupRedisKey(keyPrefix, c.groupKey),
    activeGroupsKey(keyPrefix),
    scope ? ownerGroupsKey(keyPrefix, ownerPath(scope)) : groupRedisKey(keyPrefix, c.groupKey),
    findingsKeys.refs,
    findingsKeys.counts,
    groupVersionKey(keyPrefix),
    knownGroupsKey(keyPrefix),
    c.version,
    c.fields === null ? 'd' : '',
    c.firing || c.pendingFlush ? firingTtl : retention,
    c.groupKey,
    c.firing ? 'add' : 'rem',
    c.firstSeen,
    c.ownerOp?.op ?? '',
    Math.floor(clock() / 1000),
    maxGroups,
    firingTtl,
    // A signal (scope) sets the deadline; a flush of a firing group keeps it: repeated
    // notifications alone never keep a group whose sources went quiet.
    scope === undefined && (c.firing || c.pendingFlush) ? 'keep' : 'set',
    fields.length,
    ...fields.flat(),
    ...c.deltas.flatMap((d) => [d.fingerprint, d.field, String(d.delta)]),
  );
  if (ok === -1) {
    opts.onGroupLimit?.(c.groupKey);
    throw new GroupLimitError(maxGroups);
  }
  if (ok === 2) opts.onGroupEvicted?.(c.groupKey);
  return ok === 1 || ok === 2;
}

const anyFiring = (findings: Record<string, TrackedFinding>): boolean => Object.values(findings).some((f) => f.status === 'firing');

function checkGroupFindings(store: StoreCtx, groupKey: string, before: number, after: number): void {
  const max = store.opts.maxGroupFindings;
  if (max !== undefined && after > max && after > before) {
    throw new GroupFindingsLimitError(`alert group ${groupKey} would hold ${after} findings: more than MESHDRIFT_MAX_GROUP_FINDINGS (${max})`);
  }
}

// A group still stored whole (`s`, written before issue #15): decided whole, and its commit
// rewrites it in the per-finding layout.
async function applyLegacy(
  store: StoreCtx,
  input: SignalInput,
  now: number,
  version: string,
  state: GroupState,
  ttlMs: number,
): Promise<ApplyResult<SignalView> | undefined> {
  const result = applySignal(state, input, now);
  if (!result.dirty) {
    const carried = input.reported !== undefined && Object.keys(state.findings).some((fp) => input.reported?.has(fp));
    if (input.findings.length > 0 || carried) await touch(store, input, ttlMs);
    return result;
  }
  const next = result.next;
  if (next !== null) checkGroupFindings(store, input.groupKey, Object.keys(state.findings).length, Object.keys(next.findings).length);
  const holds = next !== null && Object.values(next.findings).some((f) => f.status === 'firing' && inScope(f, input.scope));
  const ok = await commit(store, {
    groupKey: input.groupKey,
    version,
    fields: next === null ? null : allFields(next),
    firing: next !== null && anyFiring(next.findings),
    pendingFlush: next?.pendingFlush != null,
    firstSeen: next?.firstSeen ?? 0,
    ownerOp: { scope: input.scope, op: holds ? 'add' : 'rem' },
    deltas: activeFindingsDelta(state, next),
  });
  return ok ? result : undefined;
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
  const store: StoreCtx = { opts, redis, keyPrefix, retention, firingTtl, maxGroups, clock, cas, findingsKeys };

  return {
    get: async (groupKey) => (await readWhole(store, groupKey)).state,

    apply: (input, now) =>
      retrying(input.groupKey, async () => {
        const owner = ownerPath(input.scope);
        const { version, group, legacy, ttlMs } = await readForSignal(store, input, owner);
        if (legacy !== null) return applyLegacy(store, input, now, version, legacy, ttlMs);
        const result = applySignal(group?.view ?? null, input, now);
        if (!result.dirty) {
          // A finding a reload moved elsewhere but that is still drifted keeps its old group firing
          // (decide.ts applySignal): the snapshot reporting it keeps that group alive too.
          const carried = group !== null && input.reported !== undefined && Object.keys(group.view.findings).some((fp) => input.reported?.has(fp));
          if (group !== null && (input.findings.length > 0 || carried)) await touch(store, input, ttlMs);
          return result;
        }
        const next = result.next;
        if (next === null) return result; // applySignal returns null only when nothing is stored and nothing to store
        const snapshot = input.completeness === 'snapshot';
        const fields = signalFields(group, next, owner, snapshot);
        const meta = JSON.parse(fields[0]?.[1] ?? '{}') as GroupMeta;
        checkGroupFindings(store, input.groupKey, group?.meta.size ?? 0, meta.size);
        // The owner's findings are all read for a snapshot; a partial signal only adds firing ones.
        const holds = snapshot ? Object.values(next.findings).some((f) => f.status === 'firing' && inScope(f, input.scope)) : input.findings.length > 0;
        const ok = await commit(store, {
          groupKey: input.groupKey,
          version,
          fields,
          firing: meta.firing > 0,
          pendingFlush: next.pendingFlush !== null,
          firstSeen: next.firstSeen,
          ownerOp: { scope: input.scope, op: snapshot || holds ? (holds ? 'add' : 'rem') : '' },
          deltas: activeFindingsDelta(group?.view ?? null, next),
        });
        return ok ? result : undefined;
      }),

    flush: (groupKey, epoch, flushSeq, context) =>
      retrying<FlushOutcome>(groupKey, async () => {
        const { version, state, legacy, hash } = await readWhole(store, groupKey);
        if (state === null || state.createdAt !== epoch) return { kind: 'stale' };
        if (state.pendingFlush?.seq !== flushSeq) {
          return state.handledFlushSeq === flushSeq ? { kind: 'already-handled', state } : { kind: 'stale' };
        }
        const ctx = await context(state);
        if (state.pendingFlush.dueAt > ctx.now) return { kind: 'early', dueAt: state.pendingFlush.dueAt };
        const result = flush(state, flushSeq, ctx);
        const next = result.next;
        const ok = await commit(store, {
          groupKey,
          version,
          fields: next === null ? null : legacy ? allFields(next) : flushFields(state, next, hash),
          firing: next !== null && anyFiring(next.findings),
          pendingFlush: next?.pendingFlush != null,
          firstSeen: next?.firstSeen ?? 0,
          deltas: activeFindingsDelta(state, next),
        });
        return ok ? { kind: 'decided', previous: state.lastNotification, ...result } : undefined;
      }),
  };
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

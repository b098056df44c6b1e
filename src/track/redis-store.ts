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
import { createKeyedBatches } from './keyed-batches.ts';
import { ACTIVE_FINDINGS_RECONCILE_SECONDS, DEFAULT_MAINTENANCE_BATCH, rebuildActiveFindings } from './active-findings-rebuild.ts';
import { STATE_BYTES_PER_FINDING } from './memory-budget.ts';
import { activeFindingsKeys, activeGroupsKey, flushDueKey, groupRedisKey, groupVersionKey, knownGroupsKey, ownerGroupsKey } from './keys.ts';

/**
 * Where group state lives. Read, decide in TypeScript (track/decide.ts), commit with a
 * compare-and-set on a version number: the decision stays typed and unit-tested, the commit is
 * atomic across any number of replicas. (WATCH/MULTI would need a connection per transaction;
 * the CAS script works on one shared connection.) A signal reads and writes only the fields it
 * needs of the group's hash (track/group-layout.ts): its cost follows the signal, not the group.
 */
export interface TrackStore {
  /**
   * Applies one signal's findings to their group; returns the decision that was committed.
   * `hint.absent`: the caller believes the group does not exist yet (its owner's index does not
   * name it). A batch of such signals, each with findings, skips the read and commits as a new
   * group; when the group exists after all, the compare-and-set says so and it is read as usual.
   */
  apply(input: SignalInput, now: number, hint?: { absent?: boolean; mark?: CommitMark }): Promise<ApplyResult<SignalView> & { marked?: boolean }>;
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

/**
 * A write made by the commit of a signal's group, in the same script (issue #15: one round trip
 * fewer per Flux webhook): `latest` (JSON with a number `t`) is stored at `latestKey` unless the
 * value there has a later `t` ('' stores nothing), and `seenKey` is set to '1'; each with its TTL.
 * The Flux revision memory and the event's processed mark (sources/flux/revision-store.ts) in the
 * forms that store writes itself. The keys are built from the store's prefix (one Cluster slot).
 * Made only when the commit writes the group; `marked` in the answer says it was.
 */
export interface CommitMark {
  latestKey: string;
  latest: string;
  latestAt: number;
  latestTtlSeconds: number;
  seenKey: string;
  seenTtlSeconds: number;
}

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
  /** Most alert groups, firing or retained (MESHDRIFT_MAX_ALERT_GROUPS). */
  maxGroups?: number;
  /** Called when a signal would create a group past `maxGroups` (it is refused with GroupLimitError). */
  onGroupLimit?: (groupKey: string) => void;
  /** Called when a new group took the place of a resolved one, dropped early because `maxGroups` were kept. */
  onGroupEvicted?: (groupKey: string) => void;
  /** Clock of the key deadlines, epoch ms (default Date.now). */
  now?: () => number;
  /** A signal that would grow a group past this many findings is refused (MESHDRIFT_MAX_GROUP_FINDINGS). */
  maxGroupFindings?: number;
  /**
   * Called when a batch of signals for one group is done: how many signals it held, and how many
   * times its compare-and-set lost to another writer (another replica) before it went through.
   */
  onBatch?: (batch: { signals: number; conflicts: number }) => void;
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

/** A batch of signals for one group, as read for their decision (readForBatch). */
interface BatchRead {
  version: string;
  group: PartialGroup | null;
  /** The whole state of a group still stored whole (before issue #15); group is then null. */
  legacy: GroupState | null;
  /** How long the key has left, ms (-1 none, -2 gone). */
  ttlMs: number;
  /** The batch's owners (owner path → the scope of its first signal). */
  owners: Map<string, SignalScope>;
  /** Owners a snapshot of the batch speaks for: all their findings were read. */
  ownersRead: Set<string>;
}

// A batch's read: the version, the meta (or the legacy whole state), the owners' entries and the
// findings the signals name (one HMGET), and how long the key has left, in one round trip; then, for a snapshot,
// its owner's findings not read yet, in a second one.
async function readForBatch(store: StoreCtx, groupKey: string, inputs: readonly SignalInput[]): Promise<BatchRead> {
  const { redis, keyPrefix } = store;
  const key = groupRedisKey(keyPrefix, groupKey);
  const owners = new Map<string, SignalScope>();
  const ownersRead = new Set<string>();
  const named = new Set<string>();
  for (const input of inputs) {
    const owner = ownerPath(input.scope);
    if (!owners.has(owner)) owners.set(owner, input.scope);
    if (input.completeness === 'snapshot') ownersRead.add(owner);
    for (const f of input.findings) named.add(f.fingerprint);
  }
  const ownerNames = [...owners.keys()];
  const namedFps = [...named];
  // Two commands, not a pipeline object (costly to build): the connection sends the commands of one
  // turn of the event loop in one write (src/redis.ts).
  const [values, ttl] = await Promise.all([
    redis.hmget(key, 'v', META_FIELD, LEGACY_FIELD, ...ownerNames.map(ownerField), ...namedFps.map(findingField)),
    redis.pttl(key),
  ]);
  const [version, metaJson, legacyJson] = values;
  const ownerJsons = values.slice(3, 3 + ownerNames.length);
  const findingJsons = values.slice(3 + ownerNames.length);
  const ttlMs = Number(ttl);
  const none: BatchRead = { version: '0', group: null, legacy: null, ttlMs, owners, ownersRead };
  if (version == null) return none;
  if (metaJson == null) return legacyJson == null ? none : { ...none, version, legacy: parseLegacyGroup(groupKey, legacyJson) };
  const meta = JSON.parse(metaJson) as GroupMeta;
  const entries = new Map<string, OwnerEntry>();
  ownerNames.forEach((owner, i) => {
    const json = ownerJsons[i];
    entries.set(owner, json == null ? { fps: [] } : (JSON.parse(json) as OwnerEntry));
  });
  const findings: Record<string, TrackedFinding> = {};
  namedFps.forEach((fp, i) => {
    const json = findingJsons[i];
    if (json != null) findings[fp] = JSON.parse(json) as TrackedFinding;
  });
  const more = [...ownersRead].flatMap((owner) => entries.get(owner)?.fps ?? []).filter((fp) => !named.has(fp));
  if (more.length > 0) {
    const rest = await redis.hmget(key, ...more.map(findingField));
    more.forEach((fp, i) => {
      const json = rest[i];
      if (json != null) findings[fp] = JSON.parse(json) as TrackedFinding;
    });
  }
  return { ...none, version, group: { meta, view: viewOf(meta, findings, entries), owners: entries } };
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

// A batch that reports what a firing group already holds writes nothing (dedup), but keeps the
// group and its owners' indexes alive: their deadline moves to a full TTL again once half of it
// has passed (so a stream of duplicates costs no extra round trip most of the time).
async function touch(store: StoreCtx, groupKey: string, scopes: readonly SignalScope[], ttlMs: number): Promise<void> {
  const { redis, keyPrefix, firingTtl, clock } = store;
  if (ttlMs >= 0 && ttlMs > (firingTtl * 1000) / 2) return;
  const key = groupRedisKey(keyPrefix, groupKey);
  const tx = redis.multi().expire(key, firingTtl);
  tx.zadd(knownGroupsKey(keyPrefix), 'XX', Math.floor(clock() / 1000) + firingTtl, groupKey);
  for (const scope of scopes) tx.expire(ownerGroupsKey(keyPrefix, ownerPath(scope)), firingTtl);
  const replies = (await tx.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
}

interface Commit {
  groupKey: string;
  version: string;
  /** null: the group is deleted. */
  fields: Array<[string, string]> | null;
  /** Any finding of the group fires after the commit. */
  firing: boolean;
  pendingFlush: boolean;
  /** The flush intent this commit records (track/flush-intents.ts): see {@link intentOf}. */
  intent: FlushIntentOp;
  firstSeen: number;
  /** A batch's: per owner, 'add'|'rem' the group from its owner's groups, '' leave it. Absent for a flush. */
  ownerOps?: ReadonlyArray<{ scope: SignalScope; op: 'add' | 'rem' | '' }>;
  /** A batch's: the marks of its signals that were applied (CommitMark). */
  marks?: readonly CommitMark[];
  deltas: ReturnType<typeof activeFindingsDelta>;
}

/** What a commit does to the group's member of the flush-due zset (redis-scripts.ts CAS_SCRIPT). */
interface FlushIntentOp {
  op: 'set' | 'nx' | 'rem' | '';
  dueAt: number;
}

/**
 * The flush intent of a commit that takes a group from pending flush `before` to `after`: a new
 * pending flush is recorded ('set': its due time replaces the member's score, a mover's lease
 * included); one the commit keeps is recorded only if missing ('nx': a group a replica of the
 * previous version wrote, which added the flush job itself, gains its intent; a lease stays); none
 * left is removed ('rem').
 */
export function intentOf(before: { seq: number } | null, after: { seq: number; dueAt: number } | null): FlushIntentOp {
  if (after === null) return { op: before === null ? '' : 'rem', dueAt: 0 };
  return { op: before !== null && before.seq === after.seq ? 'nx' : 'set', dueAt: after.dueAt };
}

// The CAS script's variable arguments after the field count (redis-scripts.ts), in one array built
// in place: the field pairs, the other owners' index ops, the commit marks, the active-findings deltas.
function tailArgs(keyPrefix: string, fields: ReadonlyArray<[string, string]>, further: NonNullable<Commit['ownerOps']>, c: Commit): Array<string | number> {
  const args: Array<string | number> = [];
  for (const [field, value] of fields) args.push(field, value);
  args.push(further.length);
  for (const o of further) args.push(ownerGroupsKey(keyPrefix, ownerPath(o.scope)), o.op);
  const marks = c.marks ?? [];
  args.push(marks.length);
  for (const m of marks) args.push(m.latestKey, m.seenKey, m.latest, m.latestAt, m.latestTtlSeconds, m.seenTtlSeconds);
  for (const d of c.deltas) args.push(d.fingerprint, d.field, String(d.delta));
  return args;
}

async function commit(store: StoreCtx, c: Commit): Promise<boolean> {
  const { cas, keyPrefix, findingsKeys, firingTtl, retention, clock, maxGroups, opts } = store;
  const fields = c.fields ?? [];
  const [first, ...others] = c.ownerOps ?? [];
  const scope = first?.scope;
  const further = others.filter((o) => o.op !== '');
  const ok = await cas.meshdriftCas(
    groupRedisKey(keyPrefix, c.groupKey),
    activeGroupsKey(keyPrefix),
    scope ? ownerGroupsKey(keyPrefix, ownerPath(scope)) : groupRedisKey(keyPrefix, c.groupKey),
    findingsKeys.refs,
    findingsKeys.counts,
    groupVersionKey(keyPrefix),
    knownGroupsKey(keyPrefix),
    flushDueKey(keyPrefix),
    c.version,
    c.fields === null ? 'd' : '',
    c.firing || c.pendingFlush ? firingTtl : retention,
    c.groupKey,
    c.firing ? 'add' : 'rem',
    c.firstSeen,
    first?.op ?? '',
    Math.floor(clock() / 1000),
    maxGroups,
    firingTtl,
    // A signal (scope) sets the deadline; a flush of a firing group keeps it: repeated
    // notifications alone never keep a group whose sources went quiet.
    scope === undefined && (c.firing || c.pendingFlush) ? 'keep' : 'set',
    c.intent.op,
    c.intent.dueAt,
    fields.length,
    ...tailArgs(keyPrefix, fields, further, c),
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

/** One signal of a batch, with its receipt time and whether its caller believes the group absent. */
interface Pending {
  input: SignalInput;
  now: number;
  absent: boolean;
  mark: CommitMark | undefined;
}

/** A signal's decision (`marked`: its CommitMark was written with it), or why it alone was refused (the batch's other signals go on without it). */
type BatchOutcome = (ApplyResult<SignalView> & { marked?: boolean }) | Error;

/** Most signals folded into one commit of a group. */
const MAX_BATCH_SIGNALS = 256;

// Folds a batch's signals through the decision one after another, in arrival order: each sees the
// state the ones before it left. A signal the decision refuses (past MESHDRIFT_MAX_GROUP_FINDINGS,
// a new group without labels) gets its error and leaves the state as it was.
function foldBatch(store: StoreCtx, groupKey: string, start: SignalView | null, startSize: number, batch: readonly Pending[]) {
  let view = start;
  let size = startSize;
  let dirty = false;
  const results: BatchOutcome[] = [];
  for (const { input, now } of batch) {
    try {
      const r = applySignal(view, input, now);
      if (r.dirty) {
        const added = new Set(input.findings.map((f) => f.fingerprint).filter((fp) => view?.findings[fp] === undefined)).size;
        checkGroupFindings(store, groupKey, size, size + added);
        size += added;
        view = r.next;
        dirty = true;
      }
      results.push(r);
    } catch (err) {
      results.push(err instanceof Error ? err : new Error(String(err)));
    }
  }
  return { view, dirty, results };
}

// Per owner of the batch, what its commit does to the owner's group index: a snapshot (all its
// findings read) or a legacy group (read whole) tells whether the owner still fires here; a partial
// signal with findings adds the group; otherwise it is left as it is.
function ownerOpsOf(read: BatchRead, batch: readonly Pending[], results: readonly BatchOutcome[], final: SignalView) {
  const named = new Set<string>();
  batch.forEach(({ input }, i) => {
    if (!(results[i] instanceof Error) && input.findings.length > 0) named.add(ownerPath(input.scope));
  });
  return [...read.owners].map(([owner, scope]) => {
    if (read.legacy !== null || read.ownersRead.has(owner)) {
      const holds = Object.values(final.findings).some((f) => f.status === 'firing' && inScope(f, scope));
      return { scope, op: holds ? ('add' as const) : ('rem' as const) };
    }
    return { scope, op: named.has(owner) ? ('add' as const) : ('' as const) };
  });
}

// A batch that changed nothing: a stored group its signals report (or a snapshot carries a
// finding of: decide.ts applySignal) is kept alive.
async function keepAlive(
  store: StoreCtx,
  groupKey: string,
  read: BatchRead,
  start: SignalView | null,
  batch: readonly Pending[],
  results: readonly BatchOutcome[],
) {
  if (start === null) return;
  const scopes = batch
    .filter(({ input }, i) => {
      if (results[i] instanceof Error) return false;
      const carried = input.reported !== undefined && Object.keys(start.findings).some((fp) => input.reported?.has(fp));
      return input.findings.length > 0 || carried;
    })
    .map(({ input }) => input.scope);
  if (scopes.length > 0) await touch(store, groupKey, scopes, read.ttlMs);
}

// What a batch reads of a group its callers believe absent, without asking Redis: nothing.
function absentRead(inputs: readonly SignalInput[]): BatchRead {
  const owners = new Map<string, SignalScope>();
  const ownersRead = new Set<string>();
  for (const input of inputs) {
    const owner = ownerPath(input.scope);
    if (!owners.has(owner)) owners.set(owner, input.scope);
    if (input.completeness === 'snapshot') ownersRead.add(owner);
  }
  return { version: '0', group: null, legacy: null, ttlMs: -2, owners, ownersRead };
}

// One attempt at a batch: read, fold, commit once. undefined: another writer (another replica)
// committed the group in between; the caller reads and folds again. A batch whose every signal
// brings findings for a group its caller believes absent (a new owner's first signal) is first
// tried without the read, as a new group: a lost compare-and-set then only means the group exists,
// and it is read and decided as usual at once (not a conflict).
async function applyBatch(store: StoreCtx, groupKey: string, batch: readonly Pending[]): Promise<BatchOutcome[] | undefined> {
  const inputs = batch.map((p) => p.input);
  if (batch.every((p) => p.absent && p.input.findings.length > 0)) {
    const results = await decideAndCommit(store, groupKey, batch, absentRead(inputs));
    if (results !== undefined) return results;
  }
  return decideAndCommit(store, groupKey, batch, await readForBatch(store, groupKey, inputs));
}

async function decideAndCommit(store: StoreCtx, groupKey: string, batch: readonly Pending[], read: BatchRead): Promise<BatchOutcome[] | undefined> {
  const start: SignalView | null = read.legacy ?? read.group?.view ?? null;
  const startSize = read.legacy !== null ? Object.keys(read.legacy.findings).length : (read.group?.meta.size ?? 0);
  const { view, dirty, results } = foldBatch(store, groupKey, start, startSize, batch);
  if (!dirty || view === null) {
    await keepAlive(store, groupKey, read, start, batch, results);
    return results;
  }
  let fields: Array<[string, string]>;
  let firing: boolean;
  if (read.legacy !== null) {
    // Stored whole (`s`, before issue #15): decided whole, rewritten in the per-finding layout.
    fields = allFields(view as GroupState);
    firing = anyFiring(view.findings);
  } else {
    const written = signalFields(read.group, view, read.owners.keys(), read.ownersRead);
    fields = written.fields;
    firing = written.meta.firing > 0;
  }
  const ok = await commit(store, {
    groupKey,
    version: read.version,
    fields,
    firing,
    pendingFlush: view.pendingFlush !== null,
    intent: intentOf(start?.pendingFlush ?? null, view.pendingFlush),
    firstSeen: view.firstSeen,
    ownerOps: ownerOpsOf(read, batch, results, view),
    marks: batch.flatMap((p, i) => (p.mark === undefined || results[i] instanceof Error ? [] : [p.mark])),
    deltas: activeFindingsDelta(start, view),
  });
  if (!ok) return undefined;
  // Every signal of the batch answers with the state committed (the flush it must see scheduled).
  return results.map((r, i) => (r instanceof Error ? r : { ...r, next: view, ...(batch[i]?.mark === undefined ? {} : { marked: true }) }));
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
  // Signals for one group on this replica are folded into one commit per batch (issue #15): they
  // never race each other's compare-and-set; other replicas' commits still do.
  const batches = createKeyedBatches<Pending, ApplyResult<SignalView> & { marked?: boolean }>(async (groupKey, batch) => {
    let conflicts = 0;
    const results = await retrying(groupKey, async () => {
      const r = await applyBatch(store, groupKey, batch);
      if (r === undefined) conflicts++;
      return r;
    });
    opts.onBatch?.({ signals: batch.length, conflicts });
    return results;
  }, MAX_BATCH_SIGNALS);

  return {
    get: async (groupKey) => (await readWhole(store, groupKey)).state,

    apply: (input, now, hint) => batches(input.groupKey, { input, now, absent: hint?.absent === true, mark: hint?.mark }),

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
          intent: intentOf(state.pendingFlush, next?.pendingFlush ?? null),
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

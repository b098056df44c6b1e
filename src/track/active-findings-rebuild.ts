import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { activeFindingsKeys, activeFindingsRebuildKeys, activeGroupsKey, groupRedisKey } from './keys.ts';
import { defineScripts, type CasRedis } from './redis-scripts.ts';

/**
 * The rebuild of the active-findings counts from the groups' states (track/active-findings.ts), in
 * bounded steps so that Redis is never blocked for long (issue #15: the one-script recount blocked
 * Redis 0.6 s at 10,000 groups, 2.3 s at 50,000, and every client got BUSY past 5 s).
 *
 * The commits keep the counts exact; the rebuild is for what they cannot see: groups written before
 * the counts existed, and commits by an older replica during a rolling upgrade. How it stays exact
 * while commits interleave with its steps:
 * - it builds shadow refs and counts beside the live ones (redis-scripts.ts REBUILD_*);
 * - this process reads a batch of active groups (ZSCAN) and their states, and computes their firing
 *   refs here, not in Redis; a step adds them to the shadow only if each group is still at the
 *   version it was read at, and marks it done;
 * - every commit while the rebuild runs (the CAS script) applies its delta to the shadow too if its
 *   group is done, and otherwise puts the group on a todo list, read before the rebuild ends (so a
 *   group that became active after the ZSCAN passed, or changed after it was read, is not missed);
 * - the last step, when todo is empty, swaps the shadow in: at that moment it is the sum over every
 *   group's current state, exactly what the recount in one script gave.
 * A group with more refs than one batch is added in chunks; if it changes between them, the chunks
 * added are taken back and it is read again. A commit by an older replica's script during the
 * rebuild is not seen (it knows no shadow): the next rebuild corrects it, as before.
 */

/** How often one replica rebuilds the counts from the group states. */
export const ACTIVE_FINDINGS_RECONCILE_SECONDS = 3600;
/** Refs (or groups) per step, and groups per ZSCAN (MESHDRIFT_MAINTENANCE_BATCH). */
export const DEFAULT_MAINTENANCE_BATCH = 500;
/** A rebuild no step renewed for this long is abandoned: its keys expire, commits stop feeding it. */
const REBUILD_TTL_MS = 120_000;
/** A group that changed this many times while the rebuild tried to read it gives the rebuild up (the next one retries). */
const MAX_READS_PER_GROUP = 8;

export interface RebuildOptions {
  everySeconds?: number;
  batch?: number;
  /** Called after each step with its duration as this process saw it (ms, round trip included), and awaited: for the bench and tests. */
  onStep?: (ms: number) => void | Promise<void>;
}

export interface RebuildResult {
  /** Active groups when it started. */
  groups: number;
  /** Script calls it took (start, steps, undo, finish). */
  steps: number;
}

/** Thrown when a rebuild had to stop (another one replaced it, or a group changed on every read); the live counts are unchanged. */
export class RebuildAbandonedError extends Error {
  override readonly name = 'RebuildAbandonedError';
}

/** The ref (`fingerprint|severity|mesh|category`) of a stored finding if it fires, else null. */
function firingRef(key: string, f: unknown): string | null {
  if (typeof f !== 'object' || f === null) return null;
  const finding = f as { status?: unknown; fingerprint?: unknown; severity?: unknown; mesh?: unknown; category?: unknown };
  if (finding.status !== 'firing') return null;
  const fp = typeof finding.fingerprint === 'string' ? finding.fingerprint : key;
  // countField's layout (severity|mesh|category), as the commits write it.
  return `${fp}|${String(finding.severity)}|${String(finding.mesh)}|${String(finding.category)}`;
}

function parsed(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

/** The distinct firing refs of a group stored whole (field `s`, one JSON value). */
export function firingRefsOfStored(json: string | null): string[] {
  if (json === null) return [];
  const state = parsed(json);
  // State meshdrift wrote itself: a structural guard, not a schema (the recount in Lua did the same).
  const findings = typeof state === 'object' && state !== null ? (state as { findings?: unknown }).findings : undefined;
  if (typeof findings !== 'object' || findings === null) return [];
  const refs = new Set<string>();
  for (const [key, f] of Object.entries(findings)) {
    const ref = firingRef(key, f);
    if (ref !== null) refs.add(ref);
  }
  return [...refs];
}

/**
 * The distinct firing refs of a group stored one finding per field (`f:<fingerprint>`, with its
 * meta in `m`: track/group-layout.ts), read with HSCAN, `count` fields per call.
 */
async function firingRefsOfFields(redis: Redis, key: string, count: number): Promise<string[]> {
  const refs = new Set<string>();
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'MATCH', 'f:*', 'COUNT', count);
    cursor = next;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const ref = firingRef((flat[i] ?? '').slice(2), parsed(flat[i + 1] ?? ''));
      if (ref !== null) refs.add(ref);
    }
  } while (cursor !== '0');
  return [...refs];
}

/** Claims the rebuild (unless one ran within `everySeconds`) and lists the groups to read; negative: not now. */
function startRebuild(r: CasRedis, keyPrefix: string, everySeconds: number, id: string): Promise<number> {
  const k = activeFindingsRebuildKeys(keyPrefix);
  return r.meshdriftRebuildStart(
    activeFindingsKeys(keyPrefix).reconciled,
    k.running,
    k.refs,
    k.counts,
    k.done,
    k.todo,
    activeGroupsKey(keyPrefix),
    everySeconds,
    id,
    REBUILD_TTL_MS,
  );
}

/**
 * Rebuilds the active-findings counts in steps of at most `batch` refs, unless some replica started
 * one within `everySeconds`. Returns what it did, or null when the last run is recent.
 */
export async function rebuildActiveFindings(redis: Redis, keyPrefix: string, opts: RebuildOptions = {}): Promise<RebuildResult | null> {
  defineScripts(redis);
  const r = redis as CasRedis;
  const batch = Math.max(1, opts.batch ?? DEFAULT_MAINTENANCE_BATCH);
  const live = activeFindingsKeys(keyPrefix);
  const k = activeFindingsRebuildKeys(keyPrefix);
  const groupPrefix = groupRedisKey(keyPrefix, '');
  const id = randomUUID();
  let steps = 0;
  const timed = async <T>(call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await call();
    steps++;
    await opts.onStep?.(performance.now() - started);
    return result;
  };
  const groups = await timed(() => startRebuild(r, keyPrefix, opts.everySeconds ?? ACTIVE_FINDINGS_RECONCILE_SECONDS, id));
  if (groups < 0) return null;
  const reads = new Map<string, number>();
  const abandon = async (why: string): Promise<never> => {
    // Only ours: a newer rebuild's keys are left alone (its id is in `running`).
    if ((await redis.get(k.running)) === id) await redis.unlink(k.running, k.refs, k.counts, k.done, k.todo);
    throw new RebuildAbandonedError(`active findings rebuild abandoned: ${why}; the counts stay as the commits keep them`);
  };

  const step = async (entries: string[]): Promise<string[]> => {
    const reply = await timed(() => r.meshdriftRebuildStep(k.running, k.refs, k.counts, k.done, k.todo, id, REBUILD_TTL_MS, groupPrefix, ...entries));
    if (reply[0] !== 'ok') return abandon('another rebuild replaced it, or it was idle too long');
    return reply.slice(1);
  };

  /** Reads `keys` (one round trip) and adds their refs, a batch per step. */
  const account = async (keys: readonly string[]): Promise<void> => {
    if (keys.length === 0) return;
    const pipeline = redis.pipeline();
    for (const g of keys) pipeline.hmget(groupPrefix + g, 'v', 'm', 's');
    const replies = (await pipeline.exec()) ?? [];
    let entries: string[] = [];
    let size = 0;
    for (const [i, g] of keys.entries()) {
      const [err, value] = replies[i] ?? [null, null];
      if (err) throw err;
      const [version, meta, json] = (value ?? [null, null, null]) as Array<string | null>;
      const n = (reads.get(g) ?? 0) + 1;
      reads.set(g, n);
      if (n > MAX_READS_PER_GROUP) await abandon(`group ${g} changed at each of ${MAX_READS_PER_GROUP} reads`);
      // Both layouts: one finding per field (meta `m`), or the whole state in `s` (before issue #15).
      const refs = version === null ? [] : meta !== null ? await firingRefsOfFields(redis, groupPrefix + g, batch) : firingRefsOfStored(json ?? null);
      if (refs.length > batch) {
        await accountLarge(g, version ?? '', refs);
        continue;
      }
      if (size + refs.length > batch && entries.length > 0) {
        await step(entries);
        entries = [];
        size = 0;
      }
      entries.push(g, version ?? '', '1', String(refs.length), ...refs);
      size += refs.length + 1;
    }
    if (entries.length > 0) await step(entries);
  };

  /** A group with more refs than a step takes: in chunks, taken back if it changes between them. */
  const accountLarge = async (g: string, version: string, refs: readonly string[]): Promise<void> => {
    for (let at = 0; at < refs.length; at += batch) {
      const last = at + batch >= refs.length;
      const chunk = refs.slice(at, at + batch);
      const changed = await step([g, version, last ? '1' : '0', String(chunk.length), ...chunk]);
      if (changed.includes(g)) {
        for (let back = 0; back < at; back += batch) {
          const taken = await timed(() => r.meshdriftRebuildUndo(k.running, k.refs, k.counts, id, ...refs.slice(back, Math.min(back + batch, at))));
          if (taken !== 1) await abandon('another rebuild replaced it, or it was idle too long');
        }
        return; // On todo: read again.
      }
    }
  };

  let cursor = '0';
  do {
    const [next, flat] = await timed(() => redis.zscan(activeGroupsKey(keyPrefix), cursor, 'COUNT', batch));
    cursor = next;
    await account(flat.filter((_, i) => i % 2 === 0));
  } while (cursor !== '0');
  for (;;) {
    const todo = await timed(() => redis.srandmember(k.todo, batch));
    if (todo.length > 0) {
      await account(todo);
      continue;
    }
    const finished = await timed(() => r.meshdriftRebuildFinish(k.running, k.refs, k.counts, k.done, k.todo, live.refs, live.counts, id));
    if (finished === 1) return { groups, steps };
    if (finished < 0) await abandon('another rebuild replaced it, or it was idle too long');
  }
}

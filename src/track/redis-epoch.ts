import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { announcedKey, epochKey } from './keys.ts';

/**
 * Detects that Redis lost meshdrift's state (issue #12 item 9: restarted empty, without AOF). A
 * key `<prefix>:epoch` holds a random id written once (SET NX). Each replica remembers the id it
 * saw; at start, at every reconnect and every `intervalMs` it reads the key again:
 * - missing, and this process never saw one: the first start (or a Redis emptied while no replica
 *   ran, which cannot be told apart): a new epoch is written, no loss;
 * - missing while this process had seen one, or another id than the one it saw: Redis lost its
 *   data. A new epoch (carrying when the loss was found) is written with SET NX; every replica
 *   that sees the loss reports it (log, metric) and re-derives what it can from its sources, and
 *   the one that wins a SET NX on the new epoch's announcement key announces it (once).
 * The key carries a TTL (refreshed at every check), as every meshdrift key does.
 */

export const EPOCH_TTL_MS = 30 * 24 * 60 * 60 * 1000;

const epochRecordSchema = z.object({
  id: z.string().min(1).max(64),
  createdAt: z.number().int().nonnegative(),
  /** When a replica found the loss this epoch replaced (epoch ms); absent on a first start. */
  lostAt: z.number().int().nonnegative().optional(),
});
export type EpochRecord = z.infer<typeof epochRecordSchema>;

export interface DataLoss {
  /** When the loss was found (the new epoch's `lostAt`). */
  at: number;
  /** The epoch id this replica had seen, now gone. */
  previous: string;
  /** The new epoch. */
  epoch: string;
  /** Whether this replica won the SET NX on the new epoch's announcement key: it announces the loss (once across replicas). */
  announce: boolean;
}

export interface RedisEpochOptions {
  redis: Redis;
  prefix: string;
  log: Logger;
  now: () => number;
  /** Each loss this replica finds; errors are logged, never thrown back. */
  onLoss: (loss: DataLoss) => Promise<void> | void;
  /** Redis failed the check (down): nothing is decided until a check succeeds. */
  onCheckFailed?: (err: unknown) => void;
  ttlMs?: number;
}

export interface RedisEpoch {
  /** Reads (and if needed writes) the epoch; one at a time. Rejects when Redis fails. */
  check(): Promise<void>;
  /** When the last loss was found (this replica's, or the one the current epoch records), if any. */
  lostAt(): number | undefined;
  /** The epoch id this replica knows (after the first successful check). */
  current(): string | undefined;
}

function parseRecord(raw: string | null): EpochRecord | null {
  if (raw === null) return null;
  try {
    const parsed = epochRecordSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function createRedisEpoch(opts: RedisEpochOptions): RedisEpoch {
  const key = epochKey(opts.prefix);
  const ttlMs = opts.ttlMs ?? EPOCH_TTL_MS;
  let known: string | undefined;
  let lostAt: number | undefined;
  let running: Promise<void> | undefined;

  /** SET NX of a new epoch; the record in force afterwards, and whether this call wrote it. */
  const writeNew = async (record: EpochRecord): Promise<{ record: EpochRecord; won: boolean }> => {
    const won = (await opts.redis.set(key, JSON.stringify(record), 'PX', ttlMs, 'NX')) === 'OK';
    if (won) return { record, won };
    const current = parseRecord(await opts.redis.get(key));
    // Gone again, or unreadable (someone else's value): take the write by force; a later check sorts it out.
    if (current === null) {
      await opts.redis.set(key, JSON.stringify(record), 'PX', ttlMs);
      return { record, won: true };
    }
    return { record: current, won: false };
  };

  const lost = async (record: EpochRecord, previous: string): Promise<void> => {
    known = record.id;
    const at = record.lostAt ?? opts.now();
    lostAt = at;
    // One announcement per new epoch across replicas, whoever wrote the epoch.
    const announce = (await opts.redis.set(announcedKey(opts.prefix, record.id), String(at), 'PX', ttlMs, 'NX')) === 'OK';
    opts.log.error(
      { previousEpoch: previous, epoch: record.id, lostAt: new Date(at).toISOString(), announcing: announce },
      'Redis lost meshdrift state (its epoch key is gone or replaced: Redis restarted without persistence?): open alerts, silences and queued notifications are gone; re-deriving findings from the sources',
    );
    try {
      await opts.onLoss({ at, previous, epoch: record.id, announce });
    } catch (err) {
      opts.log.error({ error: err instanceof Error ? err.message : String(err) }, 'handling the Redis data loss failed');
    }
  };

  const checkOnce = async (): Promise<void> => {
    const record = parseRecord(await opts.redis.get(key));
    if (record === null) {
      const fresh: EpochRecord = { id: randomUUID(), createdAt: opts.now() };
      if (known === undefined) {
        const { record: inForce, won } = await writeNew(fresh);
        known = inForce.id;
        if (inForce.lostAt !== undefined) lostAt = inForce.lostAt;
        if (won)
          opts.log.info({ epoch: inForce.id }, 'no Redis epoch yet: first start on this Redis (or its data was lost while no replica ran); epoch written');
        return;
      }
      const previous = known;
      const { record: inForce } = await writeNew({ ...fresh, lostAt: fresh.createdAt });
      await lost(inForce, previous);
      return;
    }
    if (known === undefined) {
      known = record.id;
      if (record.lostAt !== undefined) lostAt = record.lostAt;
    } else if (record.id !== known) {
      // Another replica found the loss first (or Redis was wiped and refilled between two checks).
      await lost(record, known);
      return;
    }
    await opts.redis.pexpire(key, ttlMs);
  };

  return {
    check() {
      running ??= checkOnce().finally(() => {
        running = undefined;
      });
      return running;
    },
    lostAt: () => lostAt,
    current: () => known,
  };
}

import type { Redis } from 'ioredis';
import type { BestEffort } from '../best-effort.ts';
import type { Signal } from '../model/signal.ts';
import type { Ingest } from './ingest.ts';

/**
 * When each source last spoke for each cluster (issue #21, the web page's Sources view: a silent
 * source is seen). One Redis hash `${keyPrefix}:last-signal`, field `<source>|<cluster>`, value
 * epoch ms; at most {@link MAX_LAST_SIGNALS} fields (a new pair past it is not recorded), expiring
 * {@link LAST_SIGNAL_TTL_SECONDS} after the last write. Each process writes a pair at most once per
 * {@link LAST_SIGNAL_EVERY_MS}: a burst of webhooks costs no Redis write per signal.
 *
 * A write never fails the ingest. One that fails is retried by the next signal of its pair and
 * reported as the best-effort step `last_signal_write` (best-effort.ts: counted in
 * `meshdrift_best_effort_failures_total`, logged at warn at most once a minute with the number that
 * failed since the last line: an outage does not flood the log).
 */
export const MAX_LAST_SIGNALS = 1000;
export const LAST_SIGNAL_TTL_SECONDS = 30 * 86_400;
export const LAST_SIGNAL_EVERY_MS = 5_000;

export const lastSignalKey = (keyPrefix: string): string => `${keyPrefix}:last-signal`;

export interface LastSignal {
  source: string;
  cluster: string;
  at: number;
}

export interface LastSignals {
  /** `ingest`, noting each signal's source and cluster first (never failing the ingest for it). */
  wrap(ingest: Ingest): Ingest;
  /** Every pair, newest first. */
  list(): Promise<LastSignal[]>;
}

export interface LastSignalsDeps {
  bestEffort: BestEffort;
}

// Sets the field when it exists or the hash has room; refreshes the TTL. KEYS: hash. ARGV: field, at, max, ttl.
// Sent by its hash (ioredis defineCommand: EVAL the first time on a connection, EVALSHA after), not its text each time.
const NOTE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1`;

type NoteRedis = Redis & { meshdriftLastSignalNote(key: string, field: string, at: string, max: string, ttl: string): Promise<unknown> };

function withNoteScript(redis: Redis): NoteRedis {
  if (!('meshdriftLastSignalNote' in redis)) redis.defineCommand('meshdriftLastSignalNote', { numberOfKeys: 1, lua: NOTE });
  return redis as NoteRedis;
}

export function createLastSignals(redis: Redis, keyPrefix: string, now: () => number, deps: LastSignalsDeps): LastSignals {
  const key = lastSignalKey(keyPrefix);
  const r = withNoteScript(redis);
  const written = new Map<string, number>();
  const failed = (field: string, err: unknown): void => {
    written.delete(field);
    deps.bestEffort.failed('last_signal_write', err);
  };
  const note = (signal: Signal): void => {
    const field = `${signal.source}|${signal.cluster}`.slice(0, 512);
    const at = now();
    const last = written.get(field);
    if (last !== undefined && at - last < LAST_SIGNAL_EVERY_MS) return;
    if (written.size >= MAX_LAST_SIGNALS && last === undefined) written.clear();
    written.set(field, at);
    // The Sources view is a hint; the ingest's own write is what counts: a failure here never fails it.
    try {
      r.meshdriftLastSignalNote(key, field, String(at), String(MAX_LAST_SIGNALS), String(LAST_SIGNAL_TTL_SECONDS)).catch((err: unknown) => failed(field, err));
    } catch (err) {
      failed(field, err);
    }
  };
  return {
    wrap: (ingest) => (signal, options) => {
      note(signal);
      return ingest(signal, options);
    },
    async list() {
      const hash = await redis.hgetall(key);
      const out: LastSignal[] = [];
      for (const [field, value] of Object.entries(hash)) {
        const i = field.indexOf('|');
        const at = Number(value);
        if (i > 0 && Number.isFinite(at)) out.push({ source: field.slice(0, i), cluster: field.slice(i + 1), at });
      }
      return out.sort((a, b) => b.at - a.at).slice(0, MAX_LAST_SIGNALS);
    },
  };
}

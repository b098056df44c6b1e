import type { Logger } from './log.ts';

/**
 * One clock for every replica: Redis `TIME`. Each replica measures the offset between Redis' clock
 * and its own (at start, then every `syncIntervalMs`), corrected for half the round trip, and
 * tells time as local + offset. So group_wait, silences, snapshot order and every timer agree
 * across replicas even when a node's clock is off (issue #12 item 11). A failed measurement keeps
 * the last offset, and is logged and counted; the first one must succeed (start fails otherwise).
 */
export interface SharedClock {
  /** Epoch ms by the shared clock. */
  now(): number;
  /** Redis TIME minus the local clock, ms (last successful measurement). */
  offsetMs(): number;
  /** Measures the offset once (best of a few samples); throws when Redis does not answer. */
  sync(): Promise<number>;
  /** First measurement (retried; throws if every attempt fails), then periodic ones. */
  start(): Promise<void>;
  stop(): void;
}

/** The one Redis command the clock needs: TIME answers [seconds, microseconds]. */
export interface TimeSource {
  time(): Promise<[string, string] | [number, number] | unknown[]>;
}

export interface SharedClockOptions {
  redis: TimeSource;
  /** The local clock (default Date.now); tests inject a skewed one. */
  local?: () => number;
  log: Logger;
  /** How often to measure again (default 30 s). */
  syncIntervalMs?: number;
  /** Warn in the log when the local clock is off by more than this (default 1 s). */
  warnOffsetMs?: number;
  /** The measured offset (seconds), and each failed measurement. */
  onOffset?: (seconds: number) => void;
  onSyncError?: () => void;
  /** Samples per measurement; the one with the shortest round trip wins (default 3). */
  samples?: number;
  /** Attempts of the first measurement at start (default 5, 200 ms apart, doubling). */
  startAttempts?: number;
}

function redisMs(reply: unknown): number {
  if (!Array.isArray(reply) || reply.length < 2) throw new Error('redis TIME: unexpected reply');
  const seconds = Number(reply[0]);
  const micros = Number(reply[1]);
  if (!Number.isFinite(seconds) || !Number.isFinite(micros)) throw new Error('redis TIME: unexpected reply');
  return seconds * 1000 + micros / 1000;
}

export function createSharedClock(opts: SharedClockOptions): SharedClock {
  const local = opts.local ?? (() => Date.now());
  const interval = opts.syncIntervalMs ?? 30_000;
  const warnAt = opts.warnOffsetMs ?? 1_000;
  const samples = Math.max(1, opts.samples ?? 3);
  let offset = 0;
  let timer: NodeJS.Timeout | undefined;
  let failing = false;
  let warned = false;

  async function sync(): Promise<number> {
    let best: { rtt: number; offset: number } | undefined;
    for (let i = 0; i < samples; i++) {
      const sent = local();
      const server = redisMs(await opts.redis.time());
      const received = local();
      const rtt = received - sent;
      // Redis read its clock about half-way through the round trip.
      const sample = { rtt, offset: server - (sent + rtt / 2) };
      if (!best || sample.rtt < best.rtt) best = sample;
    }
    offset = Math.round(best?.offset ?? 0);
    opts.onOffset?.(offset / 1000);
    const off = Math.abs(offset) > warnAt;
    if (off && !warned) {
      opts.log.warn(
        { offsetMs: offset, warnOffsetMs: warnAt },
        'local clock is off from Redis TIME (the shared clock); meshdrift uses Redis TIME, but fix NTP on this node',
      );
    } else if (!off && warned) {
      opts.log.info({ offsetMs: offset }, 'local clock agrees with Redis TIME again');
    }
    warned = off;
    return offset;
  }

  const periodic = (): void => {
    sync().then(
      () => {
        if (failing) opts.log.info({ offsetMs: offset }, 'clock sync with Redis TIME works again');
        failing = false;
      },
      (err: unknown) => {
        opts.onSyncError?.();
        // Once per run of failures: the offset measured last stays in use meanwhile.
        if (!failing)
          opts.log.warn(
            { error: err instanceof Error ? err.message : String(err), offsetMs: offset },
            'clock sync with Redis TIME failed; keeping the last offset',
          );
        failing = true;
      },
    );
  };

  return {
    now: () => local() + offset,
    offsetMs: () => offset,
    sync,
    async start() {
      const attempts = Math.max(1, opts.startAttempts ?? 5);
      for (let i = 1; ; i++) {
        try {
          await sync();
          break;
        } catch (err) {
          opts.onSyncError?.();
          if (i >= attempts) throw new Error(`cannot read the shared clock (Redis TIME): ${err instanceof Error ? err.message : String(err)}`);
          await new Promise((r) => setTimeout(r, 200 * 2 ** (i - 1)));
        }
      }
      if (timer) clearInterval(timer);
      timer = setInterval(periodic, interval);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

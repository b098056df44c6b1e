import { describe, expect, it } from 'vitest';
import { type StallObservation, stallVerdict } from '../../../src/queue/worker-watchdog.ts';

// The watchdog's decision (issue #20), checked every 10 s against a 60 s threshold with an injected
// clock: a worker is replaced only when due jobs were seen at every check for 60 s while it had a
// free slot and neither started nor finished a job.
const AFTER = 60_000;
const STEP = 10_000;
const T0 = 1_800_000_000_000;

/** Runs checks every STEP from T0 with what `seen` says at each time; returns the times a restart was decided. */
function run(seen: (t: number) => StallObservation, until: number): number[] {
  let dueSince: number | undefined;
  const restarts: number[] = [];
  for (let t = T0; t <= T0 + until; t += STEP) {
    const v = stallVerdict(dueSince, seen(t), t, AFTER);
    dueSince = v.restart ? undefined : v.dueSince;
    if (v.restart) restarts.push(t - T0);
  }
  return restarts;
}

const stuck = (): StallObservation => ({ due: 22, running: 0, concurrency: 8, lastProgressAt: T0 - 5_000 });

describe('stallVerdict', () => {
  it('restarts a worker that holds due jobs and takes none, once the threshold has passed', () => {
    // Seen at 0, 10, …: due for 60 s at the check at 60 s, and no progress since T0 - 5 s.
    expect(run(stuck, 60_000)).toEqual([60_000]);
    // Not before: 50 s of due jobs is not enough.
    expect(run(stuck, 50_000)).toEqual([]);
  });

  it('then waits a full threshold again before replacing the new worker', () => {
    // After the restart at 60 s, the watch starts over: the next at 130 s (seen from 70 s).
    expect(run(stuck, 140_000)).toEqual([60_000, 130_000]);
  });

  it('never fires on an idle queue', () => {
    expect(run(() => ({ due: 0, running: 0, concurrency: 8, lastProgressAt: T0 - 3_600_000 }), 600_000)).toEqual([]);
  });

  it('never fires while every slot runs a long job, with jobs waiting behind them', () => {
    expect(run(() => ({ due: 40, running: 8, concurrency: 8, lastProgressAt: T0 }), 600_000)).toEqual([]);
  });

  it('never fires while the worker keeps taking jobs, however long the queue stays non-empty', () => {
    // A busy queue: jobs due at every check, the worker starting one every 15 s.
    const busy = (t: number): StallObservation => ({ due: 500, running: 3, concurrency: 8, lastProgressAt: t - ((t - T0) % 15_000) });
    expect(run(busy, 600_000)).toEqual([]);
  });

  it('does not fire on a Redis blip: a failed read resets the watch', () => {
    // A single-node Redis away from 30 s to 70 s: the reads fail, then the worker catches up by 90 s.
    const blip = (t: number): StallObservation => {
      const at = t - T0;
      if (at >= 30_000 && at < 70_000) return { ...stuck(), due: undefined };
      return at < 90_000 ? stuck() : { due: 0, running: 0, concurrency: 8, lastProgressAt: T0 + 90_000 };
    };
    expect(run(blip, 600_000)).toEqual([]);
  });

  it('counts from the first check that saw due jobs, not from the last progress', () => {
    // The worker last did something an hour ago; jobs became due at 100 s: replaced at 160 s, not at once.
    const late = (t: number): StallObservation => ({ due: t - T0 >= 100_000 ? 3 : 0, running: 0, concurrency: 8, lastProgressAt: T0 - 3_600_000 });
    expect(run(late, 200_000)).toEqual([160_000]);
  });

  it('waits for the threshold after the last progress too', () => {
    // Due jobs seen throughout, but the worker finished one at 40 s: not stuck before 100 s.
    const slow = (t: number): StallObservation => ({ due: 5, running: 0, concurrency: 8, lastProgressAt: t - T0 >= 40_000 ? T0 + 40_000 : T0 });
    expect(run(slow, 100_000)).toEqual([100_000]);
  });
});

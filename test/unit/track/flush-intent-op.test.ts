import { describe, expect, it } from 'vitest';
import { intentOf } from '../../../src/track/redis-store.ts';

// What a commit does to its group's member of the flush-due zset (track/flush-intents.ts).
describe('intentOf', () => {
  it('records a new pending flush with its due time', () => {
    expect(intentOf(null, { seq: 1, dueAt: 500 })).toEqual({ op: 'set', dueAt: 500 });
    // An earlier need replaced the pending flush (a new seq): its due time replaces the score.
    expect(intentOf({ seq: 1 }, { seq: 2, dueAt: 100 })).toEqual({ op: 'set', dueAt: 100 });
  });

  it('records a kept pending flush only where it lacks an intent (a group the previous version wrote), never moving a lease', () => {
    expect(intentOf({ seq: 3 }, { seq: 3, dueAt: 900 })).toEqual({ op: 'nx', dueAt: 900 });
  });

  it('removes the intent of a group that owes nothing any more, and does nothing when it owed nothing', () => {
    expect(intentOf({ seq: 3 }, null)).toEqual({ op: 'rem', dueAt: 0 });
    expect(intentOf(null, null)).toEqual({ op: '', dueAt: 0 });
  });
});

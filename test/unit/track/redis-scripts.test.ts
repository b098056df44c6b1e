import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CAS_SCRIPT, REBUILD_FINISH_SCRIPT, REBUILD_START_SCRIPT, REBUILD_STEP_SCRIPT, REBUILD_UNDO_SCRIPT } from '../../../src/track/redis-scripts.ts';

// Golden: the Lua text is what Redis runs (and caches by SHA-1). Replicas of the previous version
// run the same script during a rolling upgrade; a change here must be deliberate.
const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

describe('track store Lua scripts', () => {
  it('the compare-and-set commit script is byte-identical to the pinned text', () => {
    expect(sha1(CAS_SCRIPT)).toBe('1ee7173ff517f664f44ba13a9b7c9c743800c37d');
    expect(CAS_SCRIPT.length).toBe(4236);
  });

  it('the steps of the active-findings rebuild are byte-identical to the pinned texts', () => {
    expect(sha1(REBUILD_START_SCRIPT)).toBe('35fcafce98d1349455f9e3e23ebed8a58932ff45');
    expect(sha1(REBUILD_STEP_SCRIPT)).toBe('943acef71dc2f13e0ad3acafecf6e6707581ef8f');
    expect(sha1(REBUILD_UNDO_SCRIPT)).toBe('335b77395abf48a939c6acbbbd756b5f80ee9174');
    expect(sha1(REBUILD_FINISH_SCRIPT)).toBe('084157fa6c35ec53430731780f046e018365f01e');
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CAS_SCRIPT,
  FLUSH_CLAIM_SCRIPT,
  FLUSH_RELEASE_SCRIPT,
  REBUILD_FINISH_SCRIPT,
  REBUILD_START_SCRIPT,
  REBUILD_STEP_SCRIPT,
  REBUILD_UNDO_SCRIPT,
} from '../../../src/track/redis-scripts.ts';

// Golden: the Lua text is what Redis runs (and caches by SHA-1). Replicas of the previous version
// run the same script during a rolling upgrade; a change here must be deliberate.
const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

describe('track store Lua scripts', () => {
  it('the compare-and-set commit script is byte-identical to the pinned text', () => {
    // Issue #15 flush intents: an 8th key (the flush-due zset) and two arguments (was
    // 1ee7173ff517f664f44ba13a9b7c9c743800c37d, 4236 characters: the previous version's replicas
    // keep running that one, which records no intent; their groups gain one at their next commit here).
    // Issue #15 marks: the Flux revision memory and event mark written by the commit (was
    // ac8951dea66ea9aa177e896c26987499dc7fd0d2, 4597 characters: the previous version's replicas keep
    // running that one and write the same two keys, in the same forms, with their own script after it;
    // test/integration/flux-commit-mark.test.ts reads what either wrote).
    expect(sha1(CAS_SCRIPT)).toBe('42303b35d84090d577f53e61d49fe00b23d574de');
    expect(CAS_SCRIPT.length).toBe(5172);
  });

  it('the claim and release of flush intents are byte-identical to the pinned texts', () => {
    expect(sha1(FLUSH_CLAIM_SCRIPT)).toBe('449dda5b3c6d35fa8f9cee2f3f09bfeda2fe81a9');
    expect(sha1(FLUSH_RELEASE_SCRIPT)).toBe('d92fe260805b0e75fa0710777cca64ee6e29ba9d');
  });

  it('the steps of the active-findings rebuild are byte-identical to the pinned texts', () => {
    expect(sha1(REBUILD_START_SCRIPT)).toBe('35fcafce98d1349455f9e3e23ebed8a58932ff45');
    expect(sha1(REBUILD_STEP_SCRIPT)).toBe('943acef71dc2f13e0ad3acafecf6e6707581ef8f');
    expect(sha1(REBUILD_UNDO_SCRIPT)).toBe('335b77395abf48a939c6acbbbd756b5f80ee9174');
    expect(sha1(REBUILD_FINISH_SCRIPT)).toBe('084157fa6c35ec53430731780f046e018365f01e');
  });
});

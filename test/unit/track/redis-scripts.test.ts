import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CAS_SCRIPT, RECONCILE_SCRIPT } from '../../../src/track/redis-scripts.ts';

// Golden: the Lua text is what Redis runs (and caches by SHA-1). Replicas of the previous version
// run the same script during a rolling upgrade; a change here must be deliberate.
const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

describe('track store Lua scripts', () => {
  it('the compare-and-set commit script is byte-identical to the pinned text', () => {
    expect(sha1(CAS_SCRIPT)).toBe('f035aec31150bf09f9d0cab3bf8910efbeefa345');
    expect(CAS_SCRIPT.length).toBe(2810);
  });

  it('the active-findings reconcile script is byte-identical to the pinned text', () => {
    expect(sha1(RECONCILE_SCRIPT)).toBe('de07ee726305c5b5dccca75fe1c8a57627574b5c');
    expect(RECONCILE_SCRIPT.length).toBe(767);
  });
});

import { describe, expect, it } from 'vitest';
import {
  activeFindingsKeys,
  activeGroupsKey,
  announcedKey,
  epochKey,
  flushDueKey,
  groupRedisKey,
  groupVersionKey,
  historyKey,
  inhibitSourcesKey,
  knownGroupsKey,
  ownerGroupsKey,
  silenceKeys,
  silencesKey,
} from '../../../src/track/keys.ts';

/**
 * Golden values: the tracker's Redis keys exactly as the stores built them before track/keys.ts
 * held them all. They are persisted (and shared with replicas of other versions during a rolling
 * upgrade): a changed byte orphans state. Do not update them.
 */
describe('tracking key layout (golden)', () => {
  it('groups and their indexes', () => {
    expect(groupRedisKey('md', 'abc')).toBe('md:group:abc');
    expect(ownerGroupsKey('md', 'x/y')).toBe('md:owner-groups:bd3c9047d6816c3172f52ddb42bf77c7');
    expect(activeGroupsKey('md')).toBe('md:groups:active');
    expect(knownGroupsKey('md')).toBe('md:groups:known');
    expect(groupVersionKey('md')).toBe('md:group-version');
    expect(flushDueKey('md')).toBe('md:groups:flush-due');
    expect(activeFindingsKeys('md')).toEqual({
      refs: 'md:findings:active:refs',
      counts: 'md:findings:active:counts',
      reconciled: 'md:findings:active:reconciled',
    });
  });
  it('history, inhibition sources, silences, epoch', () => {
    expect(historyKey('md')).toBe('md:history');
    expect(inhibitSourcesKey('md')).toBe('md:inhibit:sources');
    expect(silencesKey('md')).toBe('md:silences');
    expect(silenceKeys('md')).toEqual({
      active: 'md:silences',
      ends: 'md:silences:ends',
      expired: 'md:silences:expired',
      expiredEnds: 'md:silences:expired:ends',
      version: 'md:silences:version',
      indexed: 'md:silences:indexed',
    });
    expect(epochKey('md')).toBe('md:epoch');
    expect(announcedKey('md', 'E1')).toBe('md:epoch:announced:E1');
  });
  it('the CAS scripts find other groups by the group key prefix', () => {
    // reconcileActiveFindings passes groupRedisKey(prefix, '') and the CAS script cuts the group key
    // off KEYS[1]: both rely on the group key being the last part.
    expect(groupRedisKey('md', '')).toBe('md:group:');
    expect(groupRedisKey('md', 'abc').startsWith(groupRedisKey('md', ''))).toBe(true);
  });
});

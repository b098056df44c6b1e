import { describe, expect, it } from 'vitest';
import { parseMatcher, type MatcherSpec } from '../../../src/route/matcher.ts';
import { compileSilences, nextSilenceChange, parseSilenceInput, silenceSchema, silenceState, silencedBy, type Silence } from '../../../src/route/silence.ts';

const T0 = Date.parse('2026-05-01T12:00:00.000Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const at = (ms: number) => new Date(ms).toISOString();

function silence(id: string, matchers: string[] | MatcherSpec[], startsAt: number, endsAt: number): Silence {
  return silenceSchema.parse({
    id,
    matchers: matchers.map((m) => (typeof m === 'string' ? parseMatcher(m) : m)),
    startsAt: at(startsAt),
    endsAt: at(endsAt),
    createdBy: 'alice',
    comment: 'maintenance',
    createdAt: at(T0 - HOUR),
  });
}

const labels = { cluster: 'prod-eu', namespace: 'payments', kind: 'AuthorizationPolicy', severity: 'critical', category: 'security', mesh: 'istio' };

describe('silenceState', () => {
  const s = silence('s', ['namespace="payments"'], T0, T0 + HOUR);
  it.each([
    ['before startsAt', T0 - 1, 'pending'],
    ['at startsAt', T0, 'active'],
    ['inside the window', T0 + 30 * MIN, 'active'],
    ['one ms before endsAt', T0 + HOUR - 1, 'active'],
    ['at endsAt (half-open window)', T0 + HOUR, 'expired'],
    ['long after', T0 + 48 * HOUR, 'expired'],
  ])('%s → %s', (_what, now, expected) => {
    expect(silenceState(s, now)).toBe(expected);
  });

  it('a silence expired before it started (startsAt = endsAt) is expired', () => {
    expect(silenceState({ startsAt: at(T0), endsAt: at(T0) }, T0)).toBe('expired');
  });
});

describe('silencedBy', () => {
  it.each([
    ['equality', ['namespace="payments"'], true],
    ['equality, other value', ['namespace="checkout"'], false],
    ['negative equality', ['namespace!="kube-system"'], true],
    ['negative equality on the same value', ['namespace!="payments"'], false],
    ['regex', ['cluster=~"prod-.*"'], true],
    ['regex is anchored', ['cluster=~"prod"'], false],
    ['alternation', ['severity=~"critical|high"'], true],
    ['negative regex', ['namespace!~"kube-.*|istio-system"'], true],
    ['negative regex that matches', ['kind!~".*Policy"'], false],
    ['all matchers must match', ['namespace="payments"', 'severity="low"'], false],
    ['several matchers all matching', ['namespace="payments"', 'mesh="istio"', 'category!="traffic"'], true],
    ['a missing label is the empty string', ['namespace="payments"', 'team=""'], true],
    ['a missing label does not equal a value', ['team="sre"'], false],
  ])('%s: %j → %s', (_what, matchers, expected) => {
    const compiled = compileSilences([silence('s1', matchers, T0, T0 + HOUR)]);
    expect(silencedBy(labels, compiled, T0 + MIN)).toBe(expected ? 's1' : null);
  });

  it.each([
    ['pending', T0 - MIN, null],
    ['active', T0, 's1'],
    ['expired', T0 + HOUR, null],
  ])('only an active silence silences (%s)', (_what, now, expected) => {
    const compiled = compileSilences([silence('s1', ['namespace="payments"'], T0, T0 + HOUR)]);
    expect(silencedBy(labels, compiled, now)).toBe(expected);
  });

  it('returns the first active matching silence', () => {
    const compiled = compileSilences([
      silence('other', ['namespace="checkout"'], T0, T0 + HOUR),
      silence('later', ['namespace="payments"'], T0 + 2 * HOUR, T0 + 3 * HOUR),
      silence('first', ['severity="critical"'], T0, T0 + HOUR),
      silence('second', ['namespace="payments"'], T0, T0 + HOUR),
    ]);
    expect(silencedBy(labels, compiled, T0 + MIN)).toBe('first');
  });

  it('with no silences nothing is silenced', () => {
    expect(silencedBy(labels, compileSilences([]), T0)).toBeNull();
  });
});

describe('nextSilenceChange', () => {
  const compiled = compileSilences([
    silence('active', ['namespace="payments"'], T0 - HOUR, T0 + 2 * HOUR),
    silence('pending', ['severity=~"critical|high"'], T0 + HOUR, T0 + 5 * HOUR),
    silence('unrelated', ['namespace="checkout"'], T0 + MIN, T0 + 2 * MIN),
    silence('expired', ['namespace="payments"'], T0 - 2 * HOUR, T0 - HOUR),
  ]);

  it.each([
    ['the pending start comes before the active end', T0, T0 + HOUR],
    ['at the pending start, the active silence ends next', T0 + HOUR, T0 + 2 * HOUR],
    ['then the pending one (now active) ends', T0 + 2 * HOUR, T0 + 5 * HOUR],
    ['nothing after every silence ended', T0 + 5 * HOUR, null],
  ])('%s', (_what, now, expected) => {
    expect(nextSilenceChange(compiled, labels, now)).toBe(expected);
  });

  it('ignores silences that do not match these labels', () => {
    expect(nextSilenceChange(compiled, { namespace: 'other', severity: 'low' }, T0)).toBeNull();
    expect(nextSilenceChange(compiled, { namespace: 'checkout' }, T0)).toBe(T0 + MIN);
  });
});

describe('parseSilenceInput', () => {
  const base = { matchers: ['namespace="payments"'], createdBy: 'alice', comment: 'planned mesh upgrade' };

  it('accepts string and object matchers, defaults startsAt to now and counts duration from it', () => {
    const r = parseSilenceInput({ ...base, matchers: ['cluster=~"prod-.*"', { name: 'kind', op: '!=', value: 'Telemetry' }], duration: '1h30m' }, T0);
    expect(r).toEqual({
      ok: true,
      silence: {
        matchers: [
          { name: 'cluster', op: '=~', value: 'prod-.*' },
          { name: 'kind', op: '!=', value: 'Telemetry' },
        ],
        startsAt: at(T0),
        endsAt: at(T0 + 90 * MIN),
        createdBy: 'alice',
        comment: 'planned mesh upgrade',
      },
    });
  });

  it('normalizes given times to UTC and counts a duration from a future startsAt', () => {
    const r = parseSilenceInput({ ...base, startsAt: '2026-05-01T16:00:00+02:00', duration: '2d' }, T0);
    expect(r.ok && r.silence).toMatchObject({ startsAt: '2026-05-01T14:00:00.000Z', endsAt: '2026-05-03T14:00:00.000Z' });
    const e = parseSilenceInput({ ...base, endsAt: '2026-05-01T13:00:00Z' }, T0);
    expect(e.ok && e.silence).toMatchObject({ startsAt: at(T0), endsAt: '2026-05-01T13:00:00.000Z' });
  });

  it('trims createdBy and comment', () => {
    const r = parseSilenceInput({ ...base, createdBy: '  bob ', duration: '1h' }, T0);
    expect(r.ok && r.silence.createdBy).toBe('bob');
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', 'silence', /^\(body\): expected a JSON object/],
    ['an array', [base], /^\(body\): expected a JSON object/],
    ['no matchers', { ...base, matchers: undefined, duration: '1h' }, /^matchers: matchers is required/],
    ['empty matchers', { ...base, matchers: [], duration: '1h' }, /^matchers: give at least one matcher/],
    ['a matcher that is not one', { ...base, matchers: ['namespace payments'], duration: '1h' }, /^matchers\.0: "namespace payments" is not a matcher/],
    ['a bad regex', { ...base, matchers: ['namespace="a"', 'name=~"("'], duration: '1h' }, /^matchers\.1: invalid regular expression/],
    ['a bad operator', { ...base, matchers: [{ name: 'namespace', op: '==', value: 'x' }], duration: '1h' }, /^matchers\.0\.op: /],
    ['a bad label name', { ...base, matchers: [{ name: 'name-space', op: '=', value: 'x' }], duration: '1h' }, /^matchers\.0\.name: label names are letters/],
    [
      'matchers matching everything',
      { ...base, matchers: ['namespace=~".*"', 'team=""'], duration: '1h' },
      /^matchers: at least one matcher must not match the empty string/,
    ],
    [
      'only negative matchers',
      { ...base, matchers: ['namespace!="kube-system"'], duration: '1h' },
      /^matchers: at least one matcher must not match the empty string/,
    ],
    ['neither endsAt nor duration', base, /^endsAt: endsAt is required \(or give a duration/],
    ['both endsAt and duration', { ...base, endsAt: '2026-05-01T13:00:00Z', duration: '1h' }, /^duration: give endsAt or duration, not both/],
    ['a bad duration', { ...base, duration: 'soon' }, /^duration: "soon" is not a positive duration/],
    ['a zero duration', { ...base, duration: '0s' }, /^duration: "0s" is not a positive duration/],
    ['a bad date', { ...base, endsAt: 'tomorrow' }, /^endsAt: expected an ISO 8601 date-time/],
    ['a date without zone', { ...base, endsAt: '2026-05-01 13:00' }, /^endsAt: expected an ISO 8601 date-time/],
    ['endsAt before startsAt', { ...base, startsAt: '2026-05-01T15:00:00Z', endsAt: '2026-05-01T14:00:00Z' }, /^endsAt: the silence must end after it starts/],
    [
      'endsAt equal to startsAt',
      { ...base, startsAt: '2026-05-01T15:00:00Z', endsAt: '2026-05-01T15:00:00Z' },
      /^endsAt: the silence must end after it starts/,
    ],
    ['endsAt in the past', { ...base, startsAt: '2026-05-01T09:00:00Z', endsAt: '2026-05-01T10:00:00Z' }, /^endsAt: the silence would already be over/],
    ['no createdBy', { ...base, createdBy: undefined, duration: '1h' }, /^createdBy: createdBy is required/],
    ['a blank createdBy', { ...base, createdBy: '   ', duration: '1h' }, /^createdBy: createdBy must not be empty/],
    ['no comment', { ...base, comment: undefined, duration: '1h' }, /^comment: comment is required/],
    ['an empty comment', { ...base, comment: '', duration: '1h' }, /^comment: comment must not be empty/],
    ['a number for comment', { ...base, comment: 42, duration: '1h' }, /^comment: comment is required/],
    ['an unknown field', { ...base, duration: '1h', id: 'mine' }, /^\(body\): Unrecognized key: "id"/],
  ])('rejects %s', (_what, body, message) => {
    const r = parseSilenceInput(body, T0);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });

  it('names every bad field at once', () => {
    const r = parseSilenceInput({ matchers: ['bad'], duration: 'x', createdBy: '' }, T0);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toContain('matchers.0:');
      expect(r.error).toContain('duration:');
      expect(r.error).toContain('createdBy:');
      expect(r.error).toContain('comment:');
    }
  });
});

describe('silenceSchema (stored silences)', () => {
  const valid = {
    id: 'x',
    matchers: [{ name: 'namespace', op: '=', value: 'a' }],
    startsAt: at(T0),
    endsAt: at(T0 + HOUR),
    createdBy: 'a',
    comment: 'c',
    createdAt: at(T0),
  };

  it.each<[string, Record<string, unknown>, boolean]>([
    ['a valid silence', valid, true],
    ['one expired before it started', { ...valid, endsAt: at(T0) }, true],
    ['endsAt before startsAt', { ...valid, endsAt: at(T0 - 1) }, false],
    ['a regex that does not compile', { ...valid, matchers: [{ name: 'n', op: '=~', value: '(' }] }, false],
    ['no matchers', { ...valid, matchers: [] }, false],
    ['an extra field (from a newer version; dropped)', { ...valid, extra: 1 }, true],
  ])('%s → valid: %s', (_what, value, ok) => {
    expect(silenceSchema.safeParse(value).success).toBe(ok);
  });

  it('drops fields it does not know', () => {
    expect(silenceSchema.parse({ ...valid, extra: 1 })).toEqual(valid);
  });
});

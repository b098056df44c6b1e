import { describe, expect, it } from 'vitest';
import { compileGlob, globMatch } from '../../../src/classify/rules.ts';
import { compileMatcher, MatcherError, parseMatcher } from '../../../src/route/matcher.ts';

describe('matchers run in linear time, as RE2 does in Alertmanager', () => {
  it('a nested quantifier answers at once on a crafted name', () => {
    const m = compileMatcher(parseMatcher('name=~"(a+)+b"'));
    const started = performance.now();
    expect(m.matches({ name: `${'a'.repeat(5_000)}c` })).toBe(false);
    expect(m.matches({ name: `${'a'.repeat(5_000)}b` })).toBe(true);
    // A backtracking engine takes minutes on 5,000 characters; linear, it is far below a second.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('refuses backreferences and lookaround with a reason, as RE2 would', () => {
    expect(() => compileMatcher(parseMatcher('name=~"(a)\\\\1"'))).toThrow(MatcherError);
    expect(() => compileMatcher(parseMatcher('name=~"(?=a)a"'))).toThrow(/backreferences and lookaround are not supported/);
  });

  it('an inherited property is not a label', () => {
    expect(compileMatcher(parseMatcher('constructor=""')).matches({})).toBe(true);
    expect(compileMatcher(parseMatcher('toString=~".+"')).matches({ name: 'x' })).toBe(false);
  });
});

describe('globs without RegExp', () => {
  it.each([
    ['*', '', true],
    ['*', 'anything', true],
    ['a*', 'abc', true],
    ['*c', 'abc', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['*a*b*', 'xxaxxbxx', true],
    ['*a*b*', 'xxbxxaxx', false],
    ['a*b*c', 'abbbc', true],
    ['a*b*c', 'abbb', false],
    ['reviews-*-canary', 'reviews-v2-canary', true],
    ['reviews-*-canary', 'reviews-canary', false],
    ['**', 'x', true],
    ['a**', 'a', true],
    ['?', '', false],
    ['', '', true],
    ['', 'a', false],
    ['a.b', 'axb', false],
    ['(x)', '(x)', true],
  ])('%s on %s is %s', (glob, value, expected) => {
    expect(globMatch(glob, value)).toBe(expected);
    expect(compileGlob(glob)(value)).toBe(expected);
  });

  it('agrees with the anchored regex it replaces on random globs and names', () => {
    const alphabet = ['a', 'b', '*', '?'];
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let i = 0; i < 5_000; i++) {
      const glob = Array.from({ length: rand(6) }, () => alphabet[rand(4)]).join('');
      const value = Array.from({ length: rand(8) }, () => alphabet[rand(2)]).join('');
      const re = new RegExp(`^${glob.replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
      expect(globMatch(glob, value), `${glob} ~ ${value}`).toBe(re.test(value));
    }
  });

  it('is quick on crafted names', () => {
    const started = performance.now();
    expect(globMatch('*a*a*a*a*a*b', 'a'.repeat(20_000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

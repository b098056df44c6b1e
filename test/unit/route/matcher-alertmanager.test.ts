import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileMatcher, MatcherError, type MatcherSpec, parseMatcher, parseMatchers, printMatcher, printMatchers } from '../../../src/route/matcher.ts';

/**
 * Matchers as Alertmanager parses them in its default (fallback) mode. Every row below is a case
 * from Alertmanager's own suites, with the parse Alertmanager gives (prometheus/alertmanager
 * @68fb2d5): pkg/labels/parse_test.go (classic, `labels`), matcher/parse/parse_test.go (UTF-8,
 * `utf8`). In fallback mode (matcher/compat/parse.go) the classic parse wins when the classic
 * parser accepts the input; otherwise the UTF-8 parse; when both refuse, it is an error. So where
 * the two suites disagree, the row gives the classic parse and says so.
 * Rows whose label name meshdrift refuses on purpose (`:`, UTF-8 names) are in their own table.
 */
type M = [name: string, op: MatcherSpec['op'], value: string];
const m = (...specs: M[]): MatcherSpec[] => specs.map(([name, op, value]) => ({ name, op, value }));

const ACCEPTED: [from: string, input: string, parse: MatcherSpec[]][] = [
  ['labels', '{}', []],
  ['utf8', '', []],
  ['labels', "{foo='}", m(['foo', '=', "'"])],
  ['labels', '{foo=`}', m(['foo', '=', '`'])],
  ['labels', '{foo=\\"}', m(['foo', '=', '"'])],
  ['labels', '{foo=bar}', m(['foo', '=', 'bar'])],
  ['labels', '{foo="bar"}', m(['foo', '=', 'bar'])],
  ['labels', '{foo=~bar.*}', m(['foo', '=~', 'bar.*'])],
  ['labels', '{foo=~"bar.*"}', m(['foo', '=~', 'bar.*'])],
  ['labels', '{foo!=bar}', m(['foo', '!=', 'bar'])],
  ['labels', '{foo!="bar"}', m(['foo', '!=', 'bar'])],
  ['labels', '{foo!~bar.*}', m(['foo', '!~', 'bar.*'])],
  ['labels', '{foo!~"bar.*"}', m(['foo', '!~', 'bar.*'])],
  ['labels', '{foo="bar", baz!="quux"}', m(['foo', '=', 'bar'], ['baz', '!=', 'quux'])],
  ['labels', '{foo="bar", baz!~"quux.*"}', m(['foo', '=', 'bar'], ['baz', '!~', 'quux.*'])],
  ['labels', '{foo="bar",baz!~".*quux", derp="wat"}', m(['foo', '=', 'bar'], ['baz', '!~', '.*quux'], ['derp', '=', 'wat'])],
  ['labels', '{foo="bar", instance=~"some-api.*"}', m(['foo', '=', 'bar'], ['instance', '=~', 'some-api.*'])],
  ['labels', '{foo=""}', m(['foo', '=', ''])],
  ['labels', '{foo="bar,quux", job="job1"}', m(['foo', '=', 'bar,quux'], ['job', '=', 'job1'])],
  ['labels', '{foo = "bar", dings != "bums", }', m(['foo', '=', 'bar'], ['dings', '!=', 'bums'])],
  ['labels', 'foo=bar,dings!=bums', m(['foo', '=', 'bar'], ['dings', '!=', 'bums'])],
  ['labels', '{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}', m(['quote', '=', 'She said: "Hi, ladies! That\'s gender-neutral…"'])],
  ['labels', 'statuscode=~"5.."', m(['statuscode', '=~', '5..'])],
  ['labels', 'tricky=~~~', m(['tricky', '=~', '~~'])],
  ['labels', 'trickier==\\\\=\\=\\"', m(['trickier', '=', '=\\=\\="'])],
  ['labels', 'contains_quote != "\\"" , contains_comma !~ "foo,bar" , ', m(['contains_quote', '!=', '"'], ['contains_comma', '!~', 'foo,bar'])],
  // The classic parser trims one `{` and one `}`, so a stray brace stays in the value (the UTF-8
  // parser refuses these; the classic parse wins).
  ['labels', '{foo=bar}}', m(['foo', '=', 'bar}'])],
  ['labels', '{foo=bar}},}', m(['foo', '=', 'bar}}'])],
  ['labels', '{foo=,bar=}}', m(['foo', '=', ''], ['bar', '=', '}'])],
  // Unquoted escapes: `\n`, `\\` and `\"` are unescaped, any other backslash is kept.
  ['labels', '{foo=bar\\t}', m(['foo', '=', 'bar\\t'])],
  ['labels', '{foo=bar\\n}', m(['foo', '=', 'bar\n'])],
  ['labels', '{foo=bar\\}', m(['foo', '=', 'bar\\'])],
  ['labels', '{foo=bar\\\\}', m(['foo', '=', 'bar\\'])],
  ['labels', '{foo=bar\\"}', m(['foo', '=', 'bar"'])],
  ['labels', 'job=', m(['job', '=', ''])],
  ['labels', '{foo=', m(['foo', '=', ''])],
  ['labels', '{foo=}b', m(['foo', '=', '}b'])],
  ['utf8', '{foo=bar,}', m(['foo', '=', 'bar'])],
  ['utf8', '{foo=~[a-z]+}', m(['foo', '=~', '[a-z]+'])],
  ['utf8', '{foo!~[a-z]+}', m(['foo', '!~', '[a-z]+'])],
  ['utf8', '{foo=🙂}', m(['foo', '=', '🙂'])],
  ['utf8', '{foo=🙂bar}', m(['foo', '=', '🙂bar'])],
  ['utf8', 'foo=bar,', m(['foo', '=', 'bar'])],
  ['utf8', 'foo=~[a-z]+', m(['foo', '=~', '[a-z]+'])],
  // Quoted label names: only the UTF-8 parser takes them, so its parse is Alertmanager's.
  ['utf8', '{"foo"="bar"}', m(['foo', '=', 'bar'])],
  ['utf8', '{"foo"="bar",}', m(['foo', '=', 'bar'])],
  ['utf8', '{"foo"!="bar"}', m(['foo', '!=', 'bar'])],
  ['utf8', '{"foo"=~"[a-z]+"}', m(['foo', '=~', '[a-z]+'])],
  ['utf8', '{"foo"=~"\\\\d+"}', m(['foo', '=~', '\\d+'])],
  ['utf8', '{"foo"!~"[a-z]+"}', m(['foo', '!~', '[a-z]+'])],
  ['utf8', '{"foo"="🙂"}', m(['foo', '=', '🙂'])],
  ['utf8', '{"foo"="\\xf0\\x9f\\x99\\x82"}', m(['foo', '=', '🙂'])],
  ['utf8', '{"foo"="\\U0001f642"}', m(['foo', '=', '🙂'])],
  ['utf8', '{"foo"="bar\\n"}', m(['foo', '=', 'bar\n'])],
  ['utf8', '{"foo"="bar\\t"}', m(['foo', '=', 'bar\t'])],
  ['utf8', '{"foo"="\\"bar\\""}', m(['foo', '=', '"bar"'])],
  ['utf8', '{"foo"="bar\\\\"}', m(['foo', '=', 'bar\\'])],
  ['utf8', '"foo"="bar"', m(['foo', '=', 'bar'])],
  ['utf8', '"foo"="bar",', m(['foo', '=', 'bar'])],
  ['utf8', '{foo="bar",bar!="baz"}', m(['foo', '=', 'bar'], ['bar', '!=', 'baz'])],
  ['utf8', 'foo="bar",bar!="baz"', m(['foo', '=', 'bar'], ['bar', '!=', 'baz'])],
  // Both accept, they disagree: the UTF-8 suite expects an error for `"bar\w"` and `bar\n`
  // unquoted, the classic parser keeps the backslash; Alertmanager takes the classic parse.
  ['utf8 refuses, labels accepts', '{foo="bar\\w"}', m(['foo', '=', 'bar\\w'])],
  ['utf8 refuses, labels accepts', '{foo=bar\\n}', m(['foo', '=', 'bar\n'])],
  // The classic parser trims the `{`, leaving nothing: no matchers (the UTF-8 suite expects "expected close brace").
  ['utf8 refuses, labels accepts', '{', []],
];

// Inputs both parsers refuse, with the column meshdrift reports and a word of the reason.
const REFUSED: [from: string, input: string, col: number, why: RegExp][] = [
  ['labels, utf8', ',', 1, /an empty matcher/],
  ['labels, utf8', '{,}', 2, /an empty matcher/],
  ['labels', 'job="value', 5, /no closing double quote/],
  ['labels', 'job=value"', 10, /unescaped double quote/],
  ['labels', 'trickier==\\\\=\\=\\""', 18, /unescaped double quote/],
  ['labels', 'contains_unescaped_quote = foo"bar', 31, /unescaped double quote/],
  ['labels', '"{foo=\\"bar"}', 1, /is not a matcher/],
  ['labels', '"foo=\\"bar"', 1, /is not a matcher/],
  ['labels', '"foo=\\"bar\\""', 1, /is not a matcher/],
  ['labels', '"foo=\\"bar\\"', 1, /is not a matcher/],
  ['labels', '"{foo=\\"bar\\"}"', 1, /is not a matcher/],
  ['labels', '"foo="bar""', 1, /is not a matcher/],
  ['labels', '{{foo=', 2, /is not a matcher/],
  ['utf8', '{"foo"=~"\\d+"}', 2, /is not a matcher/],
  ['utf8', '{"foo"="\\xf0\\x9f"}', 2, /is not a matcher/],
  ['utf8', '{foo=:"bar"}', 7, /unescaped double quote/],
];

// Alertmanager accepts these; meshdrift refuses the label name on purpose (docs/reference.md).
const NAMES_REFUSED: [from: string, input: string][] = [
  // The classic suite expects "bad matcher format"; the UTF-8 parser takes `invalid-name` (`-` is
  // not reserved), so Alertmanager's fallback mode accepts it.
  ['utf8', '{invalid-name = "valid label"}'],
  ['classic names may have `:`', 'job:rate=1'],
  ['utf8', '{"foo bar"="baz"}'],
  ['utf8', '{"föö"="bar"}'],
];

describe('matchers, as Alertmanager parses them', () => {
  it.each(ACCEPTED)('%s: %s', (_from, input, parse) => {
    expect(parseMatchers(input)).toEqual(parse);
    for (const spec of parse) expect(() => compileMatcher(spec)).not.toThrow();
  });

  it.each(REFUSED)('%s: refuses %s at col %i', (_from, input, col, why) => {
    let error: unknown;
    try {
      parseMatchers(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MatcherError);
    expect((error as MatcherError).col).toBe(col);
    expect((error as MatcherError).message).toMatch(why);
    expect((error as MatcherError).message).toMatch(/; write |; inside a value /);
  });

  it.each(NAMES_REFUSED)('%s: %s is refused for its label name, saying why', (_from, input) => {
    expect(() => parseMatchers(input)).toThrow(/label name .* is not accepted .*unlike Alertmanager/);
  });

  it('an invalid regex is refused when compiled (both parsers compile it)', () => {
    const [spec] = parseMatchers('{foo=~"invalid[regexp"}');
    expect(() => compileMatcher(spec as MatcherSpec)).toThrow(MatcherError);
  });
});

describe('one matcher (amtool arguments, API text), as compat.Matcher', () => {
  it.each([
    ['foo=bar', m(['foo', '=', 'bar'])],
    ['"foo"="bar"', m(['foo', '=', 'bar'])],
    // The classic single parse reads the whole text: the comma is part of the value.
    ['foo=bar,baz=qux', m(['foo', '=', 'bar,baz=qux'])],
  ])('%s', (input, [parse]) => {
    expect(parseMatcher(input)).toEqual(parse);
  });

  it.each(['{foo=bar}', 'foo=bar}', '{foo=bar'])('refuses braces: %s', (input) => {
    expect(() => parseMatcher(input)).toThrow(/a single matcher has no braces/);
  });
});

/** Any Unicode scalar value (no lone surrogates: YAML and JSON text cannot carry them). */
const codePoint = fc
  .integer({ min: 0, max: 0x10ffff })
  .filter((c) => c < 0xd800 || c > 0xdfff)
  .map((c) => String.fromCodePoint(c));

describe('printing and re-parsing', () => {
  const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/);
  const value = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', '\n', ',', '{', '}', '=', '~', '!', ' ', "'", '`'), codePoint), maxLength: 30 });
  const spec = fc.record({ name, op: fc.constantFrom('=', '!=', '=~', '!~') as fc.Arbitrary<MatcherSpec['op']>, value });

  it('a printed matcher parses back to itself, alone and in lists', () => {
    fc.assert(
      fc.property(spec, (s) => {
        expect(parseMatcher(printMatcher(s))).toEqual(s);
        expect(parseMatchers(printMatcher(s))).toEqual([s]);
      }),
    );
    fc.assert(
      fc.property(fc.array(spec, { maxLength: 6 }), (list) => {
        expect(parseMatchers(printMatchers(list))).toEqual(list);
        expect(parseMatchers(list.map(printMatcher).join(','))).toEqual(list);
      }),
    );
  });

  it('never throws anything but MatcherError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', ',', '{', '}', '=', '~', '!', ' ', 'a', '_'), codePoint), maxLength: 40 }), (text) => {
        try {
          for (const s of parseMatchers(text)) expect(s.name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
        } catch (err) {
          expect(err).toBeInstanceOf(MatcherError);
        }
      }),
    );
  });
});

import { setFlagsFromString } from 'node:v8';
import { z } from 'zod';

/**
 * Alertmanager-style label matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
 * Regexes are anchored (as in Alertmanager) and compiled once, when the matcher is parsed; a
 * missing label matches as the empty string.
 *
 * Regexes run in linear time, as Alertmanager's RE2 does: the values come from webhook bodies,
 * and a backtracking pattern such as `(a+)+b` would otherwise stall every webhook for seconds. V8's
 * linear engine (the `l` flag) refuses what cannot run in linear time (backreferences,
 * lookaround), which RE2 refuses too.
 */
export const MATCH_OPS = ['=', '!=', '=~', '!~'] as const;
export type MatchOp = (typeof MATCH_OPS)[number];

export const matcherSpecSchema = z.object({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'label names are letters, digits and _'),
  op: z.enum(MATCH_OPS),
  value: z.string(),
});
/** A matcher as data (what the API stores and returns). */
export type MatcherSpec = z.infer<typeof matcherSpecSchema>;

export interface Matcher extends MatcherSpec {
  matches(labels: Readonly<Record<string, string | undefined>>): boolean;
}

export class MatcherError extends Error {
  override readonly name = 'MatcherError';
  /** 1-based column in the matcher text, when the error is at one place in it. */
  readonly col: number | undefined;
  constructor(message: string, col?: number) {
    super(message);
    this.col = col;
  }
}

/** Whether V8's linear-time regexp engine is on (a V8 flag, set once per process). */
const LINEAR: boolean = (() => {
  try {
    setFlagsFromString('--enable-experimental-regexp-engine');
    // biome-ignore lint/complexity/useRegexLiterals: the 'l' flag exists only once the flag above is set at run time; a literal /a/l fails to parse, so the module would not load
    return new RegExp('a', 'l').test('a');
  } catch {
    return false;
  }
})();

/** An anchored regex, in linear time when the engine allows (always on Node 24). */
export function linearRegExp(source: string): RegExp {
  return LINEAR ? new RegExp(`^(?:${source})$`, 'l') : new RegExp(`^(?:${source})$`);
}

/** A label's value; inherited properties (`constructor`, `toString`) are not labels. */
export function labelValue(labels: Readonly<Record<string, string | undefined>>, name: string): string {
  return Object.hasOwn(labels, name) ? (labels[name] ?? '') : '';
}

/** Compiles a matcher; throws MatcherError for an invalid regex. */
export function compileMatcher(spec: MatcherSpec): Matcher {
  if (spec.op === '=' || spec.op === '!=') {
    const equal = spec.op === '=';
    return { ...spec, matches: (labels) => (labelValue(labels, spec.name) === spec.value) === equal };
  }
  let re: RegExp;
  try {
    re = linearRegExp(spec.value);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const why = /linear time/.test(message)
      ? 'backreferences and lookaround are not supported (regexes run in linear time, as with RE2 in Alertmanager)'
      : message;
    throw new MatcherError(`invalid regular expression in ${spec.name}${spec.op}"${spec.value}": ${why}`);
  }
  const positive = spec.op === '=~';
  return { ...spec, matches: (labels) => re.test(labelValue(labels, spec.name)) === positive };
}

/** True when every matcher matches (an empty list matches everything). */
export function matchesAll(matchers: readonly Matcher[], labels: Readonly<Record<string, string | undefined>>): boolean {
  for (const m of matchers) if (!m.matches(labels)) return false;
  return true;
}

export function formatMatcher(m: MatcherSpec): string {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`;
}

// ---------------------------------------------------------------------------------------------
// Parsing, exactly as Alertmanager 0.27+ parses matchers in its default ("fallback") mode
// (matcher/compat/parse.go): the input goes through both of its parsers, the classic one
// (pkg/labels/parse.go) and the UTF-8 one (matcher/parse/*.go). When the classic parser accepts
// it, its parse is the answer (whether or not the UTF-8 parser agrees); when only the UTF-8
// parser accepts it, that parse is; when neither does, it is an error. The code below is our own,
// written from those files' documented behaviour and their test suites (test/unit/route/
// matcher-alertmanager.test.ts lists the cases).
//
// meshdrift differs in one deliberate way: label names are letters, digits and `_` (not starting
// with a digit), because meshdrift's labels (FINDING_LABELS and policy `set.labels`) are all of
// that form; Alertmanager also takes `:` (classic) and any UTF-8 (quoted). Such a name is refused
// with an error that says so, rather than accepted as a matcher that could never match.

const SYNTAX_HINT = 'write name=value, name!=value, name=~regex or name!~regex, several separated by commas, optionally in {…}, values in double quotes';
const NAME_HINT =
  'meshdrift label names are letters, digits and _ (not starting with a digit): unlike Alertmanager, it refuses `:` and UTF-8 names, since no meshdrift label has them';

/** Go's unicode.IsSpace. */
function isSpace(c: string): boolean {
  return /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u.test(c);
}

function fail(message: string, hint: string, col: number): never {
  throw new MatcherError(`${message} (col ${col} of the matcher); ${hint}`, col);
}

interface Located extends MatcherSpec {
  /** Code-unit offsets of the name and the value in the whole input. */
  nameAt: number;
  valueAt: number;
}

// pkg/labels/parse.go `re`, with Go's ASCII `\s`.
const CLASSIC = /^[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*([\s\S]*?)[\t\n\f\r ]*$/d;

/** pkg/labels ParseMatcher on `token`, found at `base` in the input. */
function classicOne(token: string, base: number): Located {
  const m = CLASSIC.exec(token);
  if (!m?.indices) {
    const shown = token.trim();
    const lead = token.length - token.trimStart().length;
    fail(shown === '' ? 'an empty matcher (two commas in a row, or a comma first)' : `"${shown}" is not a matcher`, SYNTAX_HINT, base + lead + 1);
  }
  const [name = '', op = '=', raw = ''] = [m[1], m[2], m[3]];
  const nameAt = base + (m.indices[1]?.[0] ?? 0);
  const rawAt = base + (m.indices[3]?.[0] ?? 0);
  let value = '';
  let rest = raw;
  let expectQuote = false;
  if (rest.startsWith('"')) {
    rest = rest.slice(1);
    expectQuote = true;
  }
  const off = rawAt + (expectQuote ? 1 : 0);
  const quoteHint = 'inside a value write a double quote as \\" ; a quoted value must end with its closing "';
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i] as string;
    if (c === '\\') {
      if (i === rest.length - 1) {
        value += '\\';
        continue;
      }
      const n = rest[i + 1] as string;
      i++;
      value += n === 'n' ? '\n' : n === '"' || n === '\\' ? n : `\\${n}`;
    } else if (c === '"') {
      if (!expectQuote || i < rest.length - 1) fail(`the value ${raw} contains an unescaped double quote`, quoteHint, off + i + 1);
      expectQuote = false;
    } else value += c;
  }
  if (expectQuote) fail(`the value ${raw} has no closing double quote`, quoteHint, rawAt + 1);
  return { name, op: op as MatchOp, value, nameAt, valueAt: rawAt };
}

/** pkg/labels ParseMatchers: optional `{` and `}` trimmed, split on commas outside quotes. */
function parseClassic(input: string): Located[] {
  let s = input;
  let base = 0;
  if (s.startsWith('{')) {
    s = s.slice(1);
    base = 1;
  }
  if (s.endsWith('}')) s = s.slice(0, -1);
  const tokens: { text: string; at: number }[] = [];
  let inside = false;
  let escaped = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    // A comma inside quotes leaves `escaped` as it was (pkg/labels ParseMatchers).
    if (c === ',') {
      if (!inside) {
        tokens.push({ text: s.slice(start, i), at: base + start });
        start = i + 1;
      }
    } else if (c === '"') {
      if (!escaped) inside = !inside;
      else escaped = false;
    } else if (c === '\\') escaped = !escaped;
    else escaped = false;
  }
  const last = s.slice(start);
  const trimmed = goTrimSpace(last);
  if (trimmed !== '') tokens.push({ text: trimmed, at: base + start + last.indexOf(trimmed) });
  return tokens.map((t) => classicOne(t.text, t.at));
}

function goTrimSpace(s: string): string {
  const chars = [...s];
  let a = 0;
  let b = chars.length;
  while (a < b && isSpace(chars[a] as string)) a++;
  while (b > a && isSpace(chars[b - 1] as string)) b--;
  return chars.slice(a, b).join('');
}

type Tok = { kind: '{' | '}' | ',' | 'op' | 'quoted' | 'unquoted'; text: string; at: number };

/** Reserved in the UTF-8 lexer (matcher/parse/lexer.go isReserved). */
function reserved(c: string): boolean {
  return isSpace(c) || '{}!=~,\\"\'`'.includes(c);
}

class Utf8Error extends Error {}

/** The UTF-8 lexer: every token up to the end, or up to the first bad one (then `error`). */
function lexUtf8(input: string): { toks: Tok[]; error: boolean } {
  const toks: Tok[] = [];
  let i = 0;
  while (i < input.length) {
    const c = String.fromCodePoint(input.codePointAt(i) ?? 0);
    const at = i;
    if (c === '{' || c === '}' || c === ',') {
      toks.push({ kind: c, text: c, at });
      i++;
    } else if (c === '=' || c === '!') {
      const n = input[i + 1];
      if (c === '!' && n !== '=' && n !== '~') return { toks, error: true };
      const len = n === '~' || (c === '!' && n === '=') ? 2 : 1;
      toks.push({ kind: 'op', text: input.slice(i, i + len), at });
      i += len;
    } else if (c === '"') {
      let j = i + 1;
      let esc = false;
      for (; j < input.length; j++) {
        if (esc) esc = false;
        else if (input[j] === '\\') esc = true;
        else if (input[j] === '"') break;
      }
      if (j >= input.length) return { toks, error: true };
      toks.push({ kind: 'quoted', text: input.slice(i, j + 1), at });
      i = j + 1;
    } else if (!reserved(c)) {
      let j = i;
      while (j < input.length) {
        const d = String.fromCodePoint(input.codePointAt(j) ?? 0);
        if (reserved(d)) break;
        j += d.length;
      }
      toks.push({ kind: 'unquoted', text: input.slice(i, j), at });
      i = j;
    } else if (isSpace(c)) i += c.length;
    else return { toks, error: true };
  }
  return { toks, error: false };
}

const GO_SIMPLE: Readonly<Record<string, number>> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34 };

/** Go's strconv.Unquote of a double-quoted string, then a UTF-8 check (matcher/parse/token.go). */
function goUnquote(q: string): string {
  const body = q.slice(1, -1);
  if (body.includes('\n')) throw new Utf8Error('newline in a quoted string');
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < body.length; ) {
    const c = body[i] as string;
    if (c !== '\\') {
      const cp = String.fromCodePoint(body.codePointAt(i) ?? 0);
      bytes.push(...enc.encode(cp));
      i += cp.length;
      continue;
    }
    const e = body[i + 1] ?? '';
    const simple = GO_SIMPLE[e];
    if (simple !== undefined) {
      bytes.push(simple);
      i += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + len);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) throw new Utf8Error('bad escape');
      const v = Number.parseInt(hex, 16);
      if (e === 'x') bytes.push(v);
      else {
        if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw new Utf8Error('bad code point');
        bytes.push(...enc.encode(String.fromCodePoint(v)));
      }
      i += 2 + len;
    } else if (/^[0-7]$/.test(e)) {
      const oct = body.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || Number.parseInt(oct, 8) > 255) throw new Utf8Error('bad octal escape');
      bytes.push(Number.parseInt(oct, 8));
      i += 4;
    } else throw new Utf8Error('bad escape');
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    throw new Utf8Error('invalid UTF-8');
  }
}

const tokValue = (t: Tok): string => (t.kind === 'quoted' ? goUnquote(t.text) : t.text);

/** matcher/parse Matchers: the brace form or a bare list, trailing comma allowed. Throws Utf8Error. */
function parseUtf8(input: string): Located[] {
  const { toks, error } = lexUtf8(input);
  let i = 0;
  const peek = (): Tok | undefined => {
    if (i < toks.length) return toks[i];
    if (error) throw new Utf8Error('lexer');
    return undefined;
  };
  const out: Located[] = [];
  const first = peek();
  if (first === undefined) return out;
  const open = first.kind === '{';
  if (open) i++;
  let t = peek();
  while (t !== undefined && t.kind !== '}') {
    const [n, op, v] = [toks[i], toks[i + 1], toks[i + 2]];
    peek();
    if (n === undefined || (n.kind !== 'quoted' && n.kind !== 'unquoted')) throw new Utf8Error('name');
    i++;
    peek();
    if (op === undefined || op.kind !== 'op') throw new Utf8Error('op');
    i++;
    peek();
    if (v === undefined || (v.kind !== 'quoted' && v.kind !== 'unquoted')) throw new Utf8Error('value');
    i++;
    out.push({ name: tokValue(n), op: op.text as MatchOp, value: tokValue(v), nameAt: n.at, valueAt: v.at });
    t = peek();
    if (t === undefined || t.kind === '}') break;
    if (t.kind !== ',') throw new Utf8Error('comma');
    i++;
    t = peek();
  }
  // parseCloseBrace then parseEOF.
  if (open) {
    if (peek()?.kind !== '}') throw new Utf8Error('close brace');
    i++;
  } else if (peek()?.kind === '}') throw new Utf8Error('open brace');
  if (peek() !== undefined) throw new Utf8Error('end');
  return out;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checked(ms: readonly Located[]): MatcherSpec[] {
  return ms.map((m) => {
    if (!NAME.test(m.name)) fail(`label name ${JSON.stringify(m.name)} is not accepted`, NAME_HINT, m.nameAt + 1);
    return { name: m.name, op: m.op, value: m.value };
  });
}

function utf8OrUndefined(parse: () => Located[]): Located[] | undefined {
  try {
    return parse();
  } catch (err) {
    if (err instanceof Utf8Error) return undefined;
    throw err;
  }
}

/**
 * Parses one entry of a `matchers:` list, as Alertmanager's config does (compat.Matchers):
 * `{foo="bar", baz!~"x.*"}`, `foo=bar,baz!~x.*`, `{}` (none), trailing comma allowed. Throws
 * MatcherError with the column (1-based, in `text`) and what to write instead.
 */
export function parseMatchers(text: string): MatcherSpec[] {
  try {
    return checked(parseClassic(text));
  } catch (err) {
    if (!(err instanceof MatcherError)) throw err;
    const utf8 = utf8OrUndefined(() => parseUtf8(text));
    if (utf8 === undefined) throw err;
    return checked(utf8);
  }
}

/**
 * Parses exactly one matcher, as amtool and Alertmanager's API do (compat.Matcher): no braces;
 * the classic parse of the whole text (so `a=b,c` is `a` equal to `b,c`), else the UTF-8 one.
 */
export function parseMatcher(text: string): MatcherSpec {
  if (text.startsWith('{') || text.endsWith('}')) {
    fail('a single matcher has no braces', 'write name="value" without { }', text.startsWith('{') ? 1 : text.length);
  }
  let classic: Located;
  try {
    classic = classicOne(text, 0);
  } catch (err) {
    if (!(err instanceof MatcherError)) throw err;
    const utf8 = utf8OrUndefined(() => parseUtf8(text));
    if (utf8?.length !== 1) throw err;
    classic = utf8[0] as Located;
  }
  return checked([classic])[0] as MatcherSpec;
}

/** Go's openMetricsEscape (pkg/labels/matcher.go). */
function escapeValue(v: string): string {
  return v.replace(/[\\\n"]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/**
 * A matcher as Alertmanager prints it (labels.Matcher.String): `name="value"`, with `\`, newline
 * and `"` escaped. Both of Alertmanager's parsers, and ours, read it back as the same matcher.
 */
export function printMatcher(m: MatcherSpec): string {
  return `${m.name}${m.op}"${escapeValue(m.value)}"`;
}

/** A list as Alertmanager prints it (labels.Matchers.String): `{a="1", b!~"x.*"}`. */
export function printMatchers(ms: readonly MatcherSpec[]): string {
  return `{${ms.map(printMatcher).join(', ')}}`;
}

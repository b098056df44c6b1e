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

const MATCHER_TEXT = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/;

/** Parses `severity=~"critical|high"` or `namespace!=kube-system` (quotes optional). */
export function parseMatcher(text: string): MatcherSpec {
  const m = MATCHER_TEXT.exec(text);
  if (!m) throw new MatcherError(`"${text}" is not a matcher (use name=value, name!=value, name=~regex or name!~regex)`);
  let value = m[3] ?? '';
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    try {
      value = JSON.parse(value) as string;
    } catch {
      throw new MatcherError(`"${text}": the quoted value is not a valid string`);
    }
  }
  return { name: m[1] ?? '', op: m[2] as MatchOp, value };
}

/** True when every matcher matches (an empty list matches everything). */
export function matchesAll(matchers: readonly Matcher[], labels: Readonly<Record<string, string | undefined>>): boolean {
  for (const m of matchers) if (!m.matches(labels)) return false;
  return true;
}

export function formatMatcher(m: MatcherSpec): string {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`;
}

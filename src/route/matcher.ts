import { z } from 'zod';

/**
 * Alertmanager-style label matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
 * Regexes are anchored (as in Alertmanager) and compiled once, when the matcher is parsed; a
 * missing label matches as the empty string.
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

/** Compiles a matcher; throws MatcherError for an invalid regex. */
export function compileMatcher(spec: MatcherSpec): Matcher {
  if (spec.op === '=' || spec.op === '!=') {
    const equal = spec.op === '=';
    return { ...spec, matches: (labels) => ((labels[spec.name] ?? '') === spec.value) === equal };
  }
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${spec.value})$`);
  } catch (err) {
    throw new MatcherError(`invalid regular expression in ${spec.name}${spec.op}"${spec.value}": ${err instanceof Error ? err.message : String(err)}`);
  }
  const positive = spec.op === '=~';
  return { ...spec, matches: (labels) => re.test(labels[spec.name] ?? '') === positive };
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

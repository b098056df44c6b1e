import { z } from 'zod';
import { MatcherError, compileMatcher, matchesAll, parseMatchers, type Matcher } from './matcher.ts';

/**
 * Alertmanager inhibition (docs/configuration.md `<inhibit_rule>`, inhibit/inhibit.go): a firing
 * source alert mutes target alerts. A rule applies to a target when
 * - the target matches `target_matchers`,
 * - some other alert (the source) matches `source_matchers`,
 * - every `equal` label has the same value on both; a missing label is the empty string, so a
 *   label missing on both counts as equal (as in Alertmanager),
 * - and, when the target matches both sides of the rule, the source does not also match both
 *   sides (so alerts of one class cannot mute each other).
 * An alert never inhibits itself (compared by id).
 */

const labelName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'label names are letters, digits and _');

const matcherText = z.string().superRefine((text, ctx) => {
  try {
    for (const spec of parseMatchers(text)) compileMatcher(spec);
  } catch (err) {
    if (!(err instanceof MatcherError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message });
  }
});

export const inhibitRuleSchema = z.strictObject({
  /** Shown in reasons and logs; defaults to `inhibit_rules[i]`. */
  name: z.string().min(1).optional(),
  source_matchers: z.array(matcherText).min(1, 'source_matchers needs at least one matcher (the alerts that inhibit)'),
  target_matchers: z.array(matcherText).min(1, 'target_matchers needs at least one matcher (the alerts that are inhibited)'),
  equal: z.array(labelName).optional(),
});
export type InhibitRuleSpec = z.infer<typeof inhibitRuleSchema>;

/** A label set; a missing (or undefined) label is the empty string, as in matcher.ts. */
export type Labels = Readonly<Record<string, string | undefined>>;

export interface CompiledInhibitRule {
  /** The rule's `name`, or `inhibit_rules[i]`. */
  readonly id: string;
  readonly source: readonly Matcher[];
  readonly target: readonly Matcher[];
  readonly equal: readonly string[];
}

export interface InhibitionSource {
  readonly id: string;
  readonly labels: Labels;
}

export interface Inhibition {
  /** Id of the inhibiting source. */
  readonly sourceId: string;
  /** Id of the rule that applied. */
  readonly rule: string;
}

/**
 * Compiles the rules once. Throws MatcherError whose message names the rule and the matcher, e.g.
 * `inhibit_rules[1] (critical-mutes-warning): target_matchers[0]: "severity warning" is not a matcher …`.
 */
export function compileInhibitRules(rules: readonly InhibitRuleSpec[]): CompiledInhibitRule[] {
  return rules.map((rule, i) => {
    const where = `inhibit_rules[${i}]${rule.name === undefined ? '' : ` (${rule.name})`}`;
    const side = (field: 'source_matchers' | 'target_matchers'): Matcher[] => {
      const texts = rule[field];
      if (texts.length === 0) throw new MatcherError(`${where}: ${field} needs at least one matcher`);
      return texts.flatMap((text, j) => {
        try {
          return parseMatchers(text).map(compileMatcher);
        } catch (err) {
          if (err instanceof MatcherError) throw new MatcherError(`${where}: ${field}[${j}]: ${err.message}`);
          throw err;
        }
      });
    };
    return {
      id: rule.name ?? `inhibit_rules[${i}]`,
      source: side('source_matchers'),
      target: side('target_matchers'),
      equal: [...(rule.equal ?? [])],
    };
  });
}

function equalLabels(equal: readonly string[], a: Labels, b: Labels): boolean {
  for (const name of equal) if ((a[name] ?? '') !== (b[name] ?? '')) return false;
  return true;
}

/**
 * The first inhibition that applies to `target` (rules in order, then sources in the order given),
 * or null. `targetId`, when given, excludes the target itself from the sources; sources should be
 * the currently firing alerts that match some rule's source side (see isInhibitionSource).
 */
export function findInhibition(
  target: Labels,
  sources: ReadonlyArray<InhibitionSource>,
  rules: readonly CompiledInhibitRule[],
  targetId?: string,
): Inhibition | null {
  for (const rule of rules) {
    if (!matchesAll(rule.target, target)) continue;
    // A target matching both sides may only be inhibited by sources that do not.
    const twoSided = matchesAll(rule.source, target);
    for (const source of sources) {
      if (targetId !== undefined && source.id === targetId) continue;
      if (!matchesAll(rule.source, source.labels)) continue;
      if (!equalLabels(rule.equal, target, source.labels)) continue;
      if (twoSided && matchesAll(rule.target, source.labels)) continue;
      return { sourceId: source.id, rule: rule.id };
    }
  }
  return null;
}

/**
 * The id of a source that inhibits `target`, or null. Pass the target's own id (e.g. its
 * fingerprint) as `targetId` to skip it among the sources. Even without it an alert cannot inhibit
 * itself: to be a source it must match the source side, so it matches both sides, and the
 * both-sides rule then excludes it; the id check guards against a stale copy with other labels.
 */
export function inhibitedBy(target: Labels, sources: ReadonlyArray<InhibitionSource>, rules: readonly CompiledInhibitRule[], targetId?: string): string | null {
  return findInhibition(target, sources, rules, targetId)?.sourceId ?? null;
}

/** True when the labels match some rule's source side: only such alerts need to be kept as sources. */
export function isInhibitionSource(labels: Labels, rules: readonly CompiledInhibitRule[]): boolean {
  for (const rule of rules) if (matchesAll(rule.source, labels)) return true;
  return false;
}

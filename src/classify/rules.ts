import type { RuleConfig, RuleMatch } from '../config/policy.ts';
import type { Severity } from '../model/severity.ts';

/**
 * Policy rules compiled once into plain predicates: globs become anchored regexes (or string
 * equality when they have no wildcard), so evaluating a resource allocates nothing and compiles
 * nothing.
 */

/** What a rule can look at, for one drifted resource. */
export interface RuleSubject {
  cluster: string;
  source: string;
  project: string;
  owner: string;
  owner_namespace: string;
  owner_kind: string;
  destination_namespace: string;
  group: string;
  kind: string;
  namespace: string;
  name: string;
  category: string;
  mesh: string;
  state: string;
  labels: Readonly<Record<string, string>>;
}

type StringField = Exclude<keyof RuleSubject, 'labels'>;
type Test = (s: RuleSubject) => boolean;

export interface CompiledRule {
  /** `rules[3]` or `rules[3] (name)`: how reasons and errors name it. */
  readonly id: string;
  readonly ignore: boolean;
  readonly continue: boolean;
  readonly severity: Severity | undefined;
  readonly labels: Readonly<Record<string, string>>;
  matches(subject: RuleSubject): boolean;
}

/** A glob as a string predicate: `*` any run of characters, `?` one; anything else literal. */
export function compileGlob(glob: string): (value: string) => boolean {
  if (!/[*?]/.test(glob)) return (value) => value === glob;
  if (glob === '*') return () => true;
  const source = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  const re = new RegExp(`^${source}$`);
  return (value) => re.test(value);
}

function anyOf(globs: readonly string[]): (value: string) => boolean {
  const tests = globs.map(compileGlob);
  if (tests.length === 1) {
    const [only] = tests;
    if (only) return only;
  }
  return (value) => tests.some((t) => t(value));
}

const FIELDS: readonly StringField[] = [
  'cluster', 'source', 'project', 'owner', 'owner_namespace', 'owner_kind', 'destination_namespace',
  'group', 'kind', 'namespace', 'name', 'category', 'mesh', 'state',
];

function compileMatch(match: RuleMatch): Test {
  const tests: Test[] = [];
  for (const field of FIELDS) {
    const globs = match[field];
    if (globs === undefined) continue;
    const test = anyOf(globs);
    tests.push((s) => test(s[field]));
  }
  for (const [label, glob] of Object.entries(match.labels ?? {})) {
    const test = compileGlob(glob);
    tests.push((s) => test(s.labels[label] ?? ''));
  }
  if (tests.length === 0) return () => true;
  return (s) => {
    for (const t of tests) if (!t(s)) return false;
    return true;
  };
}

export function compileRules(rules: readonly RuleConfig[]): CompiledRule[] {
  return rules.map((rule, i) => ({
    id: rule.name ? `rules[${i}] (${rule.name})` : `rules[${i}]`,
    ignore: rule.ignore,
    continue: rule.continue,
    severity: rule.set?.severity,
    labels: rule.set?.labels ?? {},
    matches: compileMatch(rule.match),
  }));
}

export interface RuleOutcome {
  ignored: boolean;
  severity: Severity;
  labels: Record<string, string>;
  reasons: string[];
}

/**
 * Ordered evaluation: the first matching rule decides, unless it says `continue`, in which case
 * later matches may override its severity and add labels. `ignore` ends evaluation.
 */
export function evaluateRules(rules: readonly CompiledRule[], subject: RuleSubject, defaultSeverity: Severity): RuleOutcome {
  let severity = defaultSeverity;
  let labels: Record<string, string> | undefined;
  const reasons: string[] = [];
  for (const rule of rules) {
    if (!rule.matches(subject)) continue;
    if (rule.ignore) {
      reasons.push(`ignored by ${rule.id}`);
      return { ignored: true, severity, labels: labels ?? {}, reasons };
    }
    if (rule.severity !== undefined) {
      reasons.push(`${rule.id} set severity ${rule.severity}`);
      severity = rule.severity;
    }
    const keys = Object.keys(rule.labels);
    if (keys.length > 0) {
      labels = { ...labels, ...rule.labels };
      reasons.push(`${rule.id} set labels ${keys.map((k) => `${k}=${rule.labels[k] ?? ''}`).join(', ')}`);
    }
    if (!rule.continue) break;
  }
  return { ignored: false, severity, labels: labels ?? {}, reasons };
}

import type { RuleConfig, RuleMatch } from './rule-config.ts';
import type { Severity } from '../model/severity.ts';
import { compileAnnotations, type CompiledAnnotations } from './annotations.ts';
import { labelValue } from '../route/matcher.ts';

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
  /** The rule's annotation templates (classify/annotations.ts); rendered per finding by classify(). */
  readonly annotations: CompiledAnnotations;
  matches(subject: RuleSubject): boolean;
}

/** A glob as a string predicate: `*` any run of characters, `?` one; anything else literal. */
export function compileGlob(glob: string): (value: string) => boolean {
  if (!/[*?]/.test(glob)) return (value) => value === glob;
  if (glob === '*') return () => true;
  // The common shapes (`team-*`, `*-tmp`, `*canary*`) are plain string tests, several times
  // cheaper than a regex; the rest compiles to an anchored regex once.
  const inner = glob.slice(1, -1);
  if (!glob.includes('?')) {
    const stars = glob.split('*').length - 1;
    if (stars === 1 && glob.endsWith('*')) {
      const prefix = glob.slice(0, -1);
      return (value) => value.startsWith(prefix);
    }
    if (stars === 1 && glob.startsWith('*')) {
      const suffix = glob.slice(1);
      return (value) => value.endsWith(suffix);
    }
    if (stars === 2 && glob.startsWith('*') && glob.endsWith('*')) return (value) => value.includes(inner);
  }
  return (value) => globMatch(glob, value);
}

/**
 * `*` any run, `?` one character, the rest literal. Greedy, backing up only to the last `*`: at
 * most |glob| x |value| steps, never the exponential backtracking a regex like `^.*a.*a.*b$` can
 * take on names that come from webhook bodies.
 */
export function globMatch(glob: string, value: string): boolean {
  let g = 0;
  let v = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    const c = glob[g];
    if (c !== undefined && c !== '*' && (c === '?' || c === value[v])) {
      g++;
      v++;
    } else if (c === '*') {
      star = g++;
      resume = v;
    } else if (star !== -1) {
      g = star + 1;
      v = ++resume;
    } else {
      return false;
    }
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
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
  'cluster',
  'source',
  'project',
  'owner',
  'owner_namespace',
  'owner_kind',
  'destination_namespace',
  'group',
  'kind',
  'namespace',
  'name',
  'category',
  'mesh',
  'state',
];

/** How expensive a glob list is to test, to run the cheap (and usually decisive) tests first. */
function cost(globs: readonly string[]): number {
  return globs.reduce((sum, g) => sum + (/[*?]/.test(g) ? 3 : 1), 0);
}

// Static accessors: a computed `s[field]` in a hot closure is a keyed (slow) property load.
const GET: Readonly<Record<StringField, (s: RuleSubject) => string>> = {
  cluster: (s) => s.cluster,
  source: (s) => s.source,
  project: (s) => s.project,
  owner: (s) => s.owner,
  owner_namespace: (s) => s.owner_namespace,
  owner_kind: (s) => s.owner_kind,
  destination_namespace: (s) => s.destination_namespace,
  group: (s) => s.group,
  kind: (s) => s.kind,
  namespace: (s) => s.namespace,
  name: (s) => s.name,
  category: (s) => s.category,
  mesh: (s) => s.mesh,
  state: (s) => s.state,
};

function compileMatch(match: RuleMatch): Test {
  const tests: Array<{ cost: number; test: Test }> = [];
  for (const field of FIELDS) {
    const globs = match[field];
    if (globs === undefined) continue;
    const test = anyOf(globs);
    const get = GET[field];
    tests.push({ cost: cost(globs), test: (s) => test(get(s)) });
  }
  for (const [label, glob] of Object.entries(match.labels ?? {})) {
    const test = compileGlob(glob);
    tests.push({ cost: cost([glob]) + 1, test: (s) => test(labelValue(s.labels, label)) });
  }
  const ordered = tests.sort((a, b) => a.cost - b.cost).map((t) => t.test);
  const [first, second] = ordered;
  // Most rules have one or two conditions: avoid the loop for those.
  if (first === undefined) return () => true;
  if (ordered.length === 1) return first;
  if (ordered.length === 2 && second) return (s) => first(s) && second(s);
  return (s) => {
    for (const t of ordered) if (!t(s)) return false;
    return true;
  };
}

/**
 * Compiled rules with an index: most rules pin some field to exact values (a kind, an owner, a
 * namespace, a category). Such a rule is filed under one of those values, so a resource is only
 * tested against the rules filed under its own values plus the unpinned ones, in policy order.
 */
export interface RuleSet {
  readonly list: readonly CompiledRule[];
  /** The rules that can match `subject`, in policy order (a superset of those that do). */
  candidates(subject: RuleSubject): readonly CompiledRule[];
}

// Which pinned field to file a rule under, most selective first.
const INDEX_FIELDS: readonly StringField[] = [
  'name',
  'owner',
  'namespace',
  'kind',
  'owner_namespace',
  'destination_namespace',
  'project',
  'cluster',
  'group',
  'mesh',
  'state',
  'category',
  'owner_kind',
  'source',
];

function pinnedValues(match: RuleMatch, field: StringField): readonly string[] | undefined {
  const globs = match[field];
  return globs?.every((g) => !/[*?]/.test(g)) ? globs : undefined;
}

export function compileRules(rules: readonly RuleConfig[]): RuleSet {
  const list: CompiledRule[] = rules.map((rule, i) => ({
    id: rule.name ? `rules[${i}] (${rule.name})` : `rules[${i}]`,
    ignore: rule.ignore,
    continue: rule.continue,
    severity: rule.set?.severity,
    labels: rule.set?.labels ?? {},
    annotations: compileAnnotations(rule.annotations),
    matches: compileMatch(rule.match),
  }));
  const unpinned: number[] = [];
  const index = new Map<StringField, Map<string, number[]>>();
  const labelIndex = new Map<string, Map<string, number[]>>();
  rules.forEach((rule, i) => {
    const pinnedLabel = Object.entries(rule.match.labels ?? {}).find(([, glob]) => !/[*?]/.test(glob));
    if (pinnedLabel) {
      const [label, value] = pinnedLabel;
      const byValue = labelIndex.get(label) ?? new Map<string, number[]>();
      labelIndex.set(label, byValue);
      byValue.set(value, [...(byValue.get(value) ?? []), i]);
      return;
    }
    for (const field of INDEX_FIELDS) {
      const values = pinnedValues(rule.match, field);
      if (values === undefined) continue;
      const byValue = index.get(field) ?? new Map<string, number[]>();
      index.set(field, byValue);
      for (const v of values) byValue.set(v, [...(byValue.get(v) ?? []), i]);
      return;
    }
    unpinned.push(i);
  });
  const fields = [...index.entries()];
  const labelFields = [...labelIndex.entries()];
  const at = (i: number): CompiledRule => list[i] as CompiledRule;
  return {
    list,
    candidates(subject) {
      if (fields.length === 0 && labelFields.length === 0) return list;
      let picked: number[] | undefined;
      let pickedCopy = false;
      const add = (more: readonly number[]) => {
        if (picked === undefined) {
          picked = more as number[];
          return;
        }
        if (!pickedCopy) {
          picked = [...picked];
          pickedCopy = true;
        }
        picked.push(...more);
      };
      if (unpinned.length > 0) add(unpinned);
      for (const [field, byValue] of fields) {
        const hit = byValue.get(GET[field](subject));
        if (hit !== undefined) add(hit);
      }
      for (const [label, byValue] of labelFields) {
        const hit = byValue.get(labelValue(subject.labels, label));
        if (hit !== undefined) add(hit);
      }
      if (picked === undefined) return [];
      // Policy order matters (first match wins): merge what several fields picked.
      const ordered = pickedCopy ? [...new Set(picked.sort((a, b) => a - b))] : picked;
      return ordered.map(at);
    },
  };
}

const NO_LABELS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export interface RuleOutcome {
  ignored: boolean;
  severity: Severity;
  labels: Record<string, string>;
  /** Annotation templates of the matching rules, a later rule's key replacing an earlier one's. */
  annotations: CompiledAnnotations;
  reasons: string[];
}

const NO_ANNOTATIONS: CompiledAnnotations = Object.freeze({});

/**
 * Ordered evaluation: the first matching rule decides, unless it says `continue`, in which case
 * later matches may override its severity and add labels. `ignore` ends evaluation.
 */
export function evaluateRules(rules: RuleSet, subject: RuleSubject, defaultSeverity: Severity): RuleOutcome {
  let severity = defaultSeverity;
  let labels: Record<string, string> | undefined;
  let annotations: CompiledAnnotations | undefined;
  let reasons: string[] | undefined;
  for (const rule of rules.candidates(subject)) {
    if (!rule.matches(subject)) continue;
    reasons ??= [];
    if (rule.ignore) {
      reasons.push(`ignored by ${rule.id}`);
      return { ignored: true, severity, labels: labels ?? {}, annotations: annotations ?? NO_ANNOTATIONS, reasons };
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
    const annotationKeys = Object.keys(rule.annotations);
    if (annotationKeys.length > 0) {
      annotations = { ...annotations, ...rule.annotations };
      reasons.push(`${rule.id} set annotations ${annotationKeys.join(', ')}`);
    }
    if (!rule.continue) break;
  }
  return { ignored: false, severity, labels: labels ?? NO_LABELS, annotations: annotations ?? NO_ANNOTATIONS, reasons: reasons ?? [] };
}

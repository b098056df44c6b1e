import { describe, expect, it } from 'vitest';
import { compileGlob, compileRules, evaluateRules, type RuleSubject } from '../../../src/classify/rules.ts';
import { ruleSchema, type RuleConfig } from '../../../src/classify/rule-config.ts';

describe('globs', () => {
  it.each([
    ['team-*', 'team-a', true],
    ['team-*', 'xteam-a', false],
    ['*-tmp', 'a-tmp', true],
    ['*-tmp', 'a-tmp2', false],
    ['*canary*', 'a-canary-b', true],
    ['*canary*', 'canar', false],
    ['a?c', 'abc', true],
    ['a?c', 'abbc', false],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXbY', false],
    ['a.b', 'axb', false],
    ['exact', 'exact', true],
    ['*', '', true],
    ['(x)*', '(x)y', true],
    ['[ab]', 'a', false],
  ])('%s on %s → %s', (glob, value, expected) => {
    expect(compileGlob(glob)(value)).toBe(expected);
  });
});

// A tiny deterministic generator: the index must never change which rules apply, or their order.
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

const VALUES = {
  kind: ['VirtualService', 'Gateway', 'Server'],
  namespace: ['a', 'b', 'team-1'],
  owner: ['app1', 'app2'],
  cluster: ['prod-1', 'dev'],
  state: ['Modified', 'Missing'],
} as const;

function randomRule(r: () => number): RuleConfig {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const match: Record<string, unknown> = {};
  for (const field of Object.keys(VALUES) as Array<keyof typeof VALUES>) {
    const roll = r();
    if (roll < 0.25) match[field] = pick(VALUES[field]);
    else if (roll < 0.35 && field !== 'state') match[field] = `${String(pick(VALUES[field])).slice(0, 1)}*`;
    else if (roll < 0.45) match[field] = [pick(VALUES[field]), pick(VALUES[field])];
  }
  if (r() < 0.2) match.labels = { team: pick(['x', 'y', 'x*']) };
  const ignore = r() < 0.1;
  return ruleSchema.parse({
    match,
    ignore,
    continue: r() < 0.4,
    ...(ignore ? {} : { set: { severity: pick(['critical', 'high', 'low'] as const), labels: r() < 0.3 ? { l: pick(['1', '2']) } : {} } }),
  });
}

describe('rule index', () => {
  it('gives the same outcome as evaluating every rule in order (2,000 random policies)', () => {
    const r = rng(42);
    for (let p = 0; p < 2000; p++) {
      const config = Array.from({ length: 1 + Math.floor(r() * 12) }, () => randomRule(r));
      const indexed = compileRules(config);
      const naive = { list: indexed.list, candidates: () => indexed.list };
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
      const subject: RuleSubject = {
        cluster: pick(VALUES.cluster),
        source: 'argocd',
        project: 'p',
        owner: pick(VALUES.owner),
        owner_namespace: 'argocd',
        owner_kind: 'Application',
        destination_namespace: '',
        group: '',
        kind: pick(VALUES.kind),
        namespace: pick(VALUES.namespace),
        name: 'n',
        category: 'traffic',
        mesh: 'istio',
        state: pick(VALUES.state),
        labels: r() < 0.5 ? { team: pick(['x', 'y', 'xx']) } : {},
      };
      expect(evaluateRules(indexed, subject, 'medium')).toEqual(evaluateRules(naive, subject, 'medium'));
    }
  });
});

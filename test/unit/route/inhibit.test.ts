import { describe, expect, it } from 'vitest';
import { MatcherError } from '../../../src/route/matcher.ts';
import { compileInhibitRules, findInhibition, inhibitedBy, inhibitRuleSchema, isInhibitionSource, type InhibitRuleSpec } from '../../../src/route/inhibit.ts';

const rules = (...specs: InhibitRuleSpec[]) => compileInhibitRules(specs.map((s) => inhibitRuleSchema.parse(s)));

describe('inhibition', () => {
  const criticalMutesWarning = rules({
    name: 'critical-mutes-warning',
    source_matchers: ['severity="critical"'],
    target_matchers: ['severity=~"warning|info"'],
    equal: ['cluster', 'owner'],
  });

  it.each([
    [
      'same cluster and owner',
      { severity: 'warning', cluster: 'prod', owner: 'web' },
      [{ id: 's1', labels: { severity: 'critical', cluster: 'prod', owner: 'web' } }],
      's1',
    ],
    [
      'different owner',
      { severity: 'warning', cluster: 'prod', owner: 'web' },
      [{ id: 's1', labels: { severity: 'critical', cluster: 'prod', owner: 'api' } }],
      null,
    ],
    [
      'target side does not match',
      { severity: 'high', cluster: 'prod', owner: 'web' },
      [{ id: 's1', labels: { severity: 'critical', cluster: 'prod', owner: 'web' } }],
      null,
    ],
    [
      'source side does not match',
      { severity: 'info', cluster: 'prod', owner: 'web' },
      [{ id: 's1', labels: { severity: 'high', cluster: 'prod', owner: 'web' } }],
      null,
    ],
    [
      'an equal label missing on both counts as equal',
      { severity: 'info', cluster: 'prod' },
      [{ id: 's1', labels: { severity: 'critical', cluster: 'prod' } }],
      's1',
    ],
    [
      'missing on one side only is not equal',
      { severity: 'info', cluster: 'prod' },
      [{ id: 's1', labels: { severity: 'critical', cluster: 'prod', owner: 'web' } }],
      null,
    ],
    [
      'missing equals empty (Prometheus label semantics)',
      { severity: 'info', cluster: 'prod', owner: '' },
      [{ id: 's1', labels: { severity: 'critical', cluster: 'prod' } }],
      's1',
    ],
    [
      'first matching source in the given order',
      { severity: 'warning', cluster: 'prod', owner: 'web' },
      [
        { id: 's0', labels: { severity: 'critical', cluster: 'dev', owner: 'web' } },
        { id: 's1', labels: { severity: 'critical', cluster: 'prod', owner: 'web' } },
        { id: 's2', labels: { severity: 'critical', cluster: 'prod', owner: 'web' } },
      ],
      's1',
    ],
    ['no sources', { severity: 'warning', cluster: 'prod', owner: 'web' }, [], null],
  ] as const)('%s', (_name, target, sources, expected) => {
    expect(inhibitedBy(target, sources, criticalMutesWarning)).toBe(expected);
  });

  it('without `equal` any matching source inhibits', () => {
    const r = rules({ source_matchers: ['alertname="ClusterDown"'], target_matchers: ['category="traffic"'] });
    expect(inhibitedBy({ category: 'traffic', cluster: 'a' }, [{ id: 'down', labels: { alertname: 'ClusterDown', cluster: 'b' } }], r)).toBe('down');
  });

  it('an alert never inhibits itself (by id), even if its labels would', () => {
    const r = rules({ source_matchers: ['kind="Gateway"'], target_matchers: ['mesh="istio"'], equal: ['cluster'] });
    // Target only matches the target side; a source with the target's id (a stale copy that now
    // matches the source side) is skipped, another one is not.
    const target = { kind: 'VirtualService', mesh: 'istio', cluster: 'prod' };
    const stale = { id: 'fp-1', labels: { kind: 'Gateway', mesh: 'istio', cluster: 'prod' } };
    expect(inhibitedBy(target, [stale], r, 'fp-1')).toBeNull();
    expect(inhibitedBy(target, [stale], r)).toBe('fp-1');
    expect(inhibitedBy(target, [stale, { ...stale, id: 'fp-2' }], r, 'fp-1')).toBe('fp-2');
  });

  it('an alert matching both sides is never inhibited by itself, even without its id', () => {
    const r = rules({ source_matchers: ['category="security"'], target_matchers: ['severity="high"'] });
    const labels = { category: 'security', severity: 'high' };
    expect(inhibitedBy(labels, [{ id: 'self', labels }], r)).toBeNull();
  });

  describe('both-sides rule (Alertmanager): a target matching both sides is not inhibited by sources that also match both', () => {
    const r = rules({ name: 'sec-over-traffic', source_matchers: ['category="security"'], target_matchers: ['mesh="istio"'], equal: ['cluster'] });
    const bothSides = { category: 'security', mesh: 'istio', cluster: 'prod' }; // matches source and target
    it.each([
      ['source matching both sides: no inhibition', bothSides, { category: 'security', mesh: 'istio', cluster: 'prod' }, null],
      ['source matching only the source side: inhibits', bothSides, { category: 'security', mesh: 'linkerd', cluster: 'prod' }, 'src'],
      [
        'target matching only the target side: a two-sided source still inhibits',
        { category: 'traffic', mesh: 'istio', cluster: 'prod' },
        { category: 'security', mesh: 'istio', cluster: 'prod' },
        'src',
      ],
    ] as const)('%s', (_name, target, source, expected) => {
      expect(inhibitedBy(target, [{ id: 'src', labels: source }], r, 'target')).toBe(expected);
    });
  });

  it('tries the rules in order and reports which one applied', () => {
    const r = rules(
      { name: 'cluster-down', source_matchers: ['alertname="ClusterDown"'], target_matchers: ['cluster=~".+"'], equal: ['cluster'] },
      { name: 'critical-mutes-warning', source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: ['owner'] },
      { source_matchers: ['kind="Namespace"', 'state="missing"'], target_matchers: ['state="missing"'], equal: ['namespace'] },
    );
    const sources = [
      { id: 'crit', labels: { severity: 'critical', owner: 'web', cluster: 'prod' } },
      { id: 'ns', labels: { kind: 'Namespace', state: 'missing', namespace: 'shop', cluster: 'prod' } },
      { id: 'down', labels: { alertname: 'ClusterDown', cluster: 'dev' } },
    ];
    expect(findInhibition({ severity: 'warning', owner: 'web', cluster: 'dev' }, sources, r)).toEqual({ sourceId: 'down', rule: 'cluster-down' });
    expect(findInhibition({ severity: 'warning', owner: 'web', cluster: 'prod' }, sources, r)).toEqual({ sourceId: 'crit', rule: 'critical-mutes-warning' });
    expect(findInhibition({ state: 'missing', kind: 'Service', namespace: 'shop', cluster: 'prod' }, sources, r)).toEqual({
      sourceId: 'ns',
      rule: 'inhibit_rules[2]',
    });
    expect(findInhibition({ state: 'missing', kind: 'Service', namespace: 'other', cluster: 'prod' }, sources, r)).toBeNull();
  });

  it('isInhibitionSource: matches any rule source side', () => {
    const r = rules(
      { source_matchers: ['severity="critical"', 'cluster=~"prod-.*"'], target_matchers: ['severity="warning"'] },
      { source_matchers: ['alertname="ClusterDown"'], target_matchers: ['cluster!=""'] },
    );
    expect(isInhibitionSource({ severity: 'critical', cluster: 'prod-eu' }, r)).toBe(true);
    expect(isInhibitionSource({ severity: 'critical', cluster: 'dev' }, r)).toBe(false);
    expect(isInhibitionSource({ alertname: 'ClusterDown' }, r)).toBe(true);
    expect(isInhibitionSource({ severity: 'warning' }, r)).toBe(false);
    expect(isInhibitionSource({ severity: 'critical' }, [])).toBe(false);
  });
});

describe('inhibit rule schema and compile errors', () => {
  const issues = (spec: unknown): string => {
    const r = inhibitRuleSchema.safeParse(spec);
    return r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
  };

  it.each([
    [{ source_matchers: ['severity critical'], target_matchers: ['a=b'] }, 'source_matchers.0: "severity critical" is not a matcher'],
    [{ source_matchers: ['a=b'], target_matchers: ['name=~"("'] }, 'target_matchers.0: invalid regular expression in name=~"("'],
    [{ source_matchers: [], target_matchers: ['a=b'] }, 'source_matchers: source_matchers needs at least one matcher'],
    [{ source_matchers: ['a=b'] }, 'target_matchers'],
    [{ source_matchers: ['a=b'], target_matchers: ['a=c'], equal: ['not a label'] }, 'equal.0: label names are letters, digits and _'],
    [{ source_matchers: ['a=b'], target_matchers: ['a=c'], source_match: { a: 'b' } }, 'source_match'], // strict: deprecated keys are unknown
  ])('%j → %s', (spec, message) => {
    expect(issues(spec)).toContain(message);
  });

  it('accepts a valid rule', () => {
    expect(issues({ name: 'r', source_matchers: ['severity="critical"'], target_matchers: ['severity=~"warning|info"'], equal: ['cluster'] })).toBe('');
  });

  it('compileInhibitRules names the rule and the matcher', () => {
    expect(() =>
      compileInhibitRules([
        { source_matchers: ['a=b'], target_matchers: ['a=c'] },
        { name: 'bad', source_matchers: ['a=b'], target_matchers: ['a=c', 'severity warning'] },
      ]),
    ).toThrow(
      new MatcherError(
        'inhibit_rules[1] (bad): target_matchers[1]: "severity warning" is not a matcher (col 1 of the matcher); write name=value, name!=value, name=~regex or name!~regex, several separated by commas, optionally in {…}, values in double quotes',
      ),
    );
    expect(() => compileInhibitRules([{ source_matchers: ['x=~"["'], target_matchers: ['a=c'] }])).toThrow(
      /^inhibit_rules\[0\]: source_matchers\[0\]: invalid regular expression in x=~"\["/,
    );
    expect(() => compileInhibitRules([{ source_matchers: [], target_matchers: ['a=c'] }])).toThrow(
      'inhibit_rules[0]: source_matchers needs at least one matcher',
    );
  });
});

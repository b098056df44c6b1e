import { describe, expect, it } from 'vitest';
import { compileMatcher, formatMatcher, MatcherError, parseMatcher } from '../../../src/route/matcher.ts';
import { compileRoute, matchRoutes, ROUTE_DEFAULTS } from '../../../src/route/route.ts';

describe('matchers', () => {
  it.each([
    ['severity=critical', { severity: 'critical' }, true],
    ['severity="critical"', { severity: 'critical' }, true],
    ['severity!=critical', { severity: 'high' }, true],
    ['severity=~"critical|high"', { severity: 'high' }, true],
    ['severity=~"crit"', { severity: 'critical' }, false], // anchored, as in Alertmanager
    ['namespace!~"kube-.*"', { namespace: 'kube-system' }, false],
    ['team=""', {}, true], // a missing label is the empty string
    ['team!=""', {}, false],
  ])('%s on %j → %s', (text, labels, expected) => {
    expect(compileMatcher(parseMatcher(text)).matches(labels)).toBe(expected);
  });

  it('rejects what is not a matcher, and bad regexes', () => {
    expect(() => parseMatcher('severity critical')).toThrow(MatcherError);
    expect(() => compileMatcher(parseMatcher('name=~"("'))).toThrow(/invalid regular expression/);
  });

  it('formats back to a parseable matcher', () => {
    const spec = parseMatcher('name=~"a\\"b"');
    expect(parseMatcher(formatMatcher(spec))).toEqual(spec);
  });
});

describe('route tree', () => {
  const root = compileRoute(
    {
      receiver: 'default',
      group_wait: 10_000,
      routes: [
        { matchers: ['severity="critical"'], receiver: 'pager', continue: true },
        { matchers: ['category="security"'], receiver: 'security', routes: [{ matchers: ['cluster=~"prod-.*"'], receiver: 'security-prod', group_wait: 1000 }] },
        { matchers: ['category="traffic"'], receiver: 'traffic' },
        { matchers: ['category="traffic"'], receiver: 'never' },
      ],
    },
    { ...ROUTE_DEFAULTS, receiver: '' },
  );
  const receivers = (labels: Record<string, string>) => matchRoutes(root, labels).map((r) => r.receiver);

  it.each([
    [{ severity: 'low', category: 'observability' }, ['default']],
    [{ severity: 'critical', category: 'security', cluster: 'prod-1' }, ['pager', 'security-prod']],
    [{ severity: 'critical', category: 'security', cluster: 'dev' }, ['pager', 'security']],
    [{ severity: 'high', category: 'traffic' }, ['traffic']],
    [{ severity: 'critical', category: 'observability' }, ['pager']],
  ])('%j → %j', (labels, expected) => {
    expect(receivers(labels)).toEqual(expected);
  });

  it('children inherit timers and group_by unless they set them', () => {
    const [security] = matchRoutes(root, { category: 'security', cluster: 'dev' });
    expect(security?.groupWaitMs).toBe(10_000);
    expect(security?.groupIntervalMs).toBe(ROUTE_DEFAULTS.groupIntervalMs);
    const [securityProd] = matchRoutes(root, { category: 'security', cluster: 'prod-1' });
    expect(securityProd?.groupWaitMs).toBe(1000);
    expect(securityProd?.id).toBe('route.routes[1].routes[0]');
    expect(securityProd?.groupBy).toEqual(ROUTE_DEFAULTS.groupBy);
  });
});

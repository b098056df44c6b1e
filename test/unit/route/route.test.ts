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
        {
          matchers: ['category="security"'],
          receiver: 'security',
          resolve_wait: 5000,
          routes: [{ matchers: ['cluster=~"prod-.*"'], receiver: 'security-prod', group_wait: 1000 }],
        },
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
    expect(securityProd?.path).toBe('route.routes[1].routes[0]');
    expect(securityProd?.id).toMatch(/^content:[0-9a-f]{16}$/);
    expect(securityProd?.groupBy).toEqual(ROUTE_DEFAULTS.groupBy);
    // resolve_wait too: set on the security route, inherited by its child; the default elsewhere.
    expect([security?.resolveWaitMs, securityProd?.resolveWaitMs]).toEqual([5000, 5000]);
    expect(matchRoutes(root, { category: 'traffic' })[0]?.resolveWaitMs).toBe(ROUTE_DEFAULTS.resolveWaitMs);
  });
});

describe('route identity (issue #12)', () => {
  type Config = Parameters<typeof compileRoute>[0];
  const compile = (config: Config) => compileRoute(config, { ...ROUTE_DEFAULTS, receiver: 'default' });
  const ids = (config: Config): Record<string, string> => {
    const out: Record<string, string> = {};
    const walk = (r: ReturnType<typeof compile>) => {
      out[`${r.receiver} ${r.matchers.map((m) => formatMatcher(m)).join(',')}`] = r.id;
      r.routes.forEach(walk);
    };
    walk(compile(config));
    return out;
  };
  const prod: Config = {
    matchers: ['cluster="prod"'],
    receiver: 'oncall',
    slack_actions: { allowed: ['U0PROD'], actions: ['silence'] },
    routes: [{ matchers: ['severity="critical"'], receiver: 'pager' }],
  };
  const staging: Config = { matchers: ['cluster="staging"'], receiver: 'chat' };

  it('does not depend on position: swapping two routes changes no identity, children included', () => {
    const a = ids({ receiver: 'default', routes: [prod, staging] });
    const b = ids({ receiver: 'default', routes: [staging, prod] });
    expect(b).toEqual(a);
    expect(new Set(Object.values(a)).size).toBe(4);
    expect(a['default ']).toBe('route');
  });

  it("is the content when unnamed: changed matchers, receiver or group_by make a new identity (and their children's); other keys do not", () => {
    const before = compile({ receiver: 'default', routes: [prod] }).routes[0];
    const edited = (patch: Partial<Config>) => compile({ receiver: 'default', routes: [{ ...prod, ...patch }] }).routes[0];
    expect(edited({ matchers: ['cluster="prod"', 'team="a"'] })?.id).not.toBe(before?.id);
    expect(edited({ matchers: ['cluster="prod"', 'team="a"'] })?.routes[0]?.id).not.toBe(before?.routes[0]?.id);
    expect(edited({ receiver: 'chat' })?.id).not.toBe(before?.id);
    expect(edited({ group_by: ['cluster'] })?.id).not.toBe(before?.id);
    // Timers, continue, permissions, intervals: the same route with other settings.
    expect(edited({ group_wait: 1000, continue: true, slack_actions: { allowed: ['*'], actions: ['sync'] }, mute_time_intervals: ['nights'] })?.id).toBe(
      before?.id,
    );
    // Matchers are a set, in canonical form.
    const two = (m: string[]) => compile({ receiver: 'default', routes: [{ matchers: m, receiver: 'x' }] }).routes[0]?.id;
    expect(two(['a="1"', 'b=~"2|3"'])).toBe(two(['b=~"2|3"', 'a=1']));
  });

  it('is the name when named: edits and moves keep it', () => {
    const named = { ...prod, name: 'prod' };
    const before = compile({ receiver: 'default', routes: [named, staging] }).routes[0];
    expect(before?.id).toBe('name:prod');
    expect(before?.path).toBe('route.routes[0] (prod)');
    const moved = compile({
      receiver: 'default',
      routes: [staging, { ...staging, matchers: ['cluster="dev"'], routes: [{ ...named, matchers: ['cluster=~"prod|prod-eu"'], receiver: 'chat' }] }],
    });
    expect(moved.routes[1]?.routes[0]?.id).toBe('name:prod');
    // Its unnamed child's content identity hangs off the name, so it survives the move too.
    expect(moved.routes[1]?.routes[0]?.routes[0]?.id).toBe(before?.routes[0]?.id);
  });

  it('tells identical siblings apart, and refuses a name used twice', () => {
    const root = compile({ receiver: 'default', routes: [staging, { ...staging, continue: true }, staging] });
    const [a, b, c] = root.routes.map((r) => r.id);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(b).toBe(`${a}-2`);
    expect(() =>
      compile({
        receiver: 'default',
        routes: [
          { ...staging, name: 'x' },
          { ...prod, name: 'x' },
        ],
      }),
    ).toThrow(/used twice/);
  });
});

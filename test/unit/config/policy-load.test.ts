import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classify } from '../../../src/classify/classify.ts';
import { formatPolicyError, loadPolicyText, type LoadedPolicy } from '../../../src/config/load.ts';
import type { ResourceState, Signal } from '../../../src/model/signal.ts';

const EXAMPLE = readFileSync(new URL('../../../config/policy.example.yaml', import.meta.url), 'utf8');

function load(text: string): LoadedPolicy {
  const result = loadPolicyText(text, 'p.yaml');
  if (!result.ok) throw new Error(result.errors.map(formatPolicyError).join('\n'));
  return result.policy;
}

function errorsOf(text: string): string[] {
  const result = loadPolicyText(text, 'p.yaml');
  if (result.ok) throw new Error('expected errors');
  return result.errors.map(formatPolicyError);
}

const MINIMAL = `
receivers:
  - name: log
    console: {}
route:
  receiver: log
`;

function signal(resources: Array<Partial<ResourceState> & { kind: string }>, over: Partial<Signal> = {}): Signal {
  return {
    source: 'argocd-webhook',
    cluster: 'prod-eu-1',
    owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
    project: 'mesh',
    destination: { namespace: 'payments' },
    labels: { team: 'payments' },
    observedAt: 0,
    completeness: 'snapshot',
    resources: resources.map((r) => ({ group: '', namespace: 'payments', name: 'x', state: 'Modified', ...r })),
    ...over,
  };
}

describe('loading the policy file', () => {
  it('loads the shipped example and summarises it', () => {
    const policy = load(EXAMPLE);
    expect(policy.summary).toEqual({ rules: 5, receivers: 5, routes: 5 });
    expect(policy.classify.route.groupWaitMs).toBe(30_000);
    expect(policy.classify.route.routes[2]?.groupWaitMs).toBe(120_000);
    expect(policy.classify.route.routes[2]?.repeatIntervalMs).toBe(4 * 3_600_000);
  });

  it.each([
    ['unknown top-level key', `${MINIMAL}silences: []\n`, 'p.yaml:7:1: silences: unknown key'],
    [
      'unknown key in a rule match',
      `${MINIMAL}rules:\n  - match:\n      namespcae: x\n    ignore: true\n`,
      'p.yaml:9:7: rules[0].match.namespcae: unknown key',
    ],
    ['bad severity', `${MINIMAL}rules:\n  - set:\n      severity: urgent\n`, 'p.yaml:9:17: rules[0].set.severity:'],
    ['bad state', `${MINIMAL}rules:\n  - match: { state: Drifted }\n    ignore: true\n`, 'p.yaml:8:21: rules[0].match.state:'],
    ['rule without effect', `${MINIMAL}rules:\n  - match: { kind: X }\n`, 'p.yaml:8:5: rules[0]: a rule needs `set`'],
    ['undefined receiver', `${MINIMAL}  routes:\n    - receiver: pager\n`, 'p.yaml:8:17: route.routes[0].receiver: undefined receiver "pager"'],
    ['bad duration', `${MINIMAL}  group_wait: soon\n`, 'p.yaml:7:15: route.group_wait: "soon" is not a duration'],
    [
      'bad matcher',
      `${MINIMAL}  routes:\n    - matchers: ['severity critical']\n`,
      'p.yaml:8:19: route.routes[0].matchers[0]: "severity critical" is not a matcher (col 1 of the matcher); write name=value',
    ],
    ['bad regex', `${MINIMAL}  routes:\n    - matchers: ['name=~"("']\n`, 'p.yaml:8:18: route.routes[0].matchers[0]: invalid regular expression'],
    [
      'receiver with two types',
      `receivers:\n  - name: x\n    console: {}\n    alertmanager: { url: "http://am:9093" }\nroute:\n  receiver: x\n`,
      'p.yaml:2:5: receivers[0]: receiver "x" needs exactly one type',
    ],
    [
      'duplicate receiver',
      `${MINIMAL.replace('receivers:', 'receivers:\n  - name: log\n    console: {}')}`,
      'p.yaml:5:11: receivers[1].name: receiver "log" is defined twice',
    ],
    ['root without receiver', `receivers:\n  - name: log\n    console: {}\nroute: {}\n`, 'p.yaml:4:8: route: the root route needs a `receiver`'],
    [
      'secret key in the file',
      `receivers:\n  - name: pd\n    pagerduty: { routing_key: abc }\nroute: { receiver: pd }\n`,
      'p.yaml:3:18: receivers[0].pagerduty.routing_key: unknown key',
    ],
    ['YAML syntax', 'receivers: [\n', 'p.yaml:2:1: YAML:'],
    ['empty file', '', 'p.yaml:1:1: the policy file is empty'],
    [
      'remediation without its API',
      `receivers:\n  - name: fix\n    remediate: { action: argocd-sync }\nroute: { receiver: fix }\n`,
      'p.yaml:3:16: receivers[0].remediate.argocd: argocd-sync needs `argocd: { url, token_env }`',
    ],
    [
      'bad escalation severity',
      `receivers:\n  - name: fix\n    remediate: { action: argocd-sync, flap: { escalate_severity: urgent }, argocd: { url: "https://argocd.example.com", token_env: T } }\nroute: { receiver: fix }\n`,
      'p.yaml:3:66: receivers[0].remediate.flap.escalate_severity: Invalid option: expected one of "critical"|"high"|"medium"|"low"|"info"',
    ],
    [
      'undefined time interval',
      `${MINIMAL}  routes:\n    - receiver: log\n      mute_time_intervals: [nights]\n`,
      'p.yaml:9:29: route.routes[0].mute_time_intervals[0]: undefined time interval "nights"',
    ],
    [
      'mute on the root',
      `${MINIMAL}  mute_time_intervals: [n]\ntime_intervals:\n  - name: n\n    time_intervals: [{ weekdays: [monday] }]\n`,
      'p.yaml:7:24: route.mute_time_intervals: not allowed on the root route',
    ],
    [
      'bad inhibit matcher',
      `${MINIMAL}inhibit_rules:\n  - source_matchers: ['severity critical']\n    target_matchers: ['a=b']\n`,
      'p.yaml:8:24: inhibit_rules[0].source_matchers[0]: "severity critical" is not a matcher',
    ],
    [
      'duplicate route name',
      `${MINIMAL}  routes:\n    - { name: a, receiver: log }\n    - { name: a, receiver: log, continue: true }\n`,
      'p.yaml:9:15: route.routes[1].name: route name "a" is used twice (first at route.routes[0])',
    ],
    ['bad route name', `${MINIMAL}  routes:\n    - { name: "a b", receiver: log }\n`, 'p.yaml:8:15: route.routes[0].name: a route name is 1-63 letters'],
    ['name on the root', `${MINIMAL}  name: top\n`, 'p.yaml:7:9: route.name: the root route is always `route`'],
    [
      'bad weekday',
      `${MINIMAL}time_intervals:\n  - name: n\n    time_intervals: [{ weekdays: [funday] }]\n`,
      'p.yaml:9:35: time_intervals[0].time_intervals[0].weekdays[0]:',
    ],
  ])('%s → %s', (_what, text, expected) => {
    const errors = errorsOf(text);
    expect(
      errors.some((e) => e.startsWith(expected)),
      errors.join('\n'),
    ).toBe(true);
  });

  it('reports every error at once', () => {
    const errors = errorsOf(`receivers:\n  - name: log\n    console: {}\nroute:\n  receiver: nope\n  routes:\n    - receiver: nada\n`);
    expect(errors).toHaveLength(2);
  });

  it('requires the env vars receivers name, only when asked to (serve, not validate)', () => {
    const text = `receivers:\n  - name: pd\n    pagerduty: { routing_key_env: PD_KEY }\nroute: { receiver: pd }\n`;
    expect(loadPolicyText(text, 'p.yaml').ok).toBe(true);
    const result = loadPolicyText(text, 'p.yaml', { env: {} });
    expect(result.ok ? [] : result.errors.map(formatPolicyError)).toEqual([
      'p.yaml:2:5: receivers[0]: receiver "pd" (pagerduty) needs the environment variable PD_KEY, which is not set',
    ]);
    expect(loadPolicyText(text, 'p.yaml', { env: { PD_KEY: 'k' } }).ok).toBe(true);
  });
});

describe('every layer in one run (issue #19)', () => {
  // 3 schema mistakes and 4 cross-reference ones: reported together, in file order, each naming where.
  const SEVEN = `reciever_defaults: {}
receivers:
  - name: log
    console: {}
  - name: chat
    slack: {}
  - name: log
    console: {}
route:
  receiver: log
  group_wait: later
  routes:
    - receiver: nope
      mute_time_intervals: [nights]
    - receiver: log
      matchers: ['team=~"(("']
`;

  it('reports the schema errors and the cross-reference errors of one file together', () => {
    const errors = errorsOf(SEVEN);
    expect(errors).toHaveLength(7);
    expect(errors[0]).toBe('p.yaml:1:1: reciever_defaults: unknown key (check the spelling; see config/policy.example.yaml)');
    expect(errors[1]).toMatch(/^p\.yaml:6:12: receivers\[1\]\.slack\.channel: is required: the channel to post to .* \(receiver "chat"\)$/);
    expect(errors[2]).toBe('p.yaml:7:11: receivers[2].name: receiver "log" is defined twice (first at receivers[0])');
    expect(errors[3]).toMatch(/^p\.yaml:11:15: route\.group_wait: "later" is not a duration/);
    expect(errors[4]).toBe('p.yaml:13:17: route.routes[0].receiver: undefined receiver "nope" (define it under receivers)');
    expect(errors[5]).toBe('p.yaml:14:29: route.routes[0].mute_time_intervals[0]: undefined time interval "nights" (define it under time_intervals)');
    expect(errors[6]).toMatch(/^p\.yaml:16:18: route\.routes\[1\]\.matchers\[0\]: invalid regular expression in team=~"\(\("/);
  });

  it('a value of the wrong shape is reported once, by the schema (the references skip it)', () => {
    expect(errorsOf(`receivers: [{ name: log, console: {} }]\nroute: { receiver: log, routes: [{ receiver: 5 }, 'x'] }\n`)).toEqual([
      expect.stringMatching(/^p\.yaml:2:\d+: route\.routes\[0\]\.receiver: /),
      expect.stringMatching(/^p\.yaml:2:\d+: route\.routes\[1\]: /),
    ]);
  });
});

describe('rules and routes through classify', () => {
  const policy = load(EXAMPLE).classify;
  const one = (r: Array<Partial<ResourceState> & { kind: string }>, over: Partial<Signal> = {}) => classify(signal(r, over), policy);

  it.each([
    ['prod AuthorizationPolicy Modified', { group: 'security.istio.io', kind: 'AuthorizationPolicy' }, {}, 'critical', ['oncall', 'mesh-drift-channel']],
    ['prod VirtualService', { group: 'networking.istio.io', kind: 'VirtualService' }, {}, 'high', ['mesh-drift-channel']],
    ['staging AuthorizationPolicy', { group: 'security.istio.io', kind: 'AuthorizationPolicy' }, { cluster: 'staging-1' }, 'medium', ['mesh-drift-channel']],
    ['Telemetry is a ticket', { group: 'telemetry.istio.io', kind: 'Telemetry' }, {}, 'low', ['tickets']],
    ['non-mesh override', { group: 'apps', kind: 'Deployment' }, {}, 'info', ['mesh-drift-channel']],
    [
      'prod PeerAuthentication Extraneous keeps the default',
      { group: 'security.istio.io', kind: 'PeerAuthentication', state: 'Extraneous' as const },
      {},
      'high',
      ['mesh-drift-channel'],
    ],
  ])('%s', (_what, resource, over, severity, receivers) => {
    const [finding] = one([resource], over);
    expect(finding?.severity).toBe(severity);
    expect(finding?.receivers).toEqual(receivers);
  });

  it('ignore drops the resource', () => {
    expect(one([{ group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'sandbox-42' }])).toEqual([]);
  });

  it('continue lets later rules act; labels from rules reach routes; reasons say which rule', () => {
    const [finding] = one([{ group: 'telemetry.istio.io', kind: 'Telemetry' }]);
    expect(finding?.labels).toEqual({ paged_team: 'owned', ticket: 'yes' });
    expect(finding?.reasons).toEqual(
      expect.arrayContaining([
        'rules[1] (team-label) set labels paged_team=owned',
        'rules[4] (telemetry-is-a-ticket) set severity low',
        'route.routes[1] → receiver tickets',
      ]),
    );
  });

  it('without continue the first matching rule decides', () => {
    // prod + security matches rule 2 (critical) and stops, though a later rule could match too.
    const withStaging = load(
      `${MINIMAL}rules:\n  - match: { kind: X }\n    set: { severity: low }\n  - match: { kind: X }\n    set: { severity: critical }\n`,
    ).classify;
    expect(classify(signal([{ kind: 'X' }]), withStaging)[0]?.severity).toBe('low');
  });

  it('the severity matrix override applies before rules', () => {
    const p = load(`${MINIMAL}severity:\n  traffic: { Modified: critical }\n`).classify;
    expect(classify(signal([{ group: 'networking.istio.io', kind: 'VirtualService' }]), p)[0]?.severity).toBe('critical');
    expect(classify(signal([{ group: 'networking.istio.io', kind: 'VirtualService', state: 'Missing' }]), p)[0]?.severity).toBe('high');
  });
});

describe('remediate escalate_to (issue #22)', () => {
  const policy = (to: string): string => `receivers:
  - { name: log, console: {} }
  - name: auto
    remediate:
      action: argocd-sync
      argocd: { url: "https://argocd.example.com", token_env: T }
      escalate_to: [${to}]
route:
  receiver: log
`;
  it('names receivers that tell people: defined, not remediate ones', () => {
    expect(loadPolicyText(policy('log'), 'p.yaml').ok).toBe(true);
    expect(errorsOf(policy('pager')).join('\n')).toMatch(
      /receivers\[1\]\.remediate\.escalate_to\[0\].*undefined receiver "pager" \(define it under receivers\)/,
    );
    expect(errorsOf(policy('auto')).join('\n')).toMatch(/receiver "auto" is a remediate receiver: escalate to one that tells people/);
  });
});

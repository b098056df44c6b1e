// Classification figures (issue #3): resource evaluations per second against a 100-rule policy on
// one core, for the rule engine alone and for the whole classify() (catalog, rules, routing,
// fingerprint). Printed, never asserted.
import { classify } from '../src/classify/classify.ts';
import { evaluateRules, type RuleSubject } from '../src/classify/rules.ts';
import { formatPolicyError, loadPolicyText } from '../src/config/load.ts';
import type { Signal } from '../src/model/signal.ts';

const KINDS = [
  ['networking.istio.io', 'VirtualService'],
  ['networking.istio.io', 'DestinationRule'],
  ['security.istio.io', 'AuthorizationPolicy'],
  ['security.istio.io', 'PeerAuthentication'],
  ['telemetry.istio.io', 'Telemetry'],
  ['gateway.networking.k8s.io', 'HTTPRoute'],
  ['apps', 'Deployment'],
  ['', 'Service'],
  ['policy.linkerd.io', 'Server'],
  ['networking.istio.io', 'ServiceEntry'],
] as const;

/** 100 rules of the shapes real policies have: globs on namespaces and clusters, kind lists, labels. */
function policyYaml(): string {
  const rules: string[] = [];
  for (let i = 0; i < 100; i++) {
    const kind = KINDS[i % KINDS.length]?.[1] ?? 'X';
    switch (i % 5) {
      case 0:
        rules.push(`  - match: { namespace: "team-${i}-*", kind: ${kind} }\n    set: { severity: high }`);
        break;
      case 1:
        rules.push(`  - match: { cluster: "edge-${i}-*", category: security }\n    set: { severity: critical, labels: { edge: "yes" } }`);
        break;
      case 2:
        rules.push(`  - match: { owner: ["app-${i}", "app-${i}-canary"], state: [Modified, Missing] }\n    set: { severity: medium }`);
        break;
      case 3:
        rules.push(`  - match: { labels: { team: "t${i}" }, mesh: istio }\n    set: { labels: { team_rule: "${i}" } }\n    continue: true`);
        break;
      default:
        rules.push(`  - match: { namespace: "sandbox-${i}", name: "*-tmp" }\n    ignore: true`);
    }
  }
  return `rules:\n${rules.join('\n')}\nreceivers:\n  - { name: log, console: {} }\n  - { name: pager, console: {} }\nroute:\n  receiver: log\n  routes:\n    - { matchers: ['severity="critical"'], receiver: pager, continue: true }\n    - { matchers: ['edge="yes"'], receiver: pager }\n    - { matchers: ['namespace=~"team-.*"'], receiver: log }\n`;
}

function signals(count: number, perSignal: number): Signal[] {
  return Array.from({ length: count }, (_, s) => ({
    source: 'argocd-webhook' as const,
    cluster: `prod-${s % 7}`,
    owner: { kind: 'Application', namespace: 'argocd', name: `app-${s}` },
    project: 'default',
    destination: { namespace: `team-${s % 50}-ns` },
    labels: { team: `t${s % 100}` },
    observedAt: 0,
    completeness: 'snapshot' as const,
    resources: Array.from({ length: perSignal }, (_, r) => {
      const [group, kind] = KINDS[(s + r) % KINDS.length] ?? ['', 'X'];
      return { group, kind, namespace: `team-${(s + r) % 200}-ns`, name: `res-${r}`, state: r % 3 === 0 ? ('Missing' as const) : ('Modified' as const) };
    }),
  }));
}

const loaded = loadPolicyText(policyYaml(), 'bench-policy.yaml');
if (!loaded.ok) throw new Error(loaded.errors.map(formatPolicyError).join('\n'));
const policy = loaded.policy.classify;
const input = signals(1000, 100);

// Rule engine alone: the same subjects classify() builds.
const subjects: RuleSubject[] = input.flatMap((s) =>
  s.resources.map((r) => ({
    cluster: s.cluster,
    source: 'argocd',
    project: s.project,
    owner: s.owner.name,
    owner_namespace: s.owner.namespace,
    owner_kind: s.owner.kind,
    destination_namespace: s.destination.namespace ?? '',
    group: r.group,
    kind: r.kind,
    namespace: r.namespace,
    name: r.name,
    category: 'traffic',
    mesh: 'istio',
    state: r.state,
    labels: s.labels ?? {},
  })),
);
let sink = 0;
for (let i = 0; i < 2; i++) for (const subject of subjects) sink += evaluateRules(policy.rules, subject, 'high').reasons.length; // warm-up
const rounds = 5;
let started = performance.now();
for (let i = 0; i < rounds; i++) for (const subject of subjects) sink += evaluateRules(policy.rules, subject, 'high').reasons.length;
const rulesPerSec = (subjects.length * rounds) / ((performance.now() - started) / 1000);

for (const s of input.slice(0, 200)) sink += classify(s, policy).length; // warm-up
started = performance.now();
let findings = 0;
for (const s of input) findings += classify(s, policy).length;
const classifyPerSec = (input.length * 100) / ((performance.now() - started) / 1000);

process.stdout.write(`classification (100-rule policy, 3 routes, node ${process.version}, one core)\n`);
process.stdout.write(
  `  rule evaluation alone        ${Math.round(rulesPerSec).toLocaleString('en-US')} resource evaluations/s (${(subjects.length * rounds).toLocaleString('en-US')} evaluations)\n`,
);
process.stdout.write(
  `  classify() end to end        ${Math.round(classifyPerSec).toLocaleString('en-US')} resources/s (catalog, rules, routing, SHA-256 fingerprint; ${findings.toLocaleString('en-US')} findings)\n`,
);
if (sink < 0) process.stdout.write('');

// The index cannot help a policy whose rules pin nothing exactly: report that worst case too.
const globOnly = loadPolicyText(
  `rules:\n${Array.from({ length: 100 }, (_, i) => `  - match: { namespace: "team-${i}-*", cluster: "prod-*" }\n    set: { severity: low }`).join('\n')}\nreceivers: [{ name: log, console: {} }]\nroute: { receiver: log }\n`,
  'glob-only.yaml',
);
if (!globOnly.ok) throw new Error(globOnly.errors.map(formatPolicyError).join('\n'));
const globRules = globOnly.policy.classify.rules;
const missAll = subjects.map((s) => ({ ...s, namespace: `other-${s.namespace}` }));
started = performance.now();
for (const subject of missAll) sink += evaluateRules(globRules, subject, 'high').reasons.length;
const worstPerSec = missAll.length / ((performance.now() - started) / 1000);
process.stdout.write(
  `  worst case (100 glob-only rules, none matching, no index)  ${Math.round(worstPerSec).toLocaleString('en-US')} resource evaluations/s\n`,
);

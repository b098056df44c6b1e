// Checks the alert rules beyond what promtool does, and keeps deploy/prometheus/prometheusrule.yaml (Prometheus Operator CRD) identical to
// deploy/prometheus/rules.yaml (plain rule file, the one promtool checks and tests).
//   node test/deploy/check-rules.mjs           check: spec.groups == rules.yaml; every alert has a
//                                              severity, summary and description, and promtool tests
//                                              where it fires and where it does not
//   node test/deploy/check-rules.mjs --write   regenerate prometheusrule.yaml from rules.yaml
//   node test/deploy/check-rules.mjs --extract FILE   write the CRD's spec as a plain rule file (for promtool)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
const rulesFile = `${root}deploy/prometheus/rules.yaml`;
const crdFile = `${root}deploy/prometheus/prometheusrule.yaml`;

const HEADER = `# GENERATED from rules.yaml by \`node test/deploy/check-rules.mjs --write\`: edit rules.yaml, not this.
# The meshdrift alerts for the Prometheus Operator. kube-prometheus-stack only loads PrometheusRules
# that match its ruleSelector: typically add the label \`release: <your release>\` (../kubernetes/README.md).
`;

export function renderCrd(groups) {
  const crd = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'meshdrift',
      namespace: 'meshdrift',
      labels: { 'app.kubernetes.io/name': 'meshdrift', 'app.kubernetes.io/part-of': 'meshdrift' },
    },
    spec: { groups },
  };
  return HEADER + stringify(crd, { lineWidth: 0 });
}

const rules = parse(readFileSync(rulesFile, 'utf8'));
if (!rules || !Array.isArray(rules.groups)) {
  console.error(`${rulesFile}: no groups`);
  process.exit(1);
}
if (process.argv.includes('--write')) {
  writeFileSync(crdFile, renderCrd(rules.groups));
  console.log(`wrote ${crdFile} (${rules.groups.length} groups)`);
  process.exit(0);
}
let crd;
try {
  crd = parse(readFileSync(crdFile, 'utf8'));
} catch (err) {
  console.error(`${crdFile}: ${err.message}`);
  process.exit(1);
}
const extract = process.argv.indexOf('--extract');
if (extract > 0) {
  writeFileSync(process.argv[extract + 1], stringify({ groups: crd?.spec?.groups ?? [] }, { lineWidth: 0 }));
  process.exit(0);
}
const problems = [];
if (crd?.apiVersion !== 'monitoring.coreos.com/v1' || crd?.kind !== 'PrometheusRule')
  problems.push('prometheusrule.yaml is not a monitoring.coreos.com/v1 PrometheusRule');
if (!isDeepStrictEqual(crd?.spec?.groups, rules.groups))
  problems.push('prometheusrule.yaml spec.groups differs from rules.yaml; run: node test/deploy/check-rules.mjs --write');
const alerts = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert));
const names = new Set();
for (const a of alerts) {
  if (names.has(a.alert)) problems.push(`alert ${a.alert} is defined twice`);
  names.add(a.alert);
  if (!['critical', 'warning', 'info'].includes(a.labels?.severity)) problems.push(`alert ${a.alert}: labels.severity must be critical, warning or info`);
  for (const k of ['summary', 'description']) if (!a.annotations?.[k]) problems.push(`alert ${a.alert}: annotations.${k} is missing`);
}

// Coverage of the promtool tests: each alert fires in some case and stays silent in another.
const testsDir = `${root}deploy/prometheus/tests`;
const fires = new Map();
const silent = new Map();
let cases = 0;
for (const f of readdirSync(testsDir).filter((n) => /\.ya?ml$/.test(n))) {
  const doc = parse(readFileSync(`${testsDir}/${f}`, 'utf8'));
  if (!(doc.rule_files ?? []).some((r) => r.endsWith('rules.yaml'))) problems.push(`tests/${f} does not load ../rules.yaml`);
  for (const t of doc.tests ?? []) {
    for (const c of t.alert_rule_test ?? []) {
      cases++;
      if (!names.has(c.alertname)) problems.push(`tests/${f} "${t.name}": no alert named ${c.alertname}`);
      const m = (c.exp_alerts ?? []).length > 0 ? fires : silent;
      m.set(c.alertname, (m.get(c.alertname) ?? 0) + 1);
    }
  }
}
for (const n of names) {
  if (!fires.has(n)) problems.push(`alert ${n}: no promtool test case where it fires`);
  if (!silent.has(n)) problems.push(`alert ${n}: no promtool test case where it must not fire`);
}
if (problems.length > 0) {
  for (const p of problems) console.error(`FAIL rules: ${p}`);
  process.exit(1);
}
console.log(`ok   prometheusrule.yaml spec.groups == rules.yaml (${rules.groups.length} groups, ${alerts.length} alerts)`);
console.log(`ok   every alert (${alerts.length}) has severity, summary, description, and test cases where it fires and where it does not (${cases} cases)`);

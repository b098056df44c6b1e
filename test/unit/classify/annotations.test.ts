import { describe, expect, it } from 'vitest';
import {
  MAX_ANNOTATION_VALUE,
  MAX_ANNOTATIONS,
  parseAnnotationTemplate,
  renderAnnotations,
  renderAnnotationTemplate,
  RUNBOOK_DROPPED,
  compileAnnotations,
} from '../../../src/classify/annotations.ts';
import { classify } from '../../../src/classify/classify.ts';
import { formatPolicyError, loadPolicyText } from '../../../src/config/load.ts';
import { signalSchema, type Signal } from '../../../src/model/signal.ts';

// Issue #19: per-rule annotations, templated over the finding's labels, safely.

const template = (s: string, url = false) => {
  const p = parseAnnotationTemplate(s, url);
  if (!p.ok) throw new Error(p.error);
  return p.template;
};

describe('annotation templates', () => {
  it('puts label values in for {{ .labels.NAME }}, with or without spaces; an absent label is empty', () => {
    const t = template('{{ .labels.kind }} {{.labels.name}} in {{  .labels.namespace  }}: {{ .labels.team }}!');
    expect(renderAnnotationTemplate(t, { kind: 'VirtualService', name: 'reviews', namespace: 'shop' })).toBe('VirtualService reviews in shop: !');
    expect(renderAnnotationTemplate(template('plain text, } and { alone'), {})).toBe('plain text, } and { alone');
  });

  it('a label value is inserted as text, never evaluated again', () => {
    const t = template('x={{ .labels.name }}');
    expect(renderAnnotationTemplate(t, { name: '{{ .labels.secret }}', secret: 'S' })).toBe('x={{ .labels.secret }}');
    // Not an own label: the prototype is not a label set.
    expect(renderAnnotationTemplate(template('{{ .labels.constructor }}'), {})).toBe('');
  });

  it.each([
    ['an unclosed placeholder', 'a {{ .labels.kind', /not closed/],
    ['a function call', '{{ .labels.kind | upper }}', /only \{\{ \.labels\.NAME \}\}/],
    ['Go template actions', '{{ range .alerts }}x{{ end }}', /only/],
    ['a bare name', '{{ kind }}', /only/],
    ['an index expression', '{{ .labels["kind"] }}', /only/],
    ['too many placeholders', '{{ .labels.a }}'.repeat(21), /at most 20/],
  ])('refuses %s', (_name, source, error) => {
    const p = parseAnnotationTemplate(source);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.error).toMatch(error);
  });

  it('runbook_url: a literal http(s) scheme and host first; label values URL-encoded', () => {
    for (const bad of ['{{ .labels.url }}', 'javascript:alert(1)', 'ftp://x/y', 'https://{{ .labels.host }}/x', '//host/x', 'runbooks/{{ .labels.kind }}'])
      expect(parseAnnotationTemplate(bad, true).ok).toBe(false);
    const t = template('https://runbooks.example.com/mesh/{{ .labels.kind }}?ns={{ .labels.namespace }}', true);
    const { annotations, dropped } = renderAnnotations({ runbook_url: t }, { kind: 'Virtual Service/../x', namespace: 'a&b=c#d' });
    expect(dropped).toEqual([]);
    expect(annotations.runbook_url).toBe('https://runbooks.example.com/mesh/Virtual%20Service%2F..%2Fx?ns=a%26b%3Dc%23d');
    expect(new URL(annotations.runbook_url ?? '').pathname).toBe('/mesh/Virtual%20Service%2F..%2Fx');
  });

  it('a runbook_url too long once rendered is dropped with a reason; other values are cut', () => {
    const t = template('https://runbooks.example.com/{{ .labels.name }}', true);
    const long = 'n'.repeat(MAX_ANNOTATION_VALUE + 10);
    const out = renderAnnotations({ runbook_url: t, summary: template('{{ .labels.name }}') }, { name: long });
    expect(out.annotations.runbook_url).toBeUndefined();
    expect(out.dropped).toEqual([`${RUNBOOK_DROPPED}: longer than ${MAX_ANNOTATION_VALUE - 1} characters`]);
    expect(out.annotations.summary).toHaveLength(MAX_ANNOTATION_VALUE);
    expect(out.annotations.summary?.endsWith('…')).toBe(true);
  });

  it('keeps at most 16 annotations however many rules add', () => {
    const many = compileAnnotations(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'])));
    expect(Object.keys(renderAnnotations(many, {}).annotations)).toHaveLength(MAX_ANNOTATIONS);
  });
});

const POLICY = (annotations: string, extra = '') => `
rules:
  - name: authz
    match: { kind: AuthorizationPolicy }
    set: { severity: critical, labels: { team: payments } }
    annotations:
${annotations}
${extra}
receivers:
  - name: console
    console: {}
route: { receiver: console }
`;

describe('annotations in the policy file', () => {
  it('validate reports every bad template and unknown label with its place, in one run', () => {
    const result = loadPolicyText(
      POLICY(`      summary: "{{ .labels.kind | upper }}"
      runbook_url: "{{ .labels.url }}"
      description: "{{ .labels.nosuch }} and {{ .labels.team }} and {{ .labels.owner }}"
      "bad-key": x`),
      'policy.yaml',
    );
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors.map(formatPolicyError);
    expect(errors.some((e) => /rules\[0\]\.annotations\.summary: .*only \{\{ \.labels\.NAME \}\}/.test(e))).toBe(true);
    expect(errors.some((e) => /rules\[0\]\.annotations\.runbook_url: must start with http/.test(e))).toBe(true);
    expect(errors.some((e) => /annotation names are letters/.test(e))).toBe(true);
    expect(errors.every((e) => /^policy\.yaml:\d+:\d+: /.test(e))).toBe(true);
  });

  it('a label no finding can have is refused; one a rule sets, or a built-in one, is fine', () => {
    const bad = loadPolicyText(POLICY('      description: "{{ .labels.nosuch }}"'), 'p.yaml');
    expect(bad.ok ? [] : bad.errors.map(formatPolicyError)).toEqual([expect.stringMatching(/rules\[0\]\.annotations\.description: unknown label "nosuch"/)]);
    expect(loadPolicyText(POLICY('      description: "{{ .labels.team }} {{ .labels.cluster }}"'), 'p.yaml').ok).toBe(true);
  });

  it('at most 16 annotation names in all rules together (continue could merge more onto one finding)', () => {
    const rule = (from: number) =>
      `  - match: {}\n    continue: true\n    annotations: { ${Array.from({ length: 9 }, (_, i) => `k${from + i}: v`).join(', ')} }\n`;
    const text = (second: number) => `rules:\n${rule(0)}${rule(second)}receivers: [{ name: c, console: {} }]\nroute: { receiver: c }\n`;
    const bad = loadPolicyText(text(9), 'p.yaml');
    expect(bad.ok ? [] : bad.errors.map(formatPolicyError)).toEqual([
      expect.stringMatching(/rules: at most 16 annotation names in all rules together \(got 18\)/),
    ]);
    expect(loadPolicyText(text(2), 'p.yaml').ok).toBe(true);
  });

  it('a rule may set only annotations', () => {
    const only = loadPolicyText(
      `rules:\n  - match: { mesh: istio }\n    annotations: { team: mesh }\nreceivers: [{ name: c, console: {} }]\nroute: { receiver: c }\n`,
      'p.yaml',
    );
    expect(only.ok).toBe(true);
  });

  it('classify renders them on the finding, merged over continue rules, with the reason', () => {
    const loaded = loadPolicyText(
      POLICY(
        `      summary: "{{ .labels.kind }} {{ .labels.namespace }}/{{ .labels.name }} drifted ({{ .labels.team }})"
      runbook_url: "https://runbooks.example.com/istio/{{ .labels.kind }}"
      team: "{{ .labels.team }}"
      dashboard: "https://grafana.example.com/d/mesh?var-ns={{ .labels.namespace }}"`,
        '  - match: { namespace: payments }\n    annotations: { team: "payments-oncall" }',
      ).replace('    set: { severity: critical', '    continue: true\n    set: { severity: critical'),
      'p.yaml',
    );
    if (!loaded.ok) throw new Error(loaded.errors.map(formatPolicyError).join('\n'));
    const signal: Signal = signalSchema.parse({
      source: 'argocd-webhook',
      cluster: 'prod-eu',
      owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
      observedAt: 1,
      completeness: 'partial',
      resources: [{ group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'payments', name: 'allow <!here>', state: 'Modified' }],
    });
    const [f] = classify(signal, loaded.policy.classify);
    expect(f?.annotations).toEqual({
      summary: 'AuthorizationPolicy payments/allow <!here> drifted (payments)',
      runbook_url: 'https://runbooks.example.com/istio/AuthorizationPolicy',
      team: 'payments-oncall',
      dashboard: 'https://grafana.example.com/d/mesh?var-ns=payments',
    });
    expect(f?.reasons).toContain('rules[0] (authz) set annotations summary, runbook_url, team, dashboard');
    expect(f?.reasons).toContain('rules[1] set annotations team');
  });
});

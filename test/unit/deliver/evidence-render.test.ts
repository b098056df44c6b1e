import { describe, expect, it } from 'vitest';
import { renderAlertmanagerAlerts } from '../../../src/deliver/alertmanager/notifier.ts';
import { renderConsoleLine } from '../../../src/deliver/console/notifier.ts';
import { attributionText, changeText, utcShort } from '../../../src/deliver/evidence.ts';
import { PAGERDUTY_LIMITS, renderPagerDutyEvent } from '../../../src/deliver/pagerduty/render.ts';
import type { SlackBlock } from '../../../src/deliver/slack/blocks.ts';
import { renderSlackMessage, SLACK_LIMITS } from '../../../src/deliver/slack/render.ts';
import { renderWebhookPayload } from '../../../src/deliver/webhook/notifier.ts';
import type { Notification, TrackedFinding } from '../../../src/model/alert-group.ts';
import { MAX_CHANGE_VALUE, MAX_CHANGES, type Attribution, type ChangeList } from '../../../src/model/forensics.ts';

// Rendering of a finding's evidence (issue #16): what changed, who and when, links, kind with group.

const T0 = Date.UTC(2026, 11, 4, 14, 3, 7);
const SHA = '3f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a098';
const LINKS = { argocdUrl: 'https://argocd.example.com' };

const changes: ChangeList = {
  source: 'snapshot',
  changes: [
    { path: 'spec.http[0].route[1].weight', before: '80', after: '50' },
    { path: 'spec.http[0].headers.request.set.authorization', before: 'MASKED', after: 'MASKED', masked: true },
    { path: 'spec.http[0].timeout', after: '"1s"' },
  ],
};
const tool: Attribution = { kind: 'tool', who: 'kubectl-edit', operation: 'Update', at: T0, source: 'managedFields', paths: ['spec.http[0].route[1].weight'] };
const person: Attribution = { kind: 'person', who: 'alice@corp.example', via: 'kubectl-edit', operation: 'UPDATE', at: T0 + 1000, source: 'admission' };

function finding(over: Partial<TrackedFinding> = {}): TrackedFinding {
  return {
    fingerprint: 'fp-vs',
    groupKey: 'g1',
    cluster: 'prod-eu',
    tool: 'argocd',
    owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
    project: 'payments',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'reviews' },
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    receivers: ['r'],
    reasons: ['test'],
    revision: SHA,
    repoURL: 'https://github.com/org/mesh-config',
    changes,
    attribution: [tool, person],
    observedAt: T0,
    firstSeen: T0,
    lastSeen: T0,
    status: 'firing',
    ...over,
  };
}

const istioAuthz = finding({
  fingerprint: 'fp-istio',
  resource: { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'payments', name: 'allow' },
  severity: 'critical',
  category: 'security',
  changes: { source: 'admission', changes: [{ path: 'spec.action', before: '"DENY"', after: '"ALLOW"' }] },
  attribution: [person],
});
const linkerdAuthz = finding({
  fingerprint: 'fp-linkerd',
  resource: { group: 'policy.linkerd.io', kind: 'AuthorizationPolicy', namespace: 'payments', name: 'allow' },
  mesh: 'linkerd',
  severity: 'critical',
  category: 'security',
  changes: undefined,
  attribution: undefined,
});

function notification(firing: TrackedFinding[], over: Partial<Notification> = {}): Notification {
  return {
    groupKey: 'g1',
    seq: 1,
    reason: 'first',
    status: 'firing',
    labels: { cluster: 'prod-eu', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: 'payments' }, project: 'payments' },
    severity: 'critical',
    firing,
    resolved: [],
    at: T0 + 60_000,
    firstSeen: T0,
    ...over,
  };
}

const slackText = (blocks: SlackBlock[]): string => JSON.stringify(blocks);
const sectionTexts = (blocks: SlackBlock[]): string[] =>
  blocks.flatMap((b) => (b.type === 'section' && 'text' in b ? [b.text.text] : b.type === 'section' && 'fields' in b ? b.fields.map((f) => f.text) : []));

describe('the shared words', () => {
  it('a change as path: before → after; added, removed and masked said so', () => {
    expect(changes.changes.map(changeText)).toEqual([
      'spec.http[0].route[1].weight: 80 → 50',
      'spec.http[0].headers.request.set.authorization: changed (value masked)',
      'spec.http[0].timeout: (unset) → "1s"',
    ]);
    expect(changeText({ path: 'spec.x', before: '1' })).toBe('spec.x: 1 → (removed)');
  });

  it('a person is named as one; a field manager is a tool, not a person; UTC to the second', () => {
    expect(utcShort(T0)).toBe('2026-12-04T14:03:07Z');
    expect(attributionText(person)).toBe('changed by alice@corp.example via kubectl-edit (UPDATE) at 2026-12-04T14:03:08Z');
    expect(attributionText(tool)).toBe('changed via kubectl-edit (Update) at 2026-12-04T14:03:07Z (field manager: a tool, not a person)');
  });
});

describe('Slack', () => {
  it('shows path, before → after, the masked change, who (person and tool), the Argo CD and commit links', () => {
    const { blocks } = renderSlackMessage(notification([finding()]), LINKS);
    const texts = sectionTexts(blocks).join('\n');
    expect(texts).toContain('VirtualService.networking.istio.io `payments/reviews`');
    expect(texts).toContain('◦ `spec.http[0].route[1].weight`: `80` → `50`');
    expect(texts).toContain('◦ `spec.http[0].headers.request.set.authorization`: _changed (value masked)_');
    expect(texts).toContain('◦ `spec.http[0].timeout`: _(unset)_ → `"1s"`');
    expect(texts).toContain(':wrench: changed via kubectl-edit (Update) at 2026-12-04T14:03:07Z (field manager: a tool, not a person)');
    expect(texts).toContain(':bust_in_silhouette: changed by alice@corp.example via kubectl-edit (UPDATE) at 2026-12-04T14:03:08Z');
    expect(texts).toContain('<https://argocd.example.com/applications/argocd/payments|open in Argo CD>');
    expect(texts).toContain(`<https://github.com/org/mesh-config/commit/${SHA}|3f1c2a9e8b7d> (commit)`);
    expect(slackText(blocks)).not.toContain('MASKED');
  });

  it('an Istio and a Linkerd AuthorizationPolicy do not look alike', () => {
    const texts = sectionTexts(renderSlackMessage(notification([istioAuthz, linkerdAuthz])).blocks).join('\n');
    expect(texts).toContain('AuthorizationPolicy.security.istio.io `payments/allow`');
    expect(texts).toContain('AuthorizationPolicy.policy.linkerd.io `payments/allow`');
  });

  it('a changed value can neither mention, link, format nor end its code span', () => {
    const evil = finding({
      changes: { source: 'snapshot', changes: [{ path: 'metadata.labels.x`y', before: '<!channel> & <https://evil.example|click>', after: '`*bold*` @here' }] },
      attribution: [{ kind: 'person', who: '<!here>*x*', source: 'admission' }],
    });
    const texts = sectionTexts(renderSlackMessage(notification([evil])).blocks).join('\n');
    expect(texts).not.toMatch(/<!channel>|<!here>|<https:\/\/evil/);
    expect(texts).toContain("`metadata.labels.x'y`");
    expect(texts).toContain('`&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;`');
    expect(texts).toContain("`'*bold*' @here`");
    expect(texts).toContain('changed by &lt;!here&gt;∗x∗');
  });

  it('a long change list ends with "and N more changes" (what the producer left out counted too)', () => {
    const many: ChangeList = {
      source: 'argocd-managed-resources',
      changes: Array.from({ length: MAX_CHANGES }, (_, i) => ({ path: `spec.http[${i}].route[0].weight`, before: '1', after: '2' })),
      omitted: 7,
    };
    const texts = sectionTexts(renderSlackMessage(notification([finding({ changes: many })])).blocks).join('\n');
    expect(texts.match(/◦ `spec\.http/g)).toHaveLength(5);
    expect(texts).toContain(`_and ${MAX_CHANGES - 5 + 7} more changes_`);
  });

  it('stays within Slack limits at the worst case: 50 findings of 20 maximal, fully escaped changes and 5 writers', () => {
    const worst: ChangeList = {
      source: 'snapshot',
      changes: Array.from({ length: MAX_CHANGES }, (_, i) => ({
        path: `${'&'.repeat(500)}${i}`,
        before: '<'.repeat(MAX_CHANGE_VALUE),
        after: '>'.repeat(MAX_CHANGE_VALUE),
      })),
    };
    const writers = Array.from({ length: 5 }, (): Attribution => ({ kind: 'person', who: '&'.repeat(256), via: '<'.repeat(256), source: 'admission', at: T0 }));
    const firing = Array.from({ length: 50 }, (_, i) =>
      finding({ fingerprint: `f${i}`, resource: { ...finding().resource, name: `vs-${i}` }, changes: worst, attribution: writers }),
    );
    const { text, blocks } = renderSlackMessage(notification(firing), LINKS);
    expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    expect(JSON.stringify(blocks).length + text.length).toBeLessThan(SLACK_LIMITS.message);
    for (const t of sectionTexts(blocks)) expect(t.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    expect(sectionTexts(blocks).join('\n')).toMatch(/…and \d+ more drifted resources/);
  });
});

describe('PagerDuty', () => {
  it('custom_details carry api, changes (masked without a value), changed_by (person and tool) and links', () => {
    const event = renderPagerDutyEvent(notification([finding()]), 'key', LINKS);
    const [detail] = event.payload.custom_details.firing;
    expect(detail).toMatchObject({
      api: 'VirtualService.networking.istio.io',
      revision: SHA,
      changes: {
        source: 'snapshot',
        omitted: 0,
        changes: [
          { path: 'spec.http[0].route[1].weight', before: '80', after: '50' },
          { path: 'spec.http[0].headers.request.set.authorization', masked: true },
          { path: 'spec.http[0].timeout', after: '"1s"' },
        ],
      },
      changed_by: [
        { kind: 'tool', who: 'kubectl-edit', operation: 'Update', at: '2026-12-04T14:03:07Z', source: 'managedFields', text: attributionText(tool) },
        { kind: 'person', who: 'alice@corp.example', via: 'kubectl-edit', at: '2026-12-04T14:03:08Z', text: attributionText(person) },
      ],
      links: { argocd: 'https://argocd.example.com/applications/argocd/payments', commit: `https://github.com/org/mesh-config/commit/${SHA}` },
    });
    expect(JSON.stringify(event)).not.toContain('MASKED');
    expect(event.links).toEqual([
      { href: 'https://argocd.example.com/applications/argocd/payments', text: 'Argo CD: Application argocd/payments' },
      { href: `https://github.com/org/mesh-config/commit/${SHA}`, text: 'Commit 3f1c2a9e8b7d' },
    ]);
  });

  it('tells an Istio from a Linkerd AuthorizationPolicy in the summary and the details', () => {
    const event = renderPagerDutyEvent(notification([istioAuthz, linkerdAuthz]), 'key');
    expect(event.payload.summary).toContain('AuthorizationPolicy.policy.linkerd.io payments/allow');
    expect(event.payload.summary).toContain('AuthorizationPolicy.security.istio.io payments/allow');
    expect(event.payload.custom_details.firing.map((d) => d.api).sort()).toEqual([
      'AuthorizationPolicy.policy.linkerd.io',
      'AuthorizationPolicy.security.istio.io',
    ]);
  });

  it('stays under the event limit with 1,000 findings of maximal evidence; omitted counts the rest', () => {
    const worst: ChangeList = {
      source: 'snapshot',
      changes: Array.from({ length: MAX_CHANGES }, (_, i) => ({
        path: `spec.${'p'.repeat(500)}${i}`,
        before: 'b'.repeat(MAX_CHANGE_VALUE),
        after: 'a'.repeat(MAX_CHANGE_VALUE),
      })),
    };
    const firing = Array.from({ length: 1_000 }, (_, i) =>
      finding({ fingerprint: `f${i}`, resource: { ...finding().resource, name: `vs-${i}` }, changes: worst }),
    );
    const event = renderPagerDutyEvent(notification(firing), 'key', LINKS);
    expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThan(PAGERDUTY_LIMITS.event);
    const d = event.payload.custom_details;
    expect(d.omitted).toBeGreaterThan(0);
    expect(d.firing.length + d.omitted).toBe(1_000);
  });
});

describe('Alertmanager and the webhook', () => {
  it('annotations: changes, changed_by, revision, argocd_url, commit_url; the summary names the group', () => {
    const [alert] = renderAlertmanagerAlerts(notification([finding()]), { firingTtlMs: 60_000, links: LINKS });
    expect(alert?.annotations).toMatchObject({
      summary: 'VirtualService.networking.istio.io payments/reviews drifted (Modified) in Application argocd/payments on prod-eu',
      changes: [
        'spec.http[0].route[1].weight: 80 → 50',
        'spec.http[0].headers.request.set.authorization: changed (value masked)',
        'spec.http[0].timeout: (unset) → "1s"',
      ].join('\n'),
      changed_by: [attributionText(tool), attributionText(person)].join('\n'),
      revision: SHA,
      argocd_url: 'https://argocd.example.com/applications/argocd/payments',
      commit_url: `https://github.com/org/mesh-config/commit/${SHA}`,
    });
    expect(alert?.annotations['description']).toContain('Who: changed via kubectl-edit');
    expect(alert?.annotations['description']).toContain('  spec.http[0].route[1].weight: 80 → 50');
    expect(alert?.labels).toMatchObject({ group: 'networking.istio.io', kind: 'VirtualService' });
  });

  it('annotations stay within 4 KiB each, one line per change, ending with "and N more changes"', () => {
    const many: ChangeList = {
      source: 'snapshot',
      changes: Array.from({ length: MAX_CHANGES }, (_, i) => ({
        path: `spec.${'p'.repeat(500)}${i}`,
        before: 'x\ny'.repeat(80),
        after: 'z'.repeat(MAX_CHANGE_VALUE),
      })),
      omitted: 3,
    };
    const [alert] = renderAlertmanagerAlerts(notification([finding({ changes: many })]), { firingTtlMs: 60_000 });
    for (const v of Object.values(alert?.annotations ?? {})) expect(v.length).toBeLessThanOrEqual(4096);
    const lines = alert?.annotations['changes']?.split('\n') ?? [];
    expect(lines.length).toBeLessThanOrEqual(11);
    expect(alert?.annotations['changes']).not.toContain('x\ny');
    const short = renderAlertmanagerAlerts(
      notification([finding({ changes: { ...many, changes: many.changes.slice(0, 12).map((c) => ({ ...c, path: 'p', before: '1', after: '2' })) } })]),
      {
        firingTtlMs: 60_000,
      },
    );
    expect(short[0]?.annotations['changes']?.split('\n').at(-1)).toBe('and 5 more changes');
  });

  it('the webhook carries the annotations and structured changes, changed_by and links per alert', () => {
    const payload = renderWebhookPayload(notification([finding()]), 'hook', LINKS);
    const [alert] = payload.alerts;
    expect(alert?.annotations['commit_url']).toBe(`https://github.com/org/mesh-config/commit/${SHA}`);
    expect(alert?.changes?.changes[1]).toEqual({ path: 'spec.http[0].headers.request.set.authorization', masked: true });
    expect(alert?.changed_by?.map((a) => a.kind)).toEqual(['tool', 'person']);
    expect(alert?.links).toEqual({
      argocd: 'https://argocd.example.com/applications/argocd/payments',
      commit: `https://github.com/org/mesh-config/commit/${SHA}`,
    });
    expect(JSON.stringify(payload)).not.toContain('MASKED');
  });
});

describe('console', () => {
  it('one JSON line with kind.group, the changes, who, and the links', async () => {
    const line = JSON.parse(renderConsoleLine(notification([finding()]), LINKS)) as { firing: Array<Record<string, unknown>> };
    expect(line.firing[0]).toMatchObject({
      kind: 'VirtualService.networking.istio.io',
      revision: SHA,
      changes: [
        'spec.http[0].route[1].weight: 80 → 50',
        'spec.http[0].headers.request.set.authorization: changed (value masked)',
        'spec.http[0].timeout: (unset) → "1s"',
      ],
      changes_omitted: 0,
      changed_by: [attributionText(tool), attributionText(person)],
      argocd_url: 'https://argocd.example.com/applications/argocd/payments',
      commit_url: `https://github.com/org/mesh-config/commit/${SHA}`,
    });
    // A value with a line break stays on its line.
    const broken = renderConsoleLine(
      notification([finding({ changes: { source: 'snapshot', changes: [{ path: 'a', before: 'x\n{"fake":1}', after: 'y' }] } })]),
    );
    expect(broken.split('\n')).toHaveLength(1);
  });
});

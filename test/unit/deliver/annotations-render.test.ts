import { describe, expect, it } from 'vitest';
import { renderAlertmanagerAlerts } from '../../../src/deliver/alertmanager/notifier.ts';
import { leadFinding } from '../../../src/deliver/annotations-view.ts';
import { renderConsoleLine } from '../../../src/deliver/console/notifier.ts';
import { renderPagerDutyEvent } from '../../../src/deliver/pagerduty/render.ts';
import type { SlackBlock } from '../../../src/deliver/slack/blocks.ts';
import { renderSlackMessage, SLACK_LIMITS } from '../../../src/deliver/slack/render.ts';
import { renderWebhookPayload } from '../../../src/deliver/webhook/notifier.ts';
import type { Notification, TrackedFinding } from '../../../src/model/alert-group.ts';
import { parseMatcher } from '../../../src/route/matcher.ts';
import { makeNotification, makeTrackedFinding } from '../../support/notifications.ts';

// Issue #19 item 3: links to the app, the commit and a silence, and the rule's annotations, in
// every receiver, escaped for each.

const SHA = '3f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a098';
const LINKS = { argocdUrl: 'https://argocd.example.com', publicUrl: 'https://meshdrift.example.com' };
const SILENCE =
  'https://meshdrift.example.com/ui/silences/new?matcher=cluster%3D%22prod-eu%22&matcher=owner_kind%3D%22Application%22&matcher=owner_namespace%3D%22argocd%22&matcher=owner%3D%22payments%22';
const ANNOTATIONS = {
  summary: 'AuthorizationPolicy payments/allow drifted',
  description: 'Access to payments may differ from Git.',
  runbook_url: 'https://runbooks.example.com/mesh/AuthorizationPolicy',
  team: 'payments',
  dashboard: 'https://grafana.example.com/d/mesh',
};

function firing(annotations: Record<string, string> | undefined = ANNOTATIONS, over: Partial<TrackedFinding> = {}): TrackedFinding {
  return makeTrackedFinding('allow', {
    revision: SHA,
    repoURL: 'https://github.com/org/mesh-config.git',
    ...(annotations === undefined ? {} : { annotations }),
    ...over,
  });
}
const note = (f: TrackedFinding[] = [firing()], over: Partial<Notification> = {}) => makeNotification({ firing: f, ...over });
const texts = (blocks: SlackBlock[]): string =>
  blocks
    .flatMap((b) => (b.type === 'section' && 'text' in b ? [b.text.text] : b.type === 'section' && 'fields' in b ? b.fields.map((x) => x.text) : []))
    .join('\n');

describe('Slack', () => {
  it('links the app, the commit, the runbook and a silence; shows summary, description, team and own keys', () => {
    const t = texts(renderSlackMessage(note(), LINKS).blocks);
    expect(t).toContain('<https://argocd.example.com/applications/argocd/payments|open in Argo CD>');
    expect(t).toContain(`<https://github.com/org/mesh-config/commit/${SHA}|3f1c2a9e8b7d> (commit)`);
    expect(t).toContain('*AuthorizationPolicy payments/allow drifted*');
    expect(t).toContain('Access to payments may differ from Git.');
    expect(t).toContain(':book: <https://runbooks.example.com/mesh/AuthorizationPolicy|Runbook>');
    expect(t).toContain(':busts_in_silhouette: Team: payments');
    expect(t).toContain(`:no_bell: <${SILENCE.replaceAll('&', '&amp;')}|Silence this group>`);
    expect(t).toContain('*dashboard*: https://grafana.example.com/d/mesh');
  });

  it('no notes block without annotations or MESHDRIFT_PUBLIC_URL; no silence link on a resolve', () => {
    const plain = renderSlackMessage(note([firing({})]), { argocdUrl: LINKS.argocdUrl }).blocks;
    expect(plain.filter((b) => b.type === 'section')).toHaveLength(2);
    const resolved = makeNotification({ status: 'resolved', reason: 'resolved', firing: [], resolved: [firing(ANNOTATIONS, { status: 'resolved' })] });
    const t = texts(renderSlackMessage(resolved, LINKS).blocks);
    expect(t).not.toContain('silences/new');
    expect(t).toContain('|Runbook>');
  });

  it("the team's text with the cluster's values in it cannot mention, link, format or break the message", () => {
    const evil = { summary: '<!channel> *bold* <https://evil.example|click>', team: 'a|b>c', own_key: '`code` ~x~ \n line' };
    const t = texts(renderSlackMessage(note([firing(evil)]), LINKS).blocks);
    expect(t).not.toContain('<!channel>');
    expect(t).not.toContain('<https://evil.example');
    expect(t).toContain('&lt;!channel&gt;');
    expect(t).toContain('Team: a|b&gt;c');
    expect(t).not.toMatch(/own\S*\*: [^\n]*\n line/);
  });

  it('long annotations on many findings keep the message within Slack limits', () => {
    const long = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`key_${i}`, '&'.repeat(2000)]));
    const many = Array.from({ length: 300 }, (_, i) =>
      firing(
        { ...long, summary: '&'.repeat(2000), description: '<'.repeat(2000) },
        { fingerprint: `fp${i}`, resource: { name: `n${i}` } as TrackedFinding['resource'] },
      ),
    );
    const { text, blocks } = renderSlackMessage(note(many), LINKS);
    expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    expect(JSON.stringify(blocks).length + text.length).toBeLessThan(SLACK_LIMITS.message);
    for (const b of blocks) if (b.type === 'section' && 'text' in b) expect(b.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
  });
});

describe('PagerDuty', () => {
  it('links the app, the commit, the runbook and a silence; custom_details carry the annotations', () => {
    const e = renderPagerDutyEvent(note(), 'rk', LINKS);
    expect(e.links).toEqual([
      { href: 'https://argocd.example.com/applications/argocd/payments', text: 'Argo CD: Application argocd/payments' },
      { href: `https://github.com/org/mesh-config/commit/${SHA}`, text: 'Commit 3f1c2a9e8b7d' },
      { href: 'https://runbooks.example.com/mesh/AuthorizationPolicy', text: 'Runbook' },
      { href: SILENCE, text: 'Silence this group in meshdrift' },
    ]);
    expect(e.payload.custom_details.annotations).toEqual(ANNOTATIONS);
    expect(e.payload.custom_details.silence_url).toBe(SILENCE);
    expect(e.payload.custom_details.firing[0]?.annotations).toEqual(ANNOTATIONS);
  });

  it('a resolve has no silence; values are one line, nothing hidden', () => {
    const resolved = makeNotification({
      status: 'resolved',
      reason: 'resolved',
      firing: [],
      resolved: [firing({ team: 'a\nb\u202Ec' }, { status: 'resolved' })],
    });
    const e = renderPagerDutyEvent(resolved, 'rk', LINKS);
    expect(e.links?.some((l) => l.href.includes('silences/new'))).toBe(false);
    expect(e.payload.custom_details.annotations?.team).toBe('a b\uFFFDc');
  });
});

describe('Alertmanager and webhook', () => {
  it("the rule's summary replaces meshdrift's, its description comes first, its keys are added; meshdrift's links stay", () => {
    const [alert] = renderAlertmanagerAlerts(note([firing({ ...ANNOTATIONS, commit_url: 'https://evil.example' })]), { firingTtlMs: 1000, links: LINKS });
    const a = alert?.annotations ?? {};
    expect(a.summary).toBe('AuthorizationPolicy payments/allow drifted');
    expect(a.description?.split('\n').slice(0, 3)).toEqual([
      'Access to payments may differ from Git.',
      '',
      'critical security drift: AuthorizationPolicy.security.istio.io payments/allow is Modified.',
    ]);
    expect(a.runbook_url).toBe('https://runbooks.example.com/mesh/AuthorizationPolicy');
    expect(a.team).toBe('payments');
    expect(a.dashboard).toBe('https://grafana.example.com/d/mesh');
    expect(a.commit_url).toBe(`https://github.com/org/mesh-config/commit/${SHA}`);
    expect(a.argocd_url).toBe('https://argocd.example.com/applications/argocd/payments');
    expect(a.silence_url).toBe(SILENCE);
  });

  it('the webhook carries the same annotations on each alert (and in commonAnnotations)', () => {
    const p = renderWebhookPayload(note(), 'hook', LINKS);
    expect(p.alerts[0]?.annotations.runbook_url).toBe(ANNOTATIONS.runbook_url);
    expect(p.commonAnnotations.silence_url).toBe(SILENCE);
    expect(p.commonAnnotations.team).toBe('payments');
  });

  it('the silence link names the group: its matchers read back as the group labels', () => {
    const n = note([firing()], { labels: { ...makeNotification().labels, groupBy: { cluster: 'prod-eu', namespace: 'pay"ments' } } });
    const url = renderAlertmanagerAlerts(n, { firingTtlMs: 1000, links: LINKS })[0]?.annotations.silence_url ?? '';
    expect(new URL(url).searchParams.getAll('matcher').map(parseMatcher)).toEqual([
      { name: 'cluster', op: '=', value: 'prod-eu' },
      { name: 'namespace', op: '=', value: 'pay"ments' },
    ]);
  });
});

describe('console', () => {
  it('per finding annotations and the group silence link', () => {
    const line = JSON.parse(renderConsoleLine(note(), LINKS)) as { silence_url: string; firing: Array<{ annotations: Record<string, string> }> };
    expect(line.silence_url).toBe(SILENCE);
    expect(line.firing[0]?.annotations).toEqual(ANNOTATIONS);
  });
});

describe('the lead finding', () => {
  it('is the most severe firing one (then by kind, namespace, name), or the most severe resolved one of a resolve', () => {
    const low = firing({ team: 'low' }, { severity: 'low', fingerprint: 'a' });
    const high = firing({ team: 'high' }, { severity: 'high', fingerprint: 'b', resource: { name: 'z' } as TrackedFinding['resource'] });
    const high2 = firing({ team: 'high2' }, { severity: 'high', fingerprint: 'c', resource: { name: 'a' } as TrackedFinding['resource'] });
    expect(leadFinding({ status: 'firing', firing: [low, high, high2], resolved: [] })?.annotations?.team).toBe('high2');
    expect(leadFinding({ status: 'resolved', firing: [], resolved: [low, high] })?.annotations?.team).toBe('high');
  });
});

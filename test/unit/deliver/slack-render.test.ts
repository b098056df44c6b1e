import { describe, expect, it } from 'vitest';
import type { Notification, TrackedFinding } from '../../../src/model/alert-group.ts';
import type { Severity } from '../../../src/model/severity.ts';
import { formatDuration, renderSlackThreadReply, SLACK_REPLY_LIMITS, toldFindingsOf } from '../../../src/deliver/slack/render-reply.ts';
import { renderSlackMessage, SLACK_LIMITS } from '../../../src/deliver/slack/render.ts';
import type { SlackBlock } from '../../../src/deliver/slack/blocks.ts';

const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);

function finding(over: {
  kind: string;
  group?: string;
  name: string;
  namespace?: string;
  severity?: Severity;
  category?: TrackedFinding['category'];
  state?: TrackedFinding['state'];
  detail?: string;
  status?: TrackedFinding['status'];
  revision?: string;
}): TrackedFinding {
  const namespace = over.namespace ?? 'payments';
  return {
    fingerprint: `fp-${over.kind}-${namespace}-${over.name}`,
    groupKey: 'g1',
    cluster: 'prod-eu',
    tool: 'argocd',
    owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
    project: 'payments',
    resource: { group: over.group ?? 'networking.istio.io', kind: over.kind, namespace, name: over.name },
    state: over.state ?? 'Modified',
    category: over.category ?? 'traffic',
    mesh: 'istio',
    severity: over.severity ?? 'high',
    receivers: ['slack-mesh'],
    reasons: ['test'],
    ...(over.detail === undefined ? {} : { detail: over.detail }),
    revision: over.revision ?? 'a1b2c3d4e5f6',
    observedAt: T0,
    firstSeen: T0,
    lastSeen: T0,
    status: over.status ?? 'firing',
  };
}

function notification(over: Partial<Notification> = {}): Notification {
  const firing = over.firing ?? [];
  return {
    groupKey: 'g1',
    seq: 1,
    reason: 'first',
    status: 'firing',
    labels: { cluster: 'prod-eu', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: 'payments' }, project: 'payments' },
    severity: 'high',
    firing,
    resolved: [],
    at: T0 + 60_000,
    firstSeen: T0,
    ...over,
  };
}

const authz = finding({
  kind: 'AuthorizationPolicy',
  group: 'security.istio.io',
  namespace: 'istio-system',
  name: 'deny-all',
  severity: 'critical',
  category: 'security',
  detail: '1 changes',
});
const vs = finding({ kind: 'VirtualService', name: 'checkout', severity: 'high', category: 'traffic', state: 'Missing' });

function sectionTexts(blocks: SlackBlock[]): string[] {
  return blocks.flatMap((b) => (b.type === 'section' && 'text' in b ? [b.text.text] : []));
}
function headerText(blocks: SlackBlock[]): string {
  const h = blocks.find((b) => b.type === 'header');
  if (h?.type !== 'header') throw new Error('no header block');
  return h.text.text;
}
function allText(blocks: SlackBlock[]): string {
  return JSON.stringify(blocks);
}

describe('renderSlackMessage', () => {
  it('names every drifted resource with its severity in a firing message', () => {
    const { text, blocks } = renderSlackMessage(notification({ severity: 'critical', firing: [vs, authz] }));
    expect(headerText(blocks)).toContain('FIRING');
    expect(headerText(blocks)).toContain('CRITICAL');
    const body = sectionTexts(blocks).join('\n');
    expect(body).toMatch(/CRITICAL\*.*AuthorizationPolicy\.security\.istio\.io `istio-system\/deny-all`.*Modified.*security.*1 changes/);
    expect(body).toMatch(/HIGH\*.*VirtualService\.networking\.istio\.io `payments\/checkout`.*Missing.*traffic/);
    expect(text).toBe('FIRING [critical] 2 drifted resources in Application argocd/payments on prod-eu');
  });

  it('shows cluster, tool, owner, project and revision, and a footer with reason and seq', () => {
    const { blocks } = renderSlackMessage(notification({ seq: 3, reason: 'new-findings', firing: [vs] }));
    const fields = blocks.flatMap((b) => (b.type === 'section' && 'fields' in b ? b.fields.map((f) => f.text) : []));
    expect(fields).toEqual([
      '*Cluster*\nprod-eu',
      '*Tool*\nArgo CD',
      '*Owner*\nApplication `argocd/payments`',
      '*Project*\npayments',
      '*Revision*\n`a1b2c3d4e5f6`',
    ]);
    const footer = blocks.at(-1);
    expect(footer?.type).toBe('context');
    expect(allText(footer === undefined ? [] : [footer])).toMatch(/Reason: \*new-findings\*.*notification #3/);
  });

  it('renders a resolved notification as RESOLVED, listing resolved findings struck through', () => {
    const resolved = [{ ...authz, status: 'resolved' as const, resolvedAt: T0 + 120_000 }];
    const { text, blocks } = renderSlackMessage(notification({ status: 'resolved', reason: 'resolved', severity: 'critical', seq: 2, firing: [], resolved }));
    expect(headerText(blocks)).toContain('RESOLVED');
    expect(headerText(blocks)).not.toContain('FIRING');
    const body = sectionTexts(blocks).join('\n');
    expect(body).toContain('*Resolved (1)*');
    expect(body).toContain('~AuthorizationPolicy.security.istio.io istio-system/deny-all~ resolved');
    expect(body).not.toContain('Drifted resources');
    expect(text).toMatch(/^RESOLVED/);
  });

  it('lists firing and resolved findings in separate sections of one message', () => {
    const resolved = [{ ...vs, status: 'resolved' as const }];
    const { blocks } = renderSlackMessage(notification({ reason: 'some-resolved', firing: [authz], resolved }));
    const sections = sectionTexts(blocks);
    const firingIdx = sections.findIndex((s) => s.startsWith('*Drifted resources (1)*'));
    const resolvedIdx = sections.findIndex((s) => s.startsWith('*Resolved (1)*'));
    expect(firingIdx).toBeGreaterThanOrEqual(0);
    expect(resolvedIdx).toBeGreaterThan(firingIdx);
    expect(sections[resolvedIdx]).toContain('VirtualService');
    expect(sections[firingIdx]).not.toContain('VirtualService');
  });

  it('orders findings most severe first, then by kind, namespace and name', () => {
    const fs = [
      finding({ kind: 'Sidecar', name: 'b', severity: 'low' }),
      finding({ kind: 'VirtualService', name: 'z', severity: 'high' }),
      finding({ kind: 'AuthorizationPolicy', name: 'a', severity: 'critical' }),
      finding({ kind: 'DestinationRule', name: 'b', namespace: 'b-ns', severity: 'high' }),
      finding({ kind: 'DestinationRule', name: 'a', namespace: 'b-ns', severity: 'high' }),
      finding({ kind: 'DestinationRule', name: 'z', namespace: 'a-ns', severity: 'high' }),
      finding({ kind: 'PeerAuthentication', name: 'x', severity: 'medium' }),
    ];
    const lines = sectionTexts(renderSlackMessage(notification({ firing: fs })).blocks)
      .join('\n')
      .split('\n')
      .filter((l) => l.startsWith(':'));
    expect(lines.map((l) => /\* · (\S+) `([^`]+)`/.exec(l)?.slice(1).join(' '))).toEqual([
      'AuthorizationPolicy.networking.istio.io payments/a',
      'DestinationRule.networking.istio.io a-ns/z',
      'DestinationRule.networking.istio.io b-ns/a',
      'DestinationRule.networking.istio.io b-ns/b',
      'VirtualService.networking.istio.io payments/z',
      'PeerAuthentication.networking.istio.io payments/x',
      'Sidecar.networking.istio.io payments/b',
    ]);
  });

  it('escapes &, < and > in user-controlled strings, so no <!channel> or link injection', () => {
    const evil = finding({ kind: 'VirtualService', name: 'a<b>&c', namespace: 'ns', detail: '<!channel> & <https://evil.example|click>' });
    const { text, blocks } = renderSlackMessage(
      notification({
        firing: [evil],
        labels: { cluster: 'prod<eu>', tool: 'flux', owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'apps&co' }, project: '<p>' },
      }),
    );
    const mrkdwn = [...sectionTexts(blocks), ...blocks.flatMap((b) => (b.type === 'section' && 'fields' in b ? b.fields.map((f) => f.text) : []))].join('\n');
    expect(mrkdwn).toContain('`ns/a&lt;b&gt;&amp;c`');
    expect(mrkdwn).toContain('&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;');
    expect(mrkdwn).toContain('prod&lt;eu&gt;');
    expect(mrkdwn).toContain('&lt;p&gt;');
    expect(mrkdwn).toContain('apps&amp;co');
    expect(mrkdwn).not.toMatch(/<!channel>|<https:|a<b>/);
    expect(text).toContain('apps&amp;co on prod&lt;eu&gt;');
  });

  it('keeps header, sections and the whole message within Slack limits', () => {
    const long = 'x'.repeat(400);
    const { text, blocks } = renderSlackMessage(
      notification({
        firing: [finding({ kind: 'VirtualService', name: long, namespace: 'n'.repeat(200), detail: 'd'.repeat(5000) })],
        labels: {
          cluster: 'c'.repeat(500),
          tool: 'argocd',
          owner: { kind: 'Application', namespace: 'argocd', name: 'o'.repeat(400) },
          project: 'p'.repeat(500),
        },
      }),
    );
    expect(headerText(blocks).length).toBeLessThanOrEqual(SLACK_LIMITS.header);
    for (const s of sectionTexts(blocks)) expect(s.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    expect(JSON.stringify(blocks).length + text.length).toBeLessThan(SLACK_LIMITS.message);
    expect(text.length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
    // The long name keeps both ends.
    expect(sectionTexts(blocks).join('\n')).toMatch(/`n+…n*\/x+…x+`/);
  });

  it('never splits a surrogate pair when truncating', () => {
    const emojiName = '🙂'.repeat(300);
    const { blocks } = renderSlackMessage(notification({ firing: [finding({ kind: 'VirtualService', name: emojiName, detail: '🙂'.repeat(300) })] }));
    const body = sectionTexts(blocks).join('\n');
    expect(body).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    expect(body).not.toMatch(/(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });

  it('stays within budget with 500 long-named findings and ends the list with "…and N more"', () => {
    const severities: Severity[] = ['info', 'low', 'medium', 'high', 'critical'];
    const firing = Array.from({ length: 500 }, (_, i) =>
      finding({
        kind: i % 2 === 0 ? 'VirtualService' : 'AuthorizationPolicy',
        name: `${'very-long-generated-name-'.repeat(12)}${String(i).padStart(3, '0')}`,
        namespace: `team-${'n'.repeat(50)}-${i % 7}`,
        severity: severities[i % 5] ?? 'info',
        detail: `changed spec.http[${i}].route — ${'x'.repeat(300)}`,
      }),
    );
    const resolved = Array.from({ length: 20 }, (_, i) => finding({ kind: 'Gateway', name: `gw-${i}`, status: 'resolved' }));
    const { text, blocks } = renderSlackMessage(notification({ severity: 'critical', firing, resolved }));

    expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    expect(headerText(blocks).length).toBeLessThanOrEqual(SLACK_LIMITS.header);
    for (const s of sectionTexts(blocks)) expect(s.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    expect(JSON.stringify(blocks).length + text.length).toBeLessThan(SLACK_LIMITS.message);

    const sections = sectionTexts(blocks);
    const last = sections.at(-1) ?? '';
    const more = /…and (\d+) more/.exec(last);
    expect(more).not.toBeNull();
    const shown = sections
      .join('\n')
      .split('\n')
      .filter((l) => /^:\w+: \*[A-Z]+\*/.test(l));
    expect(shown.length).toBeGreaterThan(5);
    expect(Number(more?.[1])).toBe(520 - shown.length);
    // Most severe first: every shown finding is critical (100 of them exist), and nothing resolved fits.
    expect(shown.every((l) => l.includes('*CRITICAL*'))).toBe(true);
    expect(last).toContain('drifted, 20 resolved');
    // The heading still counts them all.
    expect(sections[0]).toMatch(/^\*Drifted resources \(500\)\*/);
    // The footer stays last.
    expect(blocks.at(-1)?.type).toBe('context');
  });

  it('uses a small number of blocks when many short findings fit', () => {
    const firing = Array.from({ length: 40 }, (_, i) => finding({ kind: 'VirtualService', name: `vs-${i}` }));
    const { blocks } = renderSlackMessage(notification({ firing }));
    const shown = sectionTexts(blocks)
      .join('\n')
      .split('\n')
      .filter((l) => l.startsWith(':'));
    expect(shown).toHaveLength(40);
    expect(sectionTexts(blocks).join('\n')).not.toContain('more');
    expect(blocks.length).toBeLessThanOrEqual(6);
  });
});

describe('renderSlackThreadReply', () => {
  const gw = finding({ kind: 'Gateway', name: 'public', severity: 'medium', category: 'traffic' });
  const told = { [vs.fingerprint]: 'high', [gw.fingerprint]: 'medium' } as const;
  const resolvedOf = (f: TrackedFinding): TrackedFinding => ({ ...f, status: 'resolved', resolvedAt: T0 + 120_000 });
  const body = (n: Notification, t?: Record<string, Severity>): string => {
    const { blocks } = renderSlackThreadReply(n, t);
    expect(blocks).toHaveLength(1);
    return sectionTexts(blocks).join('\n');
  };

  it.each<[Notification['reason'], Partial<Notification>, RegExp]>([
    ['new-findings', { firing: [authz, vs, gw], severity: 'critical' }, /^:new: \*1 new drifted resource\* · 3 drifted resources now, up to CRITICAL$/],
    [
      'severity-raised',
      { firing: [{ ...vs, severity: 'critical' }, gw], severity: 'critical' },
      /^:arrow_up: \*Severity raised to CRITICAL\* · 2 drifted resources$/,
    ],
    ['some-resolved', { firing: [vs], resolved: [resolvedOf(gw)] }, /^:white_check_mark: \*1 resolved\* · 1 still drifted$/],
    [
      'resolved',
      { status: 'resolved', firing: [], resolved: [resolvedOf(vs), resolvedOf(gw)], at: T0 + 26 * 3_600_000 },
      /^:white_check_mark: \*All resolved\* · back in sync after 1d 2h$/,
    ],
    [
      'resolved',
      // The drift ended 5m50s in; the reply went out later: the reply says how long the drift lasted.
      { status: 'resolved', firing: [], resolved: [resolvedOf(vs)], at: T0 + 10 * 60_000, resolvedAt: T0 + 5 * 60_000 + 50_000 },
      /^:white_check_mark: \*All resolved\* · back in sync after 5m 50s$/,
    ],
    ['repeat', { firing: [vs, gw], at: T0 + 4 * 3_600_000 }, /^:repeat: \*Still drifted after 4h\*: 2 findings, up to HIGH$/],
  ])('starts a %s reply with one line saying what changed', (reason, over, headline) => {
    const text = body(notification({ seq: 2, reason, ...over }), { ...told });
    expect(text.split('\n')[0]).toMatch(headline);
  });

  it('lists only the findings new since the thread last told, most severe first', () => {
    const crit2 = finding({ kind: 'PeerAuthentication', group: 'security.istio.io', name: 'strict', severity: 'critical', category: 'security' });
    const text = body(notification({ seq: 2, reason: 'new-findings', firing: [vs, gw, crit2, authz] }), { ...told });
    const lines = text.split('\n');
    expect(lines[1]).toBe('*New (2):*');
    expect(lines[2]).toBe('• :red_circle: *CRITICAL* AuthorizationPolicy.security.istio.io `istio-system/deny-all` _(Modified)_');
    expect(lines[3]).toBe('• :red_circle: *CRITICAL* PeerAuthentication.security.istio.io `payments/strict` _(Modified)_');
    expect(text).not.toContain('checkout');
    expect(text).not.toContain('public');
  });

  it('names each raised finding with its old and new severity', () => {
    const text = body(notification({ seq: 2, reason: 'severity-raised', severity: 'critical', firing: [{ ...vs, severity: 'critical' }, gw] }), { ...told });
    expect(text).toContain('*Severity raised (1):*\n• :red_circle: VirtualService.networking.istio.io `payments/checkout` high → *CRITICAL*');
    expect(text).not.toContain('public');
  });

  it('tells every kind of change a notification carries, not only its reason', () => {
    const text = body(
      notification({ seq: 3, reason: 'new-findings', severity: 'critical', firing: [authz, { ...vs, severity: 'critical' }], resolved: [resolvedOf(gw)] }),
      { ...told },
    );
    expect(text).toMatch(/\*New \(1\):\*\n.*deny-all/);
    expect(text).toMatch(/\*Severity raised \(1\):\*\n.*checkout/);
    expect(text).toMatch(/\*Resolved \(1\):\*\n• :white_check_mark: Gateway\.networking\.istio\.io `payments\/public` _\(was medium\)_/);
  });

  it('lists resolved findings in a resolve reply, most severe first', () => {
    const text = body(
      notification({ seq: 2, reason: 'resolved', status: 'resolved', firing: [], resolved: [resolvedOf(gw), resolvedOf(authz), resolvedOf(vs)] }),
      { ...told },
    );
    const listed = text.split('\n').filter((l) => l.startsWith('• '));
    expect(listed.map((l) => /`([^`]+)`/.exec(l)?.[1])).toEqual(['istio-system/deny-all', 'payments/checkout', 'payments/public']);
  });

  it('a repeat with nothing changed is one line', () => {
    expect(body(notification({ seq: 5, reason: 'repeat', firing: [vs, gw], at: T0 + 4 * 3_600_000 + 59_000 }), { ...told })).toBe(
      ':repeat: *Still drifted after 4h*: 2 findings, up to HIGH',
    );
  });

  it('without what was told (a message stored before threads), shows the most severe drifted now', () => {
    const text = body(notification({ seq: 2, reason: 'new-findings', severity: 'critical', firing: [vs, authz] }));
    expect(text.split('\n')).toEqual([
      ':new: *New drifted resources* · 2 drifted resources now, up to CRITICAL',
      '*Drifted now (2):*',
      '• :red_circle: *CRITICAL* AuthorizationPolicy.security.istio.io `istio-system/deny-all` _(Modified)_',
      '• :large_orange_circle: *HIGH* VirtualService.networking.istio.io `payments/checkout` _(Missing)_',
    ]);
    // Resolved findings are in the notification itself, so they are listed either way.
    expect(body(notification({ seq: 2, reason: 'some-resolved', firing: [vs], resolved: [resolvedOf(gw)] }))).toContain('*Resolved (1):*');
  });

  it('cuts each list to its budget with "…and N more", well under the section limit', () => {
    const severities: Severity[] = ['info', 'low', 'medium', 'high', 'critical'];
    const many = Array.from({ length: 500 }, (_, i) =>
      finding({ kind: 'VirtualService', name: `${'generated-name-'.repeat(8)}${i}`, namespace: `team-${i % 9}`, severity: severities[i % 5] ?? 'info' }),
    );
    const resolved = Array.from({ length: 40 }, (_, i) => resolvedOf(finding({ kind: 'Gateway', name: `gw-${i}` })));
    const n = notification({ seq: 2, reason: 'new-findings', severity: 'critical', firing: many, resolved });
    const { text, blocks } = renderSlackThreadReply(n, {});
    const section = sectionTexts(blocks).join('\n');

    expect(section.length).toBeLessThanOrEqual(SLACK_REPLY_LIMITS.sectionText);
    expect(section.length).toBeLessThan(SLACK_LIMITS.sectionText);
    expect(text.length).toBeLessThanOrEqual(SLACK_REPLY_LIMITS.fallbackText);
    const lines = section.split('\n');
    const newItems = lines.slice(lines.indexOf('*New (500):*') + 1).filter((_line, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('• ')));
    expect(newItems.length).toBeGreaterThan(0);
    expect(newItems.length).toBeLessThanOrEqual(SLACK_REPLY_LIMITS.itemsPerList);
    expect(newItems.every((l) => l.includes('*CRITICAL*'))).toBe(true);
    expect(section).toContain(`_…and ${500 - newItems.length} more_`);
    // The resolved list still gets its turn.
    expect(section).toMatch(/\*Resolved \(40\):\*\n• :white_check_mark: Gateway/);
    expect(section).toMatch(/_…and \d+ more_$/);
  });

  it('stays within budget when every line is as long as it can be', () => {
    const long = (i: number, severity: Severity): TrackedFinding =>
      finding({ kind: '&'.repeat(100), name: `${'&'.repeat(300)}${i}`, namespace: '<'.repeat(100), severity });
    const firing = Array.from({ length: 30 }, (_, i) => long(i, 'critical'));
    const raisedFrom = Object.fromEntries(firing.slice(0, 10).map((f) => [f.fingerprint, 'low' as const]));
    const resolved = Array.from({ length: 30 }, (_, i) => resolvedOf(long(100 + i, 'high')));
    const { blocks } = renderSlackThreadReply(notification({ seq: 2, reason: 'new-findings', firing, resolved }), raisedFrom);
    const section = sectionTexts(blocks).join('\n');
    expect(section.length).toBeLessThanOrEqual(SLACK_REPLY_LIMITS.sectionText);
    // Every list is accounted for, shown or counted.
    expect(section).toMatch(/New \(20\)|…and 20 more new/);
    expect(section).toMatch(/Severity raised \(10\)|…and 10 more severity raised/);
    expect(section).toMatch(/Resolved \(30\)|…and 30 more resolved/);
  });

  it('escapes &, < and > in user-controlled strings, in the body and the preview text', () => {
    const evil = finding({ kind: 'VirtualService', name: 'a<b>&c', namespace: 'ns' });
    const { text, blocks } = renderSlackThreadReply(
      notification({
        seq: 2,
        reason: 'new-findings',
        firing: [evil],
        labels: { cluster: '<!channel>', tool: 'flux', owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'apps&co' }, project: '' },
      }),
      {},
    );
    const section = sectionTexts(blocks).join('\n');
    expect(section).toContain('`ns/a&lt;b&gt;&amp;c`');
    expect(section).not.toMatch(/<|a<b>/);
    expect(text).toBe('1 new drifted resource, 1 drifted resource now · Kustomization flux-system/apps&amp;co on &lt;!channel&gt;');
  });

  it('records what a notification told: its firing findings by fingerprint', () => {
    expect(toldFindingsOf(notification({ firing: [authz, vs], resolved: [resolvedOf(gw)] }))).toEqual({
      [authz.fingerprint]: 'critical',
      [vs.fingerprint]: 'high',
    });
  });

  it.each([
    [0, 'less than a second'],
    [999, 'less than a second'],
    [45_000, '45s'],
    [59_999, '59s'],
    [60_000, '1m'],
    [5 * 60_000 + 50_000, '5m 50s'],
    [45 * 60_000, '45m'],
    [3_599_999, '59m 59s'],
    [4 * 3_600_000, '4h'],
    [4 * 3_600_000 + 5 * 60_000 + 30_000, '4h 5m'],
    [24 * 3_600_000, '1d'],
    [51 * 3_600_000 + 7 * 60_000, '2d 3h'],
    [-5_000, 'less than a second'],
  ])('formats %i ms as %s', (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });
});

import { describe, expect, it } from 'vitest';
import { renderAlertmanagerAlerts } from '../../../src/deliver/alertmanager/notifier.ts';
import { renderConsoleLine } from '../../../src/deliver/console/notifier.ts';
import { renderPagerDutyEvent } from '../../../src/deliver/pagerduty/render.ts';
import { renderSlackThreadReply } from '../../../src/deliver/slack/render-reply.ts';
import { renderSlackMessage } from '../../../src/deliver/slack/render.ts';
import { mrkdwnCode, mrkdwnLine, plainLine, plainLines, REPLACEMENT_CHAR } from '../../../src/deliver/text.ts';
import { renderWebhookPayload } from '../../../src/deliver/webhook/notifier.ts';
import type { Notification } from '../../../src/model/alert-group.ts';
import { makeNotification, makeTrackedFinding } from '../../support/notifications.ts';

// Issue #12 item 13: text from the cluster in every receiver's output.

/** Formatting, a newline and a fake line with a mention, bidi controls, zero-width characters, a NUL. */
const HOSTILE = '*bold* _it_ ~s~ `c`\n:rotating_light: FAKE LINE <!here>\r\u202Eevil\u200Bzw\u2066x\uFEFF\u0000\u200E\u061C\u2060end';
const HIDDEN = /[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\u200B-\u200F\u2060\uFEFF\u061C]/;
const FAKE_LINE = /(^|\n)\s*:rotating_light: FAKE/;

describe('plainLine', () => {
  it.each<[string, string, number, string]>([
    ['keeps ordinary text', 'payments-v2.svc', 100, 'payments-v2.svc'],
    ['keeps non-Latin letters and emoji', 'café-日本-🚀', 100, 'café-日本-🚀'],
    ['line breaks and tabs become one space', 'a\r\n\tb\u2028c\u0085d', 100, 'a b c d'],
    ['NUL, DEL and C1 become U+FFFD', 'a\u0000b\u007Fc\u009Bd', 100, `a${REPLACEMENT_CHAR}b${REPLACEMENT_CHAR}c${REPLACEMENT_CHAR}d`],
    [
      'bidi controls become U+FFFD',
      '\u202Eabc\u202C\u2066d\u2069\u200E\u200F\u061C',
      100,
      `${REPLACEMENT_CHAR}abc${REPLACEMENT_CHAR}${REPLACEMENT_CHAR}d${'\uFFFD'.repeat(4)}`,
    ],
    [
      'zero-width and invisible characters become U+FFFD (visible: a\\u200Bb is not ab)',
      'a\u200Bb\u200Cc\u200Dd\u2060e\uFEFFf\u00ADg',
      100,
      'a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\uFFFDg',
    ],
    ['tag characters become U+FFFD', 'x\u{E0041}y', 100, 'x\uFFFDy'],
    ['bounded, with …', 'abcdefghij', 5, 'abcd…'],
    ['never splits a surrogate pair', 'abc🚀def', 5, 'abc…'],
  ])('%s', (_name, input, max, expected) => {
    expect(plainLine(input, max)).toBe(expected);
  });

  it('cuts names in the middle when asked', () => {
    expect(plainLine('payments-7f9c8d6b5-abcde', 11, 'middle')).toBe('payme…abcde');
  });

  it('plainLines keeps the lines it is given, and only those', () => {
    expect(plainLines(['one\ntwo', 'three\u202E'], 100, 1000)).toBe('one two\nthree\uFFFD');
  });
});

describe('mrkdwnLine and mrkdwnCode (Slack)', () => {
  it.each<[string, string, string]>([
    ['entities, mentions and links', '<!here> & <https://evil.example|click>', '&lt;!here&gt; &amp; &lt;https://evil.example|click&gt;'],
    ['formatting characters as look-alikes', '*bold* _it_ ~s~ `c`', '\u2217bold\u2217 \uFF3Fit\uFF3F \u223Cs\u223C \u02CBc\u02CB'],
    ['a quote at line start cannot happen (no line breaks, > escaped)', '> quoted\n> again', '&gt; quoted &gt; again'],
    ['control, bidi, zero-width', 'a\u0000b\u202Ec\u200Bd', 'a\uFFFDb\uFFFDc\uFFFDd'],
  ])('mrkdwnLine: %s', (_name, input, expected) => {
    expect(mrkdwnLine(input, 200)).toBe(expected);
  });

  it('mrkdwnLine bounds before escaping: an entity is never cut', () => {
    expect(mrkdwnLine('&&&&&&&&', 4)).toBe('&amp;&amp;&amp;…');
  });

  it('mrkdwnCode: inline code, formatting inert inside, a backtick cannot end it, no line break', () => {
    expect(mrkdwnCode('ns/*a*_b_`x`\n<!here>', 100)).toBe("`ns/*a*_b_'x' &lt;!here&gt;`");
  });
});

// ---------------------------------------------------------------------------------------------
// Every receiver's renderer, given the same hostile text in every field that comes from the cluster
// ---------------------------------------------------------------------------------------------

function hostileNotification(over: Partial<Notification> = {}): Notification {
  const finding = makeTrackedFinding(HOSTILE, {
    fingerprint: 'fp-hostile',
    resource: { namespace: `ns${HOSTILE}`, kind: `Kind${HOSTILE}` },
    detail: HOSTILE,
    mesh: `istio${HOSTILE}`,
    project: HOSTILE,
  });
  return makeNotification({
    labels: { cluster: `prod${HOSTILE}`, tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: `payments${HOSTILE}` }, project: HOSTILE },
    firing: [finding],
    ...over,
  });
}

/** Every string in a value, deep. */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(stringsOf);
  return [];
}

/**
 * Slack mrkdwn as Slack reads it for formatting: the texts of mrkdwn objects and the fallback text,
 * without inline code spans (inside which nothing formats). plain_text is shown literally.
 */
function formattedMrkdwn(m: { text: string; blocks: unknown[] }): string {
  const texts: string[] = [m.text];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o.type === 'mrkdwn' && typeof o.text === 'string') texts.push(o.text);
      else Object.values(o).forEach(walk);
    }
  };
  walk(m.blocks);
  return texts.map((t) => t.replace(/`[^`\n]*`/g, '')).join('\n');
}

/** The assertions every receiver's output must pass: nothing hidden, no fake line, still readable. */
function expectNeutralised(strings: string[]): void {
  expect(strings.length).toBeGreaterThan(0);
  for (const s of strings) {
    expect(s).not.toMatch(HIDDEN);
    expect(s).not.toMatch(FAKE_LINE);
  }
  const all = strings.join(' ');
  // The text is still shown (one line), and where characters were, U+FFFD says so.
  expect(all).toContain('FAKE LINE');
  expect(all).toContain(REPLACEMENT_CHAR);
}

describe('a name with *bold*, a newline + fake line, bidi override and zero-width characters, in every receiver', () => {
  const n = hostileNotification();

  it('Slack: main message (mrkdwn and plain_text) and fallback text', () => {
    const { text, blocks } = renderSlackMessage(n);
    const strings = [text, ...stringsOf(blocks)];
    expectNeutralised(strings);
    const all = formattedMrkdwn({ text, blocks });
    expect(all).toContain('FAKE LINE');
    expect(all).not.toContain('*bold*');
    expect(all).not.toContain('_it_');
    expect(all).not.toContain('~s~');
    expect(all).not.toContain('<!here>');
    expect(all).toContain('&lt;!here&gt;');
    // Texts that quote the cluster's text ask Slack not to link or mention anything in them.
    const quoting = blocks.flatMap((b) => (b.type === 'section' ? ('fields' in b ? b.fields : [b.text]) : []));
    expect(quoting.length).toBeGreaterThan(0);
    for (const t of quoting) expect(t).toMatchObject({ type: 'mrkdwn', verbatim: true });
  });

  it('Slack: thread reply', () => {
    const later = hostileNotification({ seq: 2, reason: 'new-findings' });
    const { text, blocks } = renderSlackThreadReply(later, {});
    const strings = [text, ...stringsOf(blocks)];
    expectNeutralised(strings);
    expect(formattedMrkdwn({ text, blocks })).not.toMatch(/\*bold\*|_it_|~s~|<!here>/);
  });

  it('Slack: a resolved finding (struck through) cannot end the strike early', () => {
    const resolved = hostileNotification({
      status: 'resolved',
      reason: 'resolved',
      firing: [],
      resolved: [makeTrackedFinding(`a~b~${HOSTILE}`, { status: 'resolved' })],
    });
    const strings = stringsOf(renderSlackMessage(resolved).blocks);
    expectNeutralised(strings);
    const line = strings.find((s) => s.includes(':white_check_mark: ~'));
    expect(line).toBeDefined();
    // Exactly the two tildes meshdrift writes.
    expect(line?.match(/~/g)).toHaveLength(2);
  });

  it('PagerDuty: summary, source, component and custom_details', () => {
    const event = renderPagerDutyEvent(n, 'routing-key', { argocdUrl: 'https://argocd.example' });
    expectNeutralised(stringsOf(event.payload));
    expect(event.payload.summary).not.toContain('\n');
    expect(stringsOf(event.links)).not.toContainEqual(expect.stringMatching(HIDDEN));
  });

  it('Alertmanager: labels and annotations', () => {
    const alerts = renderAlertmanagerAlerts(n, { firingTtlMs: 3_600_000 });
    expectNeutralised(stringsOf(alerts));
    for (const a of alerts) {
      for (const v of Object.values(a.labels)) expect(v).not.toMatch(/[\r\n]/);
      expect(a.annotations.summary).not.toMatch(/[\r\n]/);
      // The description has meshdrift's own lines, and only those.
      expect(a.annotations.description?.split('\n')).toHaveLength(3);
    }
  });

  it('webhook JSON: group labels, alerts, common labels', () => {
    expectNeutralised(stringsOf(renderWebhookPayload(n)));
  });

  it('console: one JSON line, nothing hidden inside its strings', () => {
    const line = renderConsoleLine(n);
    expect(line).not.toContain('\n');
    expectNeutralised(stringsOf(JSON.parse(line)));
  });
});

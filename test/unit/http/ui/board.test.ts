import { describe, expect, it } from 'vitest';
import { parseMatcher } from '../../../../src/route/matcher.ts';
import { compileSilences, type Silence } from '../../../../src/route/silence.ts';
import { buildBoard, type BoardInput } from '../../../../src/http/ui/board.ts';
import { boardBody, silenceHref } from '../../../../src/http/ui/board-view.ts';
import type { GroupState } from '../../../../src/track/group-state.ts';
import { NOW, uiFinding, uiGroup } from './fixtures.ts';

const finding = uiFinding;
const group = uiGroup;

function silence(id: string, matcher: string, comment = 'planned'): Silence {
  return {
    id,
    matchers: [parseMatcher(matcher)],
    startsAt: new Date(NOW - 1000).toISOString(),
    endsAt: new Date(NOW + 3_600_000).toISOString(),
    createdBy: 'alice',
    comment,
    createdAt: new Date(NOW - 1000).toISOString(),
  };
}

function input(groups: GroupState[], extra: Partial<BoardInput> = {}): BoardInput {
  return { groups, silences: [], acks: new Map(), rules: [], sources: [], remediation: new Map(), storms: [], now: NOW, ...extra };
}

const q = (filters: string[] = [], extra = {}) => ({ filters: filters.map(parseMatcher), page: 1, limit: 100, expandStorms: false, ...extra });

describe('the board', () => {
  const groups = [
    group('pay', [finding('pay', 'a', { severity: 'critical' }), finding('pay', 'b')], true),
    group('shop', [finding('shop', 'c', { cluster: 'dev', severity: 'low' })], false),
  ];

  it('says where each finding stands: firing once told, pending before, silenced, acknowledged, remediating, resolved awaiting verify', () => {
    const s = [silence('s1', 'name="b"'), silence('ack1', 'owner="shop"', 'Acknowledged: alice on the web page')];
    const remediation = new Map([['pay-a', { outcome: 'performed', at: NOW }]]);
    const acks = new Map([['ack1', { until: NOW + 3_600_000, by: 'alice' }]]);
    const v = buildBoard(input(groups, { silences: compileSilences(s), acks, remediation }), q());
    expect(Object.fromEntries(v.rows.map((r) => [r.resource.name, r.status]))).toEqual({ a: 'remediating', b: 'silenced', c: 'acknowledged' });
    expect(v.rows.find((r) => r.resource.name === 'b')?.because).toBe('s1');
    expect(v.rows.find((r) => r.resource.name === 'c')?.because).toBe(
      `until ${new Date(NOW + 3_600_000).toISOString().slice(0, 16).replace('T', ' ')}Z, by alice`,
    );
    const plain = buildBoard(input(groups), q());
    expect(Object.fromEntries(plain.rows.map((r) => [r.resource.name, r.status]))).toEqual({ a: 'firing', b: 'firing', c: 'pending' });
    const resolved = buildBoard(input([group('pay', [finding('pay', 'a', { status: 'resolved' })], true)], { remediation }), q());
    expect(resolved.rows[0]?.status).toBe('resolved-awaiting-verify');
  });

  it('filters by matchers on any label, the board-only status and receiver too, and counts per value of what is left', () => {
    expect(buildBoard(input(groups), q(['severity=~"critical|low"'])).rows.map((r) => r.resource.name)).toEqual(['c', 'a']);
    expect(buildBoard(input(groups), q(['status="pending"'])).rows.map((r) => r.resource.name)).toEqual(['c']);
    expect(buildBoard(input(groups), q(['receiver="chat"'])).matched).toBe(3);
    expect(buildBoard(input(groups), q(['receiver="pager"'])).matched).toBe(0);
    const v = buildBoard(input(groups), q(['cluster="prod"']));
    expect(v.total).toBe(3);
    expect(v.matched).toBe(2);
    expect(v.counts.find((c) => c.label === 'severity')?.values).toEqual([
      { value: 'critical', count: 1 },
      { value: 'high', count: 1 },
    ]);
    expect(v.filters).toEqual(['cluster="prod"']);
  });

  it('marks a non-mesh finding that is tracked but not notified (notify_non_mesh off), and filters on it', () => {
    const mixed = [group('pay', [finding('pay', 'a'), finding('pay', 'dep', { unnotified: 'non-mesh' })], true)];
    const v = buildBoard(input(mixed), q());
    const dep = v.rows.find((r) => r.resource.name === 'dep');
    expect(dep).toMatchObject({ status: 'not-notified', because: 'tracked, not notified: non-mesh', unnotified: 'non-mesh' });
    expect(v.rows.find((r) => r.resource.name === 'a')?.status).toBe('firing');
    expect(buildBoard(input(mixed), q(['status="not-notified"'])).rows.map((r) => r.resource.name)).toEqual(['dep']);
    expect(v.counts.find((c) => c.label === 'status')?.values).toContainEqual({ value: 'not-notified', count: 1 });
    const body = boardBody(v, NOW, false).value;
    expect(body).toContain('not notified');
    expect(body).toContain('tracked, not notified: non-mesh');
    // Silenced as well, it is still marked as one the policy keeps out of notifications.
    const silenced = buildBoard(input(mixed, { silences: compileSilences([silence('s9', 'name="dep"')]) }), q(['name="dep"']));
    expect(silenced.rows[0]?.status).toBe('silenced');
    expect(boardBody(silenced, NOW, false).value).toContain('tracked, not notified: non-mesh');
  });

  it('says when the read stopped at MESHDRIFT_UI_MAX_GROUPS', () => {
    const v = buildBoard(input(groups, { truncatedAt: 2 }), q());
    expect(v.truncated).toBe(2);
    expect(boardBody(v, NOW, false).value).toContain('Only the 2 most recently started alert groups are read (MESHDRIFT_UI_MAX_GROUPS)');
    expect(buildBoard(input(groups), q()).truncated).toBeUndefined();
  });

  it('pages on the server: at most `limit` rows, the page clamped to the last', () => {
    const many = [
      group(
        'big',
        Array.from({ length: 250 }, (_, i) => finding('big', `r${String(i).padStart(3, '0')}`)),
        true,
      ),
    ];
    const p3 = buildBoard(input(many), q([], { page: 9, limit: 100 }));
    expect(p3.pages).toBe(3);
    expect(p3.page).toBe(3);
    expect(p3.rows.map((r) => r.resource.name)).toEqual(Array.from({ length: 50 }, (_, i) => `r${200 + i}`));
  });

  it('folds a storm into one line (opened on its members with storm=<id>, or expanded)', () => {
    const storms = [{ id: 'st1', receiver: 'chat', headline: '3 resources in 2 apps drifted', members: new Set(['g-pay', 'g-shop']) }];
    const folded = buildBoard(input(groups, { storms }), q());
    expect(folded.rows).toEqual([]);
    expect(folded.storms).toMatchObject([{ id: 'st1', groups: 2, findings: 3 }]);
    expect(folded.matched).toBe(3);
    // The filter bar counts the folded findings too.
    expect(folded.counts.find((c) => c.label === 'status')?.values).toEqual([
      { value: 'firing', count: 2 },
      { value: 'pending', count: 1 },
    ]);
    expect(buildBoard(input(groups, { storms }), q([], { storm: 'st1' })).rows).toHaveLength(3);
    expect(buildBoard(input(groups, { storms }), q([], { expandStorms: true })).rows).toHaveLength(3);
    expect(buildBoard(input(groups, { storms }), q([], { storm: 'nope' })).rows).toHaveLength(0);
  });

  it('renders names as text, and "Silence this filter" only for writers, without the board-only labels', () => {
    const evil = [group('evil', [finding('evil', '<script>alert(1)</script>')], true)];
    const v = buildBoard(input(evil), q(['status="firing"', 'owner="evil"']));
    const writer = boardBody(v, NOW, true).value;
    expect(writer).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(writer).not.toContain('<script>');
    expect(writer).toContain('id="silence-filter"');
    expect(boardBody(v, NOW, false).value).not.toContain('id="silence-filter"');
    expect(silenceHref(['status="firing"', 'owner="evil"', 'receiver!="x"'])).toBe(`/ui/silences/new?matcher=${encodeURIComponent('owner="evil"')}`);
  });
});

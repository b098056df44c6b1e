import { describe, expect, it } from 'vitest';
import type { TrackedFinding } from '../../../../src/model/alert-group.ts';
import { parseMatcher } from '../../../../src/route/matcher.ts';
import type { Silence } from '../../../../src/route/silence.ts';
import { activeAck, buildIncident } from '../../../../src/http/ui/incident.ts';
import { incidentBody } from '../../../../src/http/ui/incident-view.ts';
import type { GroupState } from '../../../../src/track/group-state.ts';
import { NOW, uiFinding, uiGroup } from './fixtures.ts';

// Issue #21's incident page: an acknowledged incident says so (until when, by whom) instead of
// offering "Acknowledge" again; a non-mesh finding kept out of notifications is marked; the
// PagerDuty dedup key is labelled as a key (the Events API v2 gives no incident URL).

const HOUR = 3_600_000;
const finding = (name: string, extra: Partial<TrackedFinding> = {}): TrackedFinding => uiFinding('pay', name, extra);
const group = (findings: TrackedFinding[]): GroupState => uiGroup('pay', findings);

function silence(id: string, matchers: string[], comment: string, endsAt = NOW + HOUR, startsAt = NOW - 1000): Silence {
  return {
    id,
    matchers: matchers.map(parseMatcher),
    startsAt: new Date(startsAt).toISOString(),
    endsAt: new Date(endsAt).toISOString(),
    createdBy: 'alice',
    comment,
    createdAt: new Date(startsAt).toISOString(),
  };
}

const ACK_MATCHERS = ['cluster="prod"', 'owner_kind="Application"', 'owner_namespace="argocd"', 'owner="pay"'];
const page = { canWrite: true, canSync: true, csrf: 't' };

describe('the incident page', () => {
  it('an active acknowledgement covering the group replaces the Acknowledge button with its state', () => {
    const g = group([finding('a'), finding('b')]);
    const ack = silence('ack1', ACK_MATCHERS, 'Acknowledged: alice on the web page');
    const incident = buildIncident('g-pay', { group: g, history: [], audit: [], silences: [ack], now: NOW });
    expect(incident?.ack).toEqual({ silenceId: 'ack1', until: NOW + HOUR, by: 'alice' });
    const body = incidentBody(incident!, {}, page).value;
    expect(body).not.toContain('id="ack"');
    expect(body).toContain('acknowledged (until <time datetime="2026-12-05T13:00:00.000Z">2026-12-05 13:00:00Z</time>, by alice)');

    const open = buildIncident('g-pay', { group: g, history: [], audit: [], silences: [], now: NOW });
    expect(open?.ack).toBeUndefined();
    expect(incidentBody(open!, {}, page).value).toContain('id="ack"');
  });

  it('counts as acknowledged only when an active ack silence covers every firing finding', () => {
    const g = group([finding('a'), finding('b')]);
    const ack = (id: string, m: string[], ends = NOW + HOUR, starts = NOW - 1000) => silence(id, m, 'Acknowledged: bob', ends, starts);
    // Not an ack (a plain silence), ended, not started yet, or covering one finding only: none.
    expect(activeAck(g, [silence('s', ACK_MATCHERS, 'maintenance')], NOW)).toBeUndefined();
    expect(activeAck(g, [ack('old', ACK_MATCHERS, NOW - 1)], NOW)).toBeUndefined();
    expect(activeAck(g, [ack('later', ACK_MATCHERS, NOW + 2 * HOUR, NOW + HOUR)], NOW)).toBeUndefined();
    expect(activeAck(g, [ack('one', ['name="a"'])], NOW)).toBeUndefined();
    // Of two, the one that ends last; resolved findings need no acknowledging.
    expect(activeAck(g, [ack('short', ACK_MATCHERS), ack('long', ACK_MATCHERS, NOW + 2 * HOUR)], NOW)?.silenceId).toBe('long');
    const half = group([finding('a'), finding('b', { status: 'resolved' })]);
    expect(activeAck(half, [ack('one', ['name="a"'])], NOW)?.silenceId).toBe('one');
    expect(activeAck(group([finding('a', { status: 'resolved' })]), [ack('x', ACK_MATCHERS)], NOW)).toBeUndefined();
  });

  it('marks a non-mesh finding tracked but not notified', () => {
    const g = group([finding('a'), finding('dep', { unnotified: 'non-mesh' })]);
    const incident = buildIncident('g-pay', { group: g, history: [], audit: [], silences: [], now: NOW });
    expect(incident?.findings.find((f) => f.name === 'dep')?.unnotified).toBe('non-mesh');
    expect(incident?.findings.find((f) => f.name === 'a')?.unnotified).toBeUndefined();
    const body = incidentBody(incident!, {}, page).value;
    expect(body.match(/tracked, not notified: non-mesh/g)).toHaveLength(1);
  });

  it("offers the group's own silence: its group_by labels when the route groups by labels, as the message's link and button do", () => {
    const byOwner = buildIncident('g-pay', { group: group([finding('a')]), history: [], audit: [], silences: [], now: NOW });
    expect(byOwner?.matchers).toEqual(ACK_MATCHERS);
    const g = group([finding('a')]);
    const byNamespace = { ...g, labels: { ...g.labels, groupBy: { namespace: 'payments', cluster: 'prod' } } };
    const incident = buildIncident('g-pay', { group: byNamespace, history: [], audit: [], silences: [], now: NOW });
    expect(incident?.matchers).toEqual(['cluster="prod"', 'namespace="payments"']);
  });

  it('shows the PagerDuty dedup key labelled as a key to search for, not as a link', () => {
    const incident = buildIncident('g-pay', { group: group([finding('a')]), history: [], audit: [], silences: [], now: NOW });
    const body = incidentBody(incident!, { pagerduty: 'meshdrift-abc' }, page).value;
    expect(body).toContain('PagerDuty dedup key <code>meshdrift-abc</code>');
    expect(body).toContain('search for the key in PagerDuty');
    expect(body).not.toMatch(/href="[^"]*pagerduty/);
  });
});

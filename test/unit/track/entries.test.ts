import { describe, expect, it } from 'vitest';
import { AUDIT_ENTRY_REFS, AUDIT_REASON_CHARS, auditEntrySchema, boundedAuditEntry } from '../../../src/remediate/audit.ts';
import { HISTORY_ENTRY_FINDINGS, historyEntry } from '../../../src/track/history.ts';
import { makeNotification, makeTrackedFinding } from '../../support/notifications.ts';

/** Issue #12: a history or audit entry has a bounded size, whatever the group it is about. */
describe('history entries', () => {
  it('carry the summary and at most HISTORY_ENTRY_FINDINGS findings by reference, never the findings themselves', () => {
    const firing = Array.from({ length: 500 }, (_, i) => makeTrackedFinding(`vs-${i}`, { detail: 'd'.repeat(2000) }));
    const resolved = [makeTrackedFinding('old', { status: 'resolved' })];
    const n = makeNotification({ firing, resolved });
    const entry = historyEntry(n);
    expect(entry).toMatchObject({
      groupKey: n.groupKey,
      seq: n.seq,
      reason: n.reason,
      status: n.status,
      firing: 500,
      resolved: 1,
      omitted: 501 - HISTORY_ENTRY_FINDINGS,
    });
    expect(entry.findings).toHaveLength(HISTORY_ENTRY_FINDINGS);
    expect(entry.findings[0]).toEqual({
      fingerprint: firing[0]?.fingerprint,
      status: 'firing',
      severity: firing[0]?.severity,
      state: firing[0]?.state,
      resource: firing[0]?.resource,
    });
    expect(JSON.stringify(entry).length).toBeLessThan(8 * 1024);
    expect(JSON.stringify(entry)).not.toContain('ddddd');
  });
});

describe('audit entries', () => {
  it('keep at most AUDIT_ENTRY_REFS resources and fingerprints, count the rest, and clip the reason', () => {
    const resources = Array.from({ length: 300 }, (_, i) => ({ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'ns', name: `vs-${i}` }));
    const e = auditEntrySchema.parse({
      at: 1,
      actor: 'meshdrift',
      action: 'sync',
      cluster: 'prod',
      outcome: 'performed',
      reason: 'r'.repeat(10_000),
      resources,
      fingerprints: resources.map((r) => r.name),
    });
    const bounded = boundedAuditEntry(e);
    expect(bounded.resources).toEqual(resources.slice(0, AUDIT_ENTRY_REFS));
    expect(bounded.fingerprints).toHaveLength(AUDIT_ENTRY_REFS);
    expect(bounded.omitted).toBe(2 * (300 - AUDIT_ENTRY_REFS));
    expect(bounded.reason).toHaveLength(AUDIT_REASON_CHARS);
    expect(bounded.reason.endsWith('…')).toBe(true);
    expect(JSON.stringify(bounded).length).toBeLessThan(8 * 1024);
    // A small entry is unchanged.
    const small = auditEntrySchema.parse({
      at: 1,
      actor: 'meshdrift',
      action: 'sync',
      cluster: 'prod',
      outcome: 'performed',
      reason: 'ok',
      resources: resources.slice(0, 2),
    });
    expect(boundedAuditEntry(small)).toEqual(small);
  });
});
